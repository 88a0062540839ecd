"""Compiled (DPP, Parameters) versus rebuilt-per-solve active problems: solves per second.

Measures, in one run, for n = 500, 1000 and 2000 stocks with 5 factors, both problems of
``portflow.quant.optimization.active_portfolio`` (risk aversion ``gamma`` and tracking-error budget
``tev``) solved with Clarabel:

- ``compiled``: one :class:`ActivePortfolioProblem` per size, only Parameter values set
  per solve (the path the stages use); its first solve, which compiles, is timed apart;
- ``compiled+reuse``: the same, also re-using Clarabel's solver object between solves
  (cvxpy ``warm_start=True``; portflow leaves it off so that a solve never depends on the
  solves before it);
- ``rebuilt``: :func:`solve_rebuilt`, the same problem built from constants every solve.

Each solve uses one of a few random "dates" (factor-model data) and one sweep value, so the
compiled problem really is re-parameterized. Reported: steady-state solves per second,
the mean and median wall time per solve, the share of that time spent inside Clarabel
(``solver_stats.solve_time`` / wall time; not for ``compiled+reuse``, where Clarabel's
timer exceeds the wall time after a data update), and the largest weight difference between the
compiled and rebuilt solutions (they must agree).

Run: ``.venv/bin/python benchmarks/optimization_compiled_vs_rebuilt.py`` (about 2-3 minutes
on 2 cores). ``--sizes 100 200 --solves 4`` gives a quick check.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

import portflow.quant.optimization.active_portfolio as ao

N_FACTORS = 5
GAMMAS = (2.0, 5.0, 10.0, 25.0)
TEV_BUDGETS = (0.02, 0.04, 0.06, 0.08)


def random_inputs(rng: np.random.Generator, n: int, k: int) -> ao.ProblemInputs:
    """A plausible monthly factor model: betas around 1, 5-10% monthly specific vol."""
    loadings = np.column_stack([rng.normal(1.0, 0.3, n), rng.normal(0.0, 0.5, (n, k - 1))])
    root = rng.normal(0.0, 0.02, (k, k))
    covariance = root @ root.T + np.diag(np.full(k, 0.03**2))
    alpha = rng.normal(0.0, 0.003, n)
    premia = rng.normal(0.004, 0.002, k)
    caps = rng.lognormal(0.0, 1.0, n)
    return ao.ProblemInputs(
        expected=alpha + loadings @ premia,
        loadings=loadings,
        specific_variance=rng.uniform(0.05, 0.10, n) ** 2,
        factor_covariance=covariance,
        benchmark=caps / caps.sum(),
        upper=np.ones(n),
    )


def _cases(dates: list[ao.ProblemInputs], values, solves: int):
    return [(dates[i % len(dates)], values[i % len(values)]) for i in range(solves)]


def measure(kind: str, n: int, solves: int, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    dates = [random_inputs(rng, n, N_FACTORS) for _ in range(3)]
    values = GAMMAS if kind == "gamma" else TEV_BUDGETS
    cases = _cases(dates, values, solves)
    rows = []

    compiled_weights = []
    for label, reuse in (("compiled", False), ("compiled+reuse", True)):
        ao.REUSE_SOLVER = reuse
        try:
            problem = ao.ActivePortfolioProblem(kind, n, N_FACTORS)
            started = time.perf_counter()
            problem.set_date(dates[0])
            problem.solve(values[0])
            first = time.perf_counter() - started
            times, inside, weights = [], 0.0, []
            for inputs, value in cases:
                started = time.perf_counter()
                problem.set_date(inputs)
                solution = problem.solve(value)
                times.append(time.perf_counter() - started)
                inside += solution.solver_seconds
                assert solution.solved, solution.status
                weights.append(solution.weights)
        finally:
            ao.REUSE_SOLVER = False
        if not reuse:
            compiled_weights = weights
        # With a re-used solver object Clarabel's solve_time exceeds the wall time of the
        # whole cvxpy call (measured), so its share is not reported for that path.
        rows.append(_row(kind, n, label, times, np.nan if reuse else inside, first))

    times, inside, gap = [], 0.0, 0.0
    for (inputs, value), reference in zip(cases, compiled_weights, strict=True):
        started = time.perf_counter()
        solution = ao.solve_rebuilt(kind, inputs, value)
        times.append(time.perf_counter() - started)
        inside += solution.solver_seconds
        assert solution.solved, solution.status
        gap = max(gap, float(np.abs(solution.weights - reference).max()))
    rows.append(_row(kind, n, "rebuilt", times, inside, np.nan) | {"max_weight_gap": gap})
    return rows


def _row(kind, n, label, times, inside, first) -> dict:
    wall = float(np.sum(times))
    return {
        "problem": kind,
        "n": n,
        "path": label,
        "solves": len(times),
        "solves_per_second": len(times) / wall,
        "ms_per_solve": 1e3 * wall / len(times),
        "median_ms": 1e3 * float(np.median(times)),
        "clarabel_share": inside / wall,
        "first_solve_s": first,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[500, 1000, 2000])
    parser.add_argument("--solves", type=int, default=24, help="timed solves per path")
    parser.add_argument("--json", help="also write the rows to this file")
    args = parser.parse_args()
    started = time.perf_counter()
    measure("gamma", 200, 2)  # warm-up: the first large compile of a process is slower
    rows = []
    for n in args.sizes:
        for kind in ("gamma", "tev"):
            rows += measure(kind, n, args.solves)
    header = (
        f"{'problem':7} {'n':>5} {'path':15} {'solves/s':>9} {'ms/solve':>9} {'median':>7} "
        f"{'in Clarabel':>11} {'1st solve s':>11} {'max |dw|':>9}"
    )
    print(header)
    for r in rows:
        gap = f"{r['max_weight_gap']:.1e}" if "max_weight_gap" in r else ""
        share = "n/a" if np.isnan(r["clarabel_share"]) else f"{r['clarabel_share']:.0%}"
        print(
            f"{r['problem']:7} {r['n']:>5} {r['path']:15} {r['solves_per_second']:>9.1f} "
            f"{r['ms_per_solve']:>9.1f} {r['median_ms']:>7.1f} {share:>11} "
            f"{r['first_solve_s']:>11.2f} {gap:>9}"
        )
    print(f"total {time.perf_counter() - started:.0f} s")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(rows, handle, indent=1, default=float)


if __name__ == "__main__":
    main()
