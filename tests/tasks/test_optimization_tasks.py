"""The active-optimization tasks end to end through ``.fn`` on the sample; the sweep subflow
on worker processes and on Dask."""

import os
import pickle
import shutil

import numpy as np
import pandas as pd
import pytest
from prefect.task_runners import ThreadPoolTaskRunner
from pydantic import ValidationError

from flows import optimization as sweeps
from portflow.config import PipelineConfig, SampleData
from portflow.config.optimization import (
    ActiveOptimizationConfig,
    OptimizationConfig,
    TaskRunnerConfig,
)
from portflow.errors import DataError
from storage import ArtifactStore
from tasks import optimization as tasks
from tasks.ingest import factor_source, ingest
from tasks.run import PipelineRun
from tasks.shared import SHARED

TICKERS = ("AAPL", "BAC", "CVX", "JNJ", "KO", "MSFT", "WMT", "XOM")
DATA = SampleData(universe="sp500_20", tickers=TICKERS, start="2003-01-01", end="2009-12-31")
CONFIG = OptimizationConfig.model_validate(
    {
        "moments": {"window": 36, "min_observations": 24},
        "regimes": {"min_observations": 48, "n_iter": 10, "tol": 1e-2},
        "sweep": {"gammas": [5.0], "tev_budgets": [0.04]},
        "runner": {"chunks": 2},
    }
)


SETTINGS = PipelineConfig(name="test", data=DATA, optimization=CONFIG)


def upstream(store: str) -> dict:
    """Ingest, the shared stages and the optimization inputs, as the flow wires them."""
    run = PipelineRun(store, SETTINGS, inline=True)
    ingested = ingest.fn(store, DATA)
    universe = run.submit("data", SHARED, ingested.outputs)
    available = universe | {"factor_source": factor_source.fn(store, CONFIG.factors)}
    return run.submit(
        "optimization",
        [*tasks.OPTIMIZATION_INPUTS, *tasks.MOMENTS.values()],
        available,
        benchmark=ingested.benchmark,
    )


def sweep_serially(store: str, up: dict, name: str):
    """``optimization_sweep`` without a flow: the chunk tasks one after the other."""
    run = PipelineRun(store, SETTINGS, inline=True)
    moments = up[tasks.MOMENTS[name].name]
    ranges = tasks.optimization_chunks_task.fn(store, moments, CONFIG.runner.chunks)
    available = up | {"factor_moments": moments}
    chunks = [
        run.submit_stage(tasks.OPTIMIZATION_CHUNK, available, start=lo, end=hi, moments=name)
        for lo, hi in ranges
    ]
    return ranges, run.submit_stage(tasks.OPTIMIZED_WEIGHTS, {"optimization_chunk": chunks})


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory):
    store = str(tmp_path_factory.mktemp("optimization"))
    up = upstream(store)
    out = {"store": store, "up": up}
    run = PipelineRun(store, SETTINGS, inline=True)
    for name in ("sample", "regime"):
        ranges, weights = sweep_serially(store, up, name)
        results = run.submit(name, tasks.OPTIMIZATION_RESULTS, up | {"optimized_weights": weights})
        out[name] = {
            "ranges": ranges,
            "weights": weights,
            "returns": results["optimized_returns"],
            "report": results["optimization_report"],
            "crisis": results["crisis_report"],
        }
    return out


def test_sample_chain_produces_every_stage(sample_run):
    store = ArtifactStore(sample_run["store"])
    up = sample_run["up"]
    factors = store.load(up["factor_data"].ref)
    assert list(factors.columns) == ["Mkt-RF", "SMB", "HML"]
    assert factors.index[0] == pd.Timestamp("2003-02-28")  # January 2003 is incomplete
    loadings = store.load(up["stock_loadings"].ref)
    assert set(loadings["ticker"]) == set(TICKERS)  # the benchmark SP500 is not a stock
    bench = store.load(up["benchmark_weights"].ref)
    assert (bench["scheme"] == "equal_weight").all()  # the sample has no market caps
    for name in ("sample", "regime"):
        run = sample_run[name]
        assert len(run["ranges"]) == 2
        weights = store.load(run["weights"].ref)
        assert (weights["moments"] == name).all() and (weights["status"] == "optimal").all()
        assert set(weights["strategy"]) == {"gamma=5", "tev=0.04", "sector_gamma=5",
                                            "sector_tev=0.04"}  # fmt: skip
        report = store.load(run["report"].ref).set_index("strategy")
        assert report.loc["benchmark", "benchmark_scheme"] == "equal_weight"
        assert report["failures"].sum() == 0
        assert report.loc["tev=0.04", "ex_ante_te"] == pytest.approx(0.04, rel=1e-4)
        crisis = store.load(run["crisis"].ref)
        gfc = crisis[crisis["window"] == "global_financial_crisis"]
        assert (gfc["coverage"] == "covered").all() and (gfc["months"] == 18).all()
        covid = crisis[crisis["window"] == "covid_crash"]
        assert (covid["coverage"] == "not covered").all()
    regime_dates = store.load(up["regime_factor_moments"].ref).index
    assert regime_dates[0] == pd.Timestamp("2007-01-31")  # the 48th month


