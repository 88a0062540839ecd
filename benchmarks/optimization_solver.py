"""The optimizer against Clarabel's own time: per solve, and a research-scale sweep.

Everything is measured in this one run, beside its baseline, because the machine is shared:
a core-calibration line (2 processes of pure Python against 1: 2.0x means two free cores)
opens and closes each part.

Part 1, per solve (n = 20, 500, 1000, 2000 stocks, 5 factors; gamma and TEV problems; 6
sweep values at each of 3 random dates, 60 at n = 20, after a warm-up date), the paths
taking turns date by date so that load hits them alike:

- ``cvxpy``: :class:`portflow.quant.optimization.active_portfolio.ActivePortfolioProblem`
  (compiled once, DPP; the test oracle);
- ``direct``: :class:`portflow.quant.optimization.direct_problem.DirectActiveProblem`
  (what the sweep uses: reduced problem, one solver updated per date and value, exact
  optimum on the active set);
- ``floor``: the wall time of Clarabel's ``solve()`` calls inside ``direct`` alone, on one
  thread: Clarabel's own time on the problem.

Times per solve include the date's ``set_date`` spread over its values. Printed: ms per
solve, each path's ratio to the floor, and the largest weight difference direct - cvxpy.

Part 2, the research-scale sweep: 241 monthly dates x 19 TEV budgets (1% to 10%), n =
1000 stocks, 5 factors, as stage artifacts in a temporary store, solved by the pipeline's
own sweep subflow (``flows.optimization.optimization_sweep_flow``: chunk tasks, progress
artifact, store) on each runner, beside, in the same run:

- the one-thread floor: Clarabel's ``solve()`` wall time summed over every solve of the
  sweep, one thread (and the direct path's own loop around it);
- cvxpy on one thread, on the first dates (extrapolated).

The dates run in blocks (``--blocks``, 4): every path solves each block in turn, the order
rotated, and the times add up over the blocks, so that the shared machine's changing load
hits the paths alike (a calibration line opens each block). A pipeline path pays its
one-time costs once (the process pool's start, in its first block). ``--dates N`` solves
the first N dates and extrapolates to 241 (said so in the output; fixed costs are
extrapolated too); ``--full`` runs all 241. The Prefect server's start (a temporary one
unless ``PREFECT_API_URL`` is set) is paid by a warm-up sweep before the timed ones.

Run (from the repository root)::

    .venv/bin/python benchmarks/optimization_solver.py            # both parts, sweep on 48 dates
    .venv/bin/python benchmarks/optimization_solver.py --full     # the full 241-date sweep
    .venv/bin/python benchmarks/optimization_solver.py --part sweep --runners processes:2
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

N_FACTORS = 5
GAMMAS = (1.0, 2.0, 5.0, 10.0, 25.0, 100.0)
TEV_SAMPLE = (0.01, 0.02, 0.04, 0.06, 0.08, 0.10)
RESEARCH_DATES = 241
RESEARCH_BUDGETS = tuple(float(v) for v in np.round(np.linspace(0.01, 0.10, 19), 4))


# ------------------------------------------------------------------------- calibration
def _burn(units: int) -> float:
    started = time.perf_counter()
    total = 0
    for i in range(units * 5_000_000):
        total += i
    return time.perf_counter() - started


def core_calibration() -> str:
    """How many cores the shared machine gives now: 2 processes x 1 unit of pure Python
    against 1 process x 2 units, best of 3 each (2.0x = two free cores, 1.0x = one)."""
    context = multiprocessing.get_context("spawn")
    one, two = [], []
    with ProcessPoolExecutor(2, mp_context=context) as pool:
        list(pool.map(_burn, [0, 0]))
        for _ in range(3):
            started = time.perf_counter()
            pool.submit(_burn, 2).result()
            one.append(time.perf_counter() - started)
            started = time.perf_counter()
            list(pool.map(_burn, [1, 1]))
            two.append(time.perf_counter() - started)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"core calibration: 2 processes of pure Python ran {min(one) / min(two):.2f}x as fast "
        f"as 1 (load average {load})"
    )


# ------------------------------------------------------------------------- inputs
def random_inputs(rng: np.random.Generator, n: int, k: int = N_FACTORS):
    """A plausible monthly factor model: betas around 1, 5-10% monthly specific vol,
    log-normal caps (one date's ``ProblemInputs``)."""
    from portflow.quant.optimization.active_problem import ProblemInputs

    loadings = np.column_stack([rng.normal(1.0, 0.3, n), rng.normal(0.0, 0.5, (n, k - 1))])
    root = rng.normal(0.0, 0.02, (k, k))
    caps = rng.lognormal(0.0, 1.0, n)
    return ProblemInputs(
        expected=rng.normal(0.0, 0.003, n) + loadings @ rng.normal(0.004, 0.002, k),
        loadings=loadings,
        specific_variance=rng.uniform(0.05, 0.10, n) ** 2,
        factor_covariance=root @ root.T + np.diag(np.full(k, 0.03**2)),
        benchmark=caps / caps.sum(),
        upper=np.ones(n),
    )


# ------------------------------------------------------------------------- part 1
def per_solve(kind: str, n: int, n_dates: int, seed: int = 0) -> dict:
    from portflow.quant.optimization.active_portfolio import ActivePortfolioProblem
    from portflow.quant.optimization.direct_problem import DirectActiveProblem

    rng = np.random.default_rng(seed)
    dates = [random_inputs(rng, n) for _ in range(n_dates + 1)]
    values = GAMMAS if kind == "gamma" else TEV_SAMPLE
    paths = {
        "cvxpy": ActivePortfolioProblem(kind, n, N_FACTORS),
        "direct": DirectActiveProblem(kind),
    }
    for path in paths.values():  # warm-up: cvxpy's compile, the direct path's first build
        path.set_date(dates[0])
        path.solve(values[0])
    wall = dict.fromkeys(paths, 0.0)
    floor, gap, exact, solves = 0.0, 0.0, 0, 0
    for i, inputs in enumerate(dates[1:]):
        got = {}
        # Date by date, each path solves the date's values; the order alternates.
        for name in list(paths)[:: 1 if i % 2 else -1]:
            path = paths[name]
            started = time.perf_counter()
            path.set_date(inputs)
            got[name] = [path.solve(value) for value in values]
            wall[name] += time.perf_counter() - started
        for value, oracle, direct in zip(values, got["cvxpy"], got["direct"], strict=True):
            floor += direct.solver_seconds
            exact += direct.exact
            solves += 1
            assert oracle.status == direct.status, (kind, n, value)
            if direct.solved:
                gap = max(gap, float(np.abs(oracle.weights - direct.weights).max()))
    return {
        "problem": kind,
        "n": n,
        "cvxpy_ms": 1e3 * wall["cvxpy"] / solves,
        "direct_ms": 1e3 * wall["direct"] / solves,
        "floor_ms": 1e3 * floor / solves,
        "max_dw": gap,
        "exact": f"{exact}/{solves}",
    }


def part_per_solve(sizes: list[int]) -> None:
    print(
        "\nPart 1: milliseconds per solve; floor = Clarabel's solve() in the direct path\n"
        f"  {core_calibration()}"
    )
    per_solve("gamma", 200, 1)  # warm-up: a process's first large compile is slower
    header = (
        f"  {'problem':7} {'n':>5} {'cvxpy':>8} {'direct':>8} {'floor':>8} "
        f"{'cvxpy/floor':>11} {'direct/floor':>12} {'cvxpy/direct':>12} {'max|dw|':>8} exact"
    )
    print(header)
    for n in sizes:
        for kind in ("gamma", "tev"):
            r = per_solve(kind, n, n_dates=max(3, 1200 // n))
            print(
                f"  {r['problem']:7} {n:>5} {r['cvxpy_ms']:8.2f} {r['direct_ms']:8.2f} "
                f"{r['floor_ms']:8.2f} {r['cvxpy_ms'] / r['floor_ms']:10.2f}x "
                f"{r['direct_ms'] / r['floor_ms']:11.2f}x {r['cvxpy_ms'] / r['direct_ms']:11.2f}x "
                f"{r['max_dw']:8.1e} {r['exact']}",
                flush=True,
            )
    print(f"  {core_calibration()}")
    print(
        "  max|dw|: direct - cvxpy weights (cvxpy's TEV at its default tolerances is itself up to"
        " ~2e-5 from the exact optimum); exact: solves returned as the verified exact optimum"
    )


# ------------------------------------------------------------------------- part 2
def research_frames(n_dates: int, n: int, seed: int = 11) -> dict[str, pd.DataFrame]:
    """Stage artifacts of ``n_dates`` month-ends: loadings, moments, benchmark, industries."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range("1998-12-31", periods=n_dates, freq="ME", name="date")
    tickers = [f"S{i:04d}" for i in range(n)]
    factors = [f"F{j}" for j in range(1, N_FACTORS + 1)]
    loadings, moments, bench = [], [], []
    for t in dates:
        inputs = random_inputs(rng, n)
        mean = rng.normal(0.004, 0.002, N_FACTORS)
        frame = pd.DataFrame({"date": t, "ticker": tickers})
        frame["loading|const"] = inputs.expected - inputs.loadings @ mean
        for j, f in enumerate(factors):
            frame[f"loading|{f}"] = inputs.loadings[:, j]
        frame["resid_var"] = inputs.specific_variance
        frame["tradable"] = True
        loadings.append(frame)
        cov = inputs.factor_covariance
        moments.append(
            {"date": t, **{f"mean|{f}": mean[j] for j, f in enumerate(factors)}}
            | {
                f"cov|{a}|{b}": cov[i, j]
                for i, a in enumerate(factors)
                for j, b in enumerate(factors)
            }
            | {"status": "ok"}
        )
        bench.append(pd.DataFrame({"date": t, "ticker": tickers, "weight": inputs.benchmark}))
    industries = pd.DataFrame(
        {
            "date": pd.Series([], dtype="datetime64[ns]"),
            "ticker": pd.Series([], dtype=str),
            "industry": pd.Series([], dtype="category"),
        }
    )
    return {
        "stock_loadings": pd.concat(loadings, ignore_index=True),
        "factor_moments": pd.DataFrame(moments).set_index("date"),
        "benchmark_weights": pd.concat(bench, ignore_index=True),
        "stock_industries": industries,
    }


def sweep_settings(runner: dict):
    from portflow.config import load_config, with_overrides

    return with_overrides(
        load_config("default"),
        settings={
            "optimization.sweep.gammas": [],
            "optimization.sweep.tev_budgets": list(RESEARCH_BUDGETS),
            "optimization.sweep.sector_rotation": False,
            "optimization.sweep.max_weight": None,
            "optimization.runner": runner,
        },
    )


def write_store(root: Path, frames: dict[str, pd.DataFrame]) -> dict:
    """The frames as artifacts of a new store; their StageResults by stage name."""
    from storage import ArtifactStore
    from tasks.stage import persist

    store = ArtifactStore(str(root))
    return {
        name: persist(store, name, frame, started=time.perf_counter())
        for name, frame in frames.items()
    }


def one_thread_floor(frames: dict[str, pd.DataFrame], dates: int) -> dict:
    """The sweep's problems solved by one DirectActiveProblem on this thread: the floor
    (Clarabel's solve() alone) and the direct loop around it; weights (dates, budgets, n)."""
    from portflow.quant.optimization.direct_problem import DirectActiveProblem
    from portflow.quant.optimization.factor_moments import factors_of, unpack_moments
    from portflow.quant.optimization.sweep import date_inputs

    moments = frames["factor_moments"]
    factors = factors_of(moments)
    loadings = {t: rows.set_index("ticker") for t, rows in frames["stock_loadings"].groupby("date")}
    bench = {
        t: rows.set_index("ticker")["weight"]
        for t, rows in frames["benchmark_weights"].groupby("date")
    }
    inputs = []
    for t in moments.index[:dates]:
        mean, cov = unpack_moments(moments.loc[t], factors)
        inputs.append(
            date_inputs(
                loadings[t], bench[t], mean, cov, factors, alpha_weight=1.0, max_weight=None
            )[0]
        )
    problem = DirectActiveProblem("tev")
    floor, weights = 0.0, []
    started = time.perf_counter()
    for data in inputs:
        problem.set_date(data)
        for value in RESEARCH_BUDGETS:
            solution = problem.solve(value)
            floor += solution.solver_seconds
            weights.append(solution.weights)
    return {
        "floor": floor,
        "direct": time.perf_counter() - started,
        "weights": np.array(weights),
        "inputs": inputs,
    }


def cvxpy_sweep(inputs: list) -> tuple[float, np.ndarray]:
    from portflow.quant.optimization.active_portfolio import ActivePortfolioProblem

    n = len(inputs[0].expected)
    problem = ActivePortfolioProblem("tev", n, N_FACTORS)
    problem.set_date(inputs[0])
    problem.solve(RESEARCH_BUDGETS[0])  # compile outside the timing (paid once per chunk)
    weights = []
    started = time.perf_counter()
    for data in inputs:
        problem.set_date(data)
        weights += [problem.solve(value).weights for value in RESEARCH_BUDGETS]
    return time.perf_counter() - started, np.array(weights)


def pipeline_sweep(root: Path, refs: dict, runner: dict) -> tuple[float, pd.DataFrame]:
    """The sweep subflow on ``runner``; seconds and the ``optimized_weights`` frame."""
    from flows.optimization import build_task_runner, optimization_sweep_flow
    from storage import ArtifactStore

    settings = sweep_settings(runner)
    inputs = {
        name: refs[name] for name in ("stock_loadings", "benchmark_weights", "stock_industries")
    }
    flow = optimization_sweep_flow.with_options(
        task_runner=build_task_runner(settings.optimization.runner)
    )
    started = time.perf_counter()
    result = flow(str(root), settings, inputs, {"sample": refs["factor_moments"]})
    seconds = time.perf_counter() - started
    return seconds, ArtifactStore(str(root)).load(result["sample"].ref)


def block_frames(frames: dict[str, pd.DataFrame], dates: pd.Index) -> dict[str, pd.DataFrame]:
    """The stage artifacts restricted to ``dates``."""
    out = {}
    for name, frame in frames.items():
        if name == "factor_moments":
            out[name] = frame.loc[dates]
        else:
            out[name] = frame[frame["date"].isin(dates)].reset_index(drop=True)
    return out


def part_sweep(
    n_dates: int, n: int, runners: list[str], cvxpy_dates: int, chunks: int, blocks: int
) -> None:
    scale = RESEARCH_DATES / n_dates
    solves = n_dates * len(RESEARCH_BUDGETS)
    note = (
        ""
        if n_dates == RESEARCH_DATES
        else f"; x{scale:.2f} extrapolates to {RESEARCH_DATES} dates (fixed costs included)"
    )
    print(
        f"\nPart 2: TEV sweep, {n_dates} dates x {len(RESEARCH_BUDGETS)} budgets, n = {n}, "
        f"{N_FACTORS} factors{note}\n  The dates run in {blocks} blocks; every path solves "
        f"each block in turn (order rotated), {max(1, chunks // blocks)} chunk task(s) per "
        "block, so that the machine's changing load hits the paths alike"
    )
    work = Path(tempfile.mkdtemp(prefix="optimization-solver-"))
    try:
        frames = research_frames(n_dates, n)
        small = work / "warm-up"
        started = time.perf_counter()
        warm = write_store(small, research_frames(2, 50, seed=1))
        pipeline_sweep(small, warm, {"kind": "threads", "chunks": 1})
        print(
            "  Prefect start-up and a first tiny sweep (not in the figures): "
            f"{time.perf_counter() - started:.1f} s"
        )
        paths = ["one-thread", *runners]
        seconds = dict.fromkeys(["floor", *paths], 0.0)
        identical, cv_seconds, gap = True, 0.0, 0.0
        for b, dates in enumerate(np.array_split(frames["factor_moments"].index, blocks)):
            print(f"  block {b + 1}/{blocks}: {core_calibration()}", flush=True)
            block = block_frames(frames, dates)
            base = work / f"inputs-{b}"
            refs = write_store(base, block)
            reference = None
            for path in paths[b % len(paths) :] + paths[: b % len(paths)]:
                if path == "one-thread":
                    floor = one_thread_floor(block, len(dates))
                    seconds["floor"] += floor["floor"]
                    seconds[path] += floor["direct"]
                    weights = floor["weights"]
                    if b == 0:
                        cv = floor["inputs"][: min(cvxpy_dates, len(dates))]
                        cv_seconds, cv_weights = cvxpy_sweep(cv)
                        cv_seconds *= n_dates / len(cv)
                        gap = float(np.abs(cv_weights - weights[: len(cv_weights)]).max())
                else:
                    kind, workers = path.split(":")
                    root = work / f"run-{b}-{kind}-{workers}"
                    shutil.copytree(base, root)
                    runner = {
                        "kind": kind,
                        "max_workers": int(workers),
                        "chunks": max(1, chunks // blocks),
                    }
                    took, table = pipeline_sweep(root, refs, runner)
                    seconds[path] += took
                    weights = table.filter(like="w|").to_numpy()
                reference = weights if reference is None else reference
                identical &= bool(np.array_equal(weights, reference, equal_nan=True))
        print(f"  after the last block: {core_calibration()}")
        labels = {
            "floor": "one-thread floor: Clarabel's solve()",
            "one-thread": "direct path, one thread, no pipeline",
        }
        rows = [(labels.get(p, f"pipeline sweep, {p.replace(':', ', ')} worker(s)"), s)
                for p, s in seconds.items()]  # fmt: skip
        rows.insert(2, (f"cvxpy, one thread (from {min(cvxpy_dates, n_dates)} dates)", cv_seconds))
        print(f"  {'path':42} {'s':>7} {'at 241 dates':>12} {'ms/solve':>9} {'/ floor':>8}")
        for label, took in rows:
            print(
                f"  {label:42} {took:7.1f} {took * scale:12.1f} "
                f"{1e3 * took / solves:9.2f} {took / seconds['floor']:7.2f}x"
            )
        print(
            "  weights identical (bit for bit) across runners and the one-thread loop: "
            f"{identical}; max |direct - cvxpy| on the cvxpy dates: {gap:.1e}"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["all", "per-solve", "sweep"], default="all")
    parser.add_argument("--sizes", type=int, nargs="+", default=[20, 500, 1000, 2000])
    parser.add_argument("--dates", type=int, default=48, help="sweep dates (extrapolated to 241)")
    parser.add_argument("--full", action="store_true", help="the full 241-date sweep")
    parser.add_argument("--n", type=int, default=1000, help="stocks of the sweep")
    parser.add_argument(
        "--runners",
        nargs="+",
        default=["processes:2", "threads:2", "threads:1"],
        help="KIND:WORKERS of each pipeline sweep (optimization.runner kind and max_workers)",
    )
    parser.add_argument("--chunks", type=int, default=8, help="optimization.runner.chunks")
    parser.add_argument("--cvxpy-dates", type=int, default=8)
    parser.add_argument("--blocks", type=int, default=4, help="blocks of dates, paths in turn")
    args = parser.parse_args()
    started = time.perf_counter()
    if args.part in ("all", "per-solve"):
        part_per_solve(args.sizes)
    if args.part in ("all", "sweep"):
        dates = RESEARCH_DATES if args.full else args.dates
        part_sweep(dates, args.n, args.runners, args.cvxpy_dates, args.chunks, args.blocks)
    print(f"\ntotal {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
