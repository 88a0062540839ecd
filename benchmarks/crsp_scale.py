"""Research at scale: seconds and peak memory of every stage of the optimization branch on
CRSP-like panels of n = 100, 1,000 and 3,000 stocks over 20 years.

For each size, a panel is generated (:mod:`portflow.sources.crsp_panel`: NYSE sessions
1998-12-01 to 2018-11-30, about 2.7 stocks per slot list over the period) and written as
parquet (and CSV up to ``--csv-up-to``); then ``configs/crsp_synthetic.yaml``, pointed at
it, runs stage by stage as the flow wires them (``tasks.run.PipelineRun``, inline), **each
stage in its own process**, so that its peak resident memory (``ru_maxrss``) is its own:
ingest, the shared stages, factor data, loadings, benchmark weights, industries, both
moment models, the sweep of each model (every chunk in one process, one thread), the
weights, returns, reports and the HTML report. The baseline of the same run is the peak
memory and time of a process that only imports what a stage process imports.

The sweep is instrumented: the seconds inside ``DirectActiveProblem.solve`` (the problem and
Clarabel: the solver core) and inside Clarabel itself, against the sweep's total (the rest
is building each date's inputs and the output table). ``--sweep-dates K`` solves only the
first K rebalance dates of each model and extrapolates the sweep to all dates (said so in
the output), for sizes where a full sweep takes too long to measure repeatedly.

Run (from the repository root)::

    .venv/bin/python benchmarks/crsp_scale.py --sizes 100 1000 3000 --work /tmp/crsp-scale

Each line printed is one JSON measurement; a table closes the run.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "crsp_synthetic.yaml"
START, END = "1998-12-01", "2018-11-30"

STAGES = [
    "ingest",
    "prices",
    "daily_returns",
    "monthly_returns",
    "monthly_variance",
    "risk_free_monthly",
    "risk_free_daily",
    "factor_source",
    "factor_data",
    "stock_loadings",
    "benchmark_weights",
    "stock_industries",
    "holding_returns",
    "factor_moments",
    "regime_factor_moments",
    "sweep[sample]",
    "sweep[regime]",
    "results[sample]",
    "results[regime]",
    "report",
]
"""In DAG order; ``sweep[m]`` is every chunk of model m plus ``optimized_weights``;
``results[m]`` is ``optimized_returns``, ``optimization_report`` and ``crisis_report``."""


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _settings(work: Path, n: int, csv: bool):
    import yaml

    from portflow.config import parse_config

    raw = yaml.safe_load(CONFIG.read_text())
    raw["data"]["path"] = str(work / f"crsp_{n}.{'csv' if csv else 'parquet'}")
    raw["optimization"]["factors"]["path"] = str(work / f"crsp_{n}_factors.csv")
    raw["store"]["root"] = str(work / f"store_{n}{'_csv' if csv else ''}")
    return parse_config(raw, str(CONFIG))


def generate(work: Path, n: int, csv: bool) -> dict:
    """Generate a panel, write it (parquet, and CSV when asked) and its monthly factors."""
    from portflow.sources.crsp_panel import generate_crsp_panel, monthly_factors, nyse_sessions

    sessions = nyse_sessions(START, END)
    clock = time.perf_counter()
    panel, truth = generate_crsp_panel(seed=0, n_stocks=n, sessions=sessions)
    result = {
        "n": n,
        "step": "generate",
        "rows": len(panel),
        "permnos": int(panel["permno"].nunique()),
        "seconds": time.perf_counter() - clock,
    }
    clock = time.perf_counter()
    panel.to_parquet(work / f"crsp_{n}.parquet", index=False)
    result["parquet_write_s"] = time.perf_counter() - clock
    if csv:
        clock = time.perf_counter()
        panel.to_csv(work / f"crsp_{n}.csv", index=False)
        result["csv_write_s"] = time.perf_counter() - clock
    monthly_factors(truth).to_csv(work / f"crsp_{n}_factors.csv", index=False)
    result["peak_mib"] = _peak_mib()
    return result


class SolveClock:
    """Seconds inside ``DirectActiveProblem.solve`` and inside Clarabel, and solves."""

    def __init__(self) -> None:
        from portflow.quant.optimization import direct_problem

        self.solve_s = self.clarabel_s = 0.0
        self.solves = 0
        original = direct_problem.DirectActiveProblem.solve

        def timed(problem, value):
            started = time.perf_counter()
            solution = original(problem, value)
            self.solve_s += time.perf_counter() - started
            if solution.solver_seconds == solution.solver_seconds:  # not NaN
                self.clarabel_s += solution.solver_seconds
            self.solves += 1
            return solution

        direct_problem.DirectActiveProblem.solve = timed


def _result(value) -> dict:
    return {"stage": value.stage, "version": value.version, "rows": value.rows,
            "status": value.status, "seconds": value.seconds}  # fmt: skip


def stage(work: Path, n: int, name: str, csv: bool, sweep_dates: int | None) -> dict:
    """Run one step (upstream artifacts are reused from the store, never recomputed)."""
    import pandas as pd

    from portflow.report.html import build_report
    from storage import ArtifactStore, RunRecord
    from tasks import optimization as opt
    from tasks.ingest import factor_source, ingest
    from tasks.run import PipelineRun
    from tasks.shared import SHARED
    from tasks.stage import StageResult

    settings = _settings(work, n, csv)
    store = settings.store.root
    refs_path = Path(store) / "_bench_refs.json"
    refs = json.loads(refs_path.read_text()) if refs_path.exists() else {}
    available = {k: StageResult(**v) for k, v in refs.items() if not k.startswith("[")}
    run = PipelineRun(store, settings, run_id="bench", inline=True)
    declared = {s.name: s for s in (*SHARED, *opt.OPTIMIZATION_INPUTS, *opt.MOMENTS.values())}
    clock = SolveClock() if name.startswith("sweep") else None
    started = time.perf_counter()
    extra = {}
    if name == "ingest":
        ingested = ingest.fn(store, settings.data)
        produced = ingested.outputs
    elif name == "factor_source":
        produced = {name: factor_source.fn(store, settings.optimization.factors)}
    elif name in declared:
        produced = {name: run.submit_stage(declared[name], available, benchmark=None)}
    elif name.startswith("sweep"):
        model = name[6:-1]
        moments = available[opt.MOMENTS[model].name]
        dates = ArtifactStore(store).load(moments.ref).index
        chosen = dates if sweep_dates is None else dates[:sweep_dates]
        inputs = available | {"factor_moments": moments}
        chunk = run.submit_stage(
            opt.OPTIMIZATION_CHUNK,
            inputs,
            start=chosen[0].date(),
            end=chosen[-1].date(),
            moments=model,
        )
        weights = run.submit_stage(opt.OPTIMIZED_WEIGHTS, {"optimization_chunk": [chunk]})
        produced = {f"optimized_weights[{model}]": weights}
        scale = len(dates) / len(chosen)
        extra = {
            "dates": len(chosen),
            "of_dates": len(dates),
            "solves": clock.solves,
            "solve_s": clock.solve_s,
            "clarabel_s": clock.clarabel_s,
            "chunk_s": chunk.seconds,
            "extrapolated_sweep_s": chunk.seconds * scale,
        }
    elif name.startswith("results"):
        model = name[8:-1]
        inputs = available | {"optimized_weights": available[f"optimized_weights[{model}]"]}
        outputs = run.submit(model, opt.OPTIMIZATION_RESULTS, inputs)
        produced = {f"{s.name}[{model}]": outputs[s.name] for s in opt.OPTIMIZATION_RESULTS}
    elif name == "report":
        rows = []
        for key, value in refs.items():
            scope = "data"
            if "[" in key:
                model = key[key.index("[") + 1 : -1]
                scope = f"optimization[{model}]"
            elif key in {s.name for s in opt.OPTIMIZATION_INPUTS} or "moments" in key:
                scope = "optimization"
            rows.append({"scope": scope, **{k: v for k, v in value.items() if k != "stage"},
                         "stage": value["stage"]})  # fmt: skip
        now = pd.Timestamp.now(tz="UTC").to_pydatetime()
        record = RunRecord(run_id="bench", config_name=settings.name,
                           config=settings.model_dump(mode="json"), started_at=now,
                           finished_at=now, stages=rows)  # fmt: skip
        html = build_report(ArtifactStore(store), record)
        (work / f"report_{n}.html").write_text(html)
        extra = {"html_kib": len(html) / 1024}
        produced = {}
    else:
        raise SystemExit(f"unknown stage {name}")
    seconds = time.perf_counter() - started
    refs |= {key: _result(value) for key, value in produced.items()}
    refs_path.write_text(json.dumps(refs))
    rows = sum(v.rows for v in produced.values())
    return {"n": n, "step": name, "seconds": seconds, "rows": rows, "peak_mib": _peak_mib()} | extra


def baseline() -> dict:
    """What a stage process costs before any stage: its imports."""
    started = time.perf_counter()
    from portflow.report.html import build_report  # noqa: F401
    from tasks import optimization  # noqa: F401
    from tasks.ingest import ingest  # noqa: F401

    return {"step": "imports", "seconds": time.perf_counter() - started, "peak_mib": _peak_mib()}


def _child(*args: str) -> dict:
    done = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True)
    lines = done.stdout.strip().splitlines()
    if done.returncode or not lines:
        raise SystemExit(f"{args} failed:\n{done.stderr[-3000:]}")
    result = json.loads(lines[-1])
    print(json.dumps(result), flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 3000])
    parser.add_argument("--work", type=Path, default=Path("/tmp/portflow-crsp-scale"))
    parser.add_argument("--csv-up-to", type=int, default=1000, help="also ingest CSV up to n")
    parser.add_argument(
        "--sweep-dates", type=int, nargs="*", default=[],
        help="per size (same order): solve only the first K dates and extrapolate; 0 = all",
    )  # fmt: skip
    parser.add_argument(
        "--sweep-up-to", type=int, default=1000,
        help="sizes above this stop before the sweep (today's TEV problem needs about "
        "0.21 GiB x (n_compiled / 1000)^2 to compile)",
    )  # fmt: skip
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    results = [_child("baseline")]
    for i, n in enumerate(args.sizes):
        csv = n <= args.csv_up_to
        results.append(_child("generate", str(args.work), str(n), str(int(csv))))
        dates = args.sweep_dates[i] if i < len(args.sweep_dates) else 0
        for name in STAGES:
            if n > args.sweep_up_to and name == "sweep[sample]":
                break
            results.append(_child("stage", str(args.work), str(n), name, "0", str(dates)))
        if csv:
            results.append(_child("stage", str(args.work), str(n), "ingest", "1", "0"))
    print("\nn      step                     seconds   peak MiB")
    for r in results:
        seconds = r.get("extrapolated_sweep_s", r["seconds"])
        mark = " (extrapolated)" if r.get("dates", 0) < r.get("of_dates", 0) else ""
        print(f"{r.get('n', ''):<6} {r['step']:<24} {seconds:9.1f} {r['peak_mib']:10.0f}{mark}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "baseline":
        print(json.dumps(baseline()))
    elif len(sys.argv) > 1 and sys.argv[1] == "generate":
        print(json.dumps(generate(Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1")))
    elif len(sys.argv) > 1 and sys.argv[1] == "stage":
        work, n, name, csv, dates = sys.argv[2:7]
        step = stage(Path(work), int(n), name, csv == "1", int(dates) or None)
        if csv == "1":
            step["step"] = "ingest (CSV)"
        print(json.dumps(step))
    else:
        main()