def test_sample_stocks_get_their_industries_from_their_sic_codes(sample_run):
    store = ArtifactStore(sample_run["store"])
    industries = store.load(sample_run["up"]["stock_industries"].ref)
    assert (industries.groupby("ticker")["sic"].nunique() == 1).all()
    last = industries[industries["date"] == industries["date"].max()].set_index("ticker")
    assert last["industry"].astype(str).to_dict() == {
        "AAPL": "BusEq", "BAC": "Money", "CVX": "Enrgy", "JNJ": "Hlth", "KO": "NoDur",
        "MSFT": "BusEq", "WMT": "Shops", "XOM": "Enrgy",
    }  # fmt: skip
    weights = store.load(sample_run["sample"]["weights"].ref)
    sectors = weights.filter(like="sector|")
    held = [c.removeprefix("sector|") for c in sectors.columns[(sectors > 1e-9).any()]]
    assert held == ["NoDur", "Enrgy", "BusEq", "Shops", "Hlth", "Money"]  # French's order


def test_second_run_reuses_every_artifact(sample_run):
    store = sample_run["store"]
    up = upstream(store)
    assert {r.status for r in up.values()} == {"reused"}
    ranges, weights = sweep_serially(store, up, "sample")
    assert weights.status == "reused" and weights.version == sample_run["sample"]["weights"].version


def sweep_on(runner: TaskRunnerConfig, store: str):
    """Both sweeps through the subflow on ``runner``, from a fresh store's upstream stages."""
    up = upstream(store)
    settings = SETTINGS.model_copy(
        update={"optimization": CONFIG.model_copy(update={"runner": runner})}
    )
    moments = {name: up[stage.name] for name, stage in tasks.MOMENTS.items()}
    inputs = {
        name: up[name] for name in ("stock_loadings", "benchmark_weights", "stock_industries")
    }
    flow = sweeps.optimization_sweep_flow.with_options(task_runner=sweeps.build_task_runner(runner))
    return flow(store, settings, inputs, moments)


def assert_same_as_serial(results, store: str, sample_run) -> None:
    for name, result in results.items():
        serial = sample_run[name]["weights"]
        assert result.version == serial.version and result.status == "computed"
        pd.testing.assert_frame_equal(
            ArtifactStore(store).load(result.ref),
            ArtifactStore(sample_run["store"]).load(serial.ref),
        )


def test_dask_local_cluster_runs_the_chunk_tasks(prefect_harness, sample_run, tmp_path):
    """Both sweeps on a 2-worker LocalCluster give the serial artifacts, byte for byte."""
    runner = TaskRunnerConfig(kind="dask", n_workers=2, processes=False, chunks=2)
    assert_same_as_serial(sweep_on(runner, str(tmp_path)), str(tmp_path), sample_run)


def test_process_pool_runs_the_chunks_and_progress_moves_chunk_by_chunk(
    prefect_harness, sample_run, tmp_path, caplog
):
    """Chunk tasks computing in 2 worker processes give the serial artifacts; the listener
    hears every chunk as it finishes, and each chunk task logs its solves per second."""
    heard = []
    token = sweeps.SWEEP_PROGRESS.set(heard.append)
    try:
        with caplog.at_level("INFO"):
            results = sweep_on(
                TaskRunnerConfig(kind="processes", max_workers=2, chunks=2), str(tmp_path)
            )
    finally:
        sweeps.SWEEP_PROGRESS.reset(token)
    assert_same_as_serial(results, str(tmp_path), sample_run)
    assert [p.chunks_done for p in heard] == [1, 2, 3, 4] and {p.chunks for p in heard} == {4}
    assert [p.percent for p in heard] == [25.0, 50.0, 75.0, 100.0]
    rows = sum(ArtifactStore(str(tmp_path)).manifest(r.ref).rows for r in results.values())
    assert heard[-1].solves_done == rows and heard[-1].seconds > 0
    logged = [r.getMessage() for r in caplog.records if "solves per second" in r.getMessage()]
    assert len(logged) == 4 and all(m.startswith("optimization_chunk ") for m in logged)


