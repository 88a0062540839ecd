"""Allocation tasks through .fn on synthetic data: artifacts, lineage, reuse, the LSTM model."""

import logging

import pandas as pd
import pytest

from portflow.config import PipelineConfig, SyntheticData
from portflow.config.allocation import (
    AllocationConfig,
    CostConfig,
    EqualWeightAllocator,
    LSTMAllocatorConfig,
    MeanVarianceAllocator,
)
from portflow.quant.allocation.allocators import investable_returns
from portflow.quant.allocation.lstm import LSTMAllocator
from storage import ArtifactStore
from tasks.allocation import ALLOCATION, LSTM, LSTM_PROGRESS
from tasks.ingest import ingest
from tasks.run import PipelineRun
from tasks.shared import SHARED

LSTM_SPEC = LSTMAllocatorConfig(
    lookback=10, hidden_size=8, vol_window=10, epochs=10, retrain_every=6, seeds=(0, 1), window=120
)
CONFIG = AllocationConfig(
    allocators=(EqualWeightAllocator(), MeanVarianceAllocator(max_weight=0.5), LSTM_SPEC),
    estimation_window=60,
    rebalance="monthly",
)


DATA = SyntheticData(seed=4, n_assets=4, n_days=400)


def pipeline_run(store_url: str, config: AllocationConfig) -> PipelineRun:
    settings = PipelineConfig(name="test", data=DATA, allocation=config)
    return PipelineRun(store_url, settings, inline=True)


@pytest.fixture(scope="module")
def upstream(tmp_path_factory):
    store_url = str(tmp_path_factory.mktemp("store"))
    ingested = ingest.fn(store_url, DATA)
    outputs = pipeline_run(store_url, CONFIG).submit("data", SHARED, ingested.outputs)
    return store_url, ingested.benchmark, outputs


def run_backtest(store_url, benchmark, universe, config):
    outputs = pipeline_run(store_url, config).submit(
        "allocation", ALLOCATION, universe, benchmark=benchmark
    )
    return [outputs[stage.name] for stage in ALLOCATION]


def run_lstm(store_url, benchmark, universe):
    outputs = pipeline_run(store_url, CONFIG).submit(
        "allocation", LSTM, universe, allocator="lstm", benchmark=benchmark
    )
    return outputs["lstm_model"], outputs["lstm_latest_weights"]


def test_backtest_tasks_save_artifacts_then_reuse_them(upstream):
    store_url, benchmark, universe = upstream
    store = ArtifactStore(store_url)
    first = run_backtest(store_url, benchmark, universe, CONFIG)
    assert [r.status for r in first] == ["computed"] * 5
    assert [r.stage for r in first] == [
        "allocation_targets",
        "allocation_weights",
        "backtest_returns",
        "backtest_metrics",
        "backtest_seed_summary",
    ]
    targets = store.load(first[0].ref)
    assert benchmark == "BENCH" and "BENCH" not in set(targets["ticker"])
    assert set(targets["allocator"]) == {
        "equal_weight",
        "mean_variance",
        "lstm[seed=0]",
        "lstm[seed=1]",
    }
    params = store.manifest(first[0].ref).params
    assert params["benchmark"] == "BENCH" and "costs" not in params
    assert [a["kind"] for a in params["allocators"]] == ["equal_weight", "mean_variance", "lstm"]
    metrics = store.load(first[3].ref)
    assert list(metrics.index) == ["equal_weight", "mean_variance", "lstm[seed=0]", "lstm[seed=1]"]
    summary = store.load(first[4].ref).set_index(["strategy", "metric"])
    assert summary.loc[("lstm", "sharpe"), "n_runs"] == 2
    assert summary.loc[("lstm", "sharpe"), "mean"] == pytest.approx(
        metrics.loc[["lstm[seed=0]", "lstm[seed=1]"], "sharpe"].mean()
    )

    again = run_backtest(store_url, benchmark, universe, CONFIG)
    assert [r.status for r in again] == ["reused"] * 5
    assert [r.version for r in again] == [r.version for r in first]

    dearer = CONFIG.model_copy(update={"costs": CostConfig(proportional_cost=0.01)})
    third = run_backtest(store_url, benchmark, universe, dearer)
    assert [r.status for r in third] == ["reused", "reused", "computed", "computed", "computed"]
    net = {result.version: store.load(result.ref)["net"].sum() for result in (first[2], third[2])}
    assert net[third[2].version] < net[first[2].version]


def test_lstm_model_artifact_holds_the_config_and_reloads_to_the_same_weights(upstream):
    store_url, benchmark, universe = upstream
    store = ArtifactStore(store_url)
    model, latest = run_lstm(store_url, benchmark, universe)
    params = store.manifest(model.ref).params
    assert params == {
        "tickers": None,
        "benchmark": "BENCH",
        "window": 120,
        "lookback": 10,
        "hidden_size": 8,
        "num_layers": 1,
        "vol_window": 10,
        "epochs": 10,
        "learning_rate": 0.01,
        "seed": 0,
    }
    frame = store.load(model.ref)
    assert list(frame.columns) == ["name", "shape", "dtype", "data"]

    weights = store.load(latest.ref)
    returns = investable_returns(store.load(universe["daily_returns"].ref), None, benchmark)
    settings = {k: params[k] for k in ("lookback", "hidden_size", "vol_window", "epochs", "seed")}
    in_memory = LSTMAllocator(**settings, learning_rate=0.01).fit(returns.iloc[-120:])
    pd.testing.assert_series_equal(
        weights["weight"], in_memory.predict(returns).rename_axis("ticker"), check_exact=True
    )
    assert store.manifest(latest.ref).upstream["lstm_model"] == str(model.ref)


def test_lstm_trainings_log_their_progress_and_feed_the_progress_listener(
    tmp_path, upstream, caplog
):
    """Each training's seed, date and loss go to the run's log (first epoch and every
    fifth of the epochs); every epoch of every training reaches the LSTM_PROGRESS listener."""
    _, benchmark, universe = upstream
    store_url = str(tmp_path / "store")
    store = ArtifactStore(str(upstream[0]))
    for result in universe.values():  # the universe's artifacts, in a fresh store
        ArtifactStore(store_url).save(result.stage, store.load(result.ref), version=result.version)
    events = []
    token = LSTM_PROGRESS.set(lambda stage, event: events.append((stage, event)))
    try:
        with caplog.at_level(logging.INFO, logger="tasks.stage"):
            targets = run_backtest(store_url, benchmark, universe, CONFIG)[0]
            model, _ = run_lstm(store_url, benchmark, universe)
    finally:
        LSTM_PROGRESS.reset(token)
    assert (targets.status, model.status) == ("computed", "computed")
    trainings = {(e.seed, e.train_end) for s, e in events if s == "allocation_targets"}
    fits = {e.fits for s, e in events if s == "allocation_targets"}
    assert fits == {len(trainings)} and {seed for seed, _ in trainings} == {0, 1}
    assert len(events) == (len(trainings) + 1) * LSTM_SPEC.epochs
    assert {e.fits for s, e in events if s == "lstm_model"} == {1}
    lines = [r.getMessage() for r in caplog.records if "LSTM seed" in r.getMessage()]
    # epochs 1, 2, 4, 6, 8, 10 of each training: the first and every fifth of 10
    assert len(lines) == (len(trainings) + 1) * 6
    assert any(line.startswith("[lstm_model] LSTM seed 0 trained to ") for line in lines)
    assert any("epoch 10/10, loss " in line for line in lines)