def test_a_reused_chunk_never_goes_to_the_process_pool(sample_run):
    class NoPool:
        def submit(self, *args, **kwargs):
            raise AssertionError("a reused chunk was sent to the process pool")

    store, up = sample_run["store"], sample_run["up"]
    (start, end), *_ = sample_run["sample"]["ranges"]
    section = SETTINGS.section(tasks.OPTIMIZATION_CHUNK.config)
    arguments = tasks.OPTIMIZATION_CHUNK.arguments(
        section, {"start": start, "end": end, "moments": "sample"}
    )
    inputs = {name: up[name] for name in tasks.OPTIMIZATION_CHUNK.inputs}
    token = tasks.CHUNK_PROCESSES.set(NoPool())
    try:
        result = tasks.compute_chunk(store, tasks.OPTIMIZATION_CHUNK, inputs, arguments)
    finally:
        tasks.CHUNK_PROCESSES.reset(token)
    assert result.status == "reused"


def test_a_named_error_crosses_the_process_boundary_intact():
    error = DataError("optimization_chunk", "sic", "no stock has a SIC code", "add them")
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is DataError and str(copy) == str(error) and copy.fix == "add them"


def test_task_runner_from_config():
    for kind in ("threads", "processes"):
        runner = sweeps.build_task_runner(TaskRunnerConfig(kind=kind, max_workers=3))
        assert isinstance(runner, ThreadPoolTaskRunner) and runner._max_workers == 3
    bounded = sweeps.build_task_runner(TaskRunnerConfig(kind="threads"))
    assert bounded._max_workers == len(os.sched_getaffinity(0))  # never one thread per chunk
    assert TaskRunnerConfig().kind == "processes"
    remote = sweeps.build_task_runner(TaskRunnerConfig(kind="dask", address="tcp://10.0.0.1:8786"))
    assert type(remote).__name__ == "DaskTaskRunner" and remote.address == "tcp://10.0.0.1:8786"
    local = sweeps.build_task_runner(TaskRunnerConfig(kind="dask", n_workers=3))
    assert local.cluster_kwargs["n_workers"] == 3 and local.address is None


def test_config_slices_validate():
    with pytest.raises(ValidationError, match="min_observations 70 exceeds window 60"):
        OptimizationConfig.model_validate({"moments": {"min_observations": 70}})
    with pytest.raises(ValidationError, match="Input should be 'ff12' or 'ff49'"):
        ActiveOptimizationConfig(industries="ff48")
    with pytest.raises(ValidationError, match="distinct"):
        ActiveOptimizationConfig(gammas=(1.0, 1.0))
    with pytest.raises(ValidationError, match="start .* is after end"):
        OptimizationConfig.model_validate(
            {"report": {"crisis_windows": {"x": ["2009-01-01", "2008-01-01"]}}}
        )
    assert np.isclose(sum(CONFIG.sweep.gammas), 5.0)


def test_a_warm_sweep_is_found_without_running_it(sample_run, tmp_path):
    """``reused_sweep`` gives the versions the sweep gave, from the chunks' versions alone;
    a sweep value that changes, or a weights artifact that is gone, means it must run."""
    up = sample_run["up"]
    inputs = {
        name: up[name] for name in ("stock_loadings", "benchmark_weights", "stock_industries")
    }
    moments = {name: up[tasks.MOMENTS[name].name] for name in ("sample", "regime")}
    copy = str(shutil.copytree(sample_run["store"], tmp_path / "store"))
    run = PipelineRun(copy, SETTINGS, inline=True)
    found = sweeps.reused_sweep(run, inputs, moments)
    assert {name: w.version for name, w in found.items()} == {
        name: sample_run[name]["weights"].version for name in moments
    }
    assert {w.status for w in found.values()} == {"reused"}
    other = SETTINGS.model_copy(
        update={"optimization": CONFIG.model_copy(
            update={"sweep": CONFIG.sweep.model_copy(update={"tev_budgets": (0.05,)})}
        )}
    )  # fmt: skip
    assert sweeps.reused_sweep(PipelineRun(copy, other, inline=True), inputs, moments) is None
    data = ArtifactStore(copy).data_url(sample_run["regime"]["weights"].ref)
    os.remove(data.removeprefix("file://"))
    assert sweeps.reused_sweep(run, inputs, moments) is None
