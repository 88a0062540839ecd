"""Every declared stage, checked without running it: wiring, config slices, lineage."""

import inspect

import pandas as pd
import pytest

from portflow.config import PipelineConfig, load_config
from portflow.config.hedge import HedgeConfig
from storage import ArtifactStore
from tasks import allocation, hedge, optimization, shared, vol_managed
from tasks.stage import Stage, StageResult, run_stage

DECLARATIONS = [
    *shared.SHARED,
    *hedge.HEDGE,
    vol_managed.VOL_MARKET_RETURNS,
    *vol_managed.VOL_MANAGED,
    *optimization.OPTIMIZATION_INPUTS,
    *optimization.MOMENTS.values(),
    optimization.OPTIMIZATION_CHUNK,
    optimization.OPTIMIZED_WEIGHTS,
    *optimization.OPTIMIZATION_RESULTS,
    *allocation.ALLOCATION,
    *allocation.LSTM,
]
SOURCES = {"market_data", "risk_free_source", "factor_source"}
"""Outputs of the source tasks (tasks/ingest.py) rather than of a declared stage."""
CONTEXT = {
    "benchmark": "SP500",
    "market": "SP500",
    "allocator": "lstm",
    "start": pd.Timestamp("2000-01-31").date(),
    "end": pd.Timestamp("2001-01-31").date(),
    "moments": "sample",
}


@pytest.fixture(scope="module")
def settings() -> PipelineConfig:
    return load_config("default")


def test_stage_names_are_unique_and_inputs_come_from_stages_or_sources():
    names = [stage.name for stage in DECLARATIONS]
    assert len(names) == len(set(names))
    produced = set(names) | SOURCES
    for stage in DECLARATIONS:
        assert set(stage.inputs) <= produced, stage.name


@pytest.mark.parametrize("stage", DECLARATIONS, ids=lambda s: s.name)
def test_inputs_and_arguments_are_exactly_the_function_s_parameters(stage: Stage, settings):
    section = settings.section(stage.config) if stage.config else None
    arguments = stage.arguments(section, CONTEXT)
    runtime = stage.runtime() if stage.runtime is not None else {}
    assert not set(runtime) & set(arguments), "run-time arguments stay out of the lineage"
    parameters = inspect.signature(stage.function).parameters
    required = {n for n, p in parameters.items() if p.default is inspect.Parameter.empty}
    given = set(stage.inputs) | set(arguments) | set(runtime)
    assert required <= given, f"{stage.name} lacks {required - given}"
    assert given <= set(parameters), f"{stage.name} gets unknown {given - set(parameters)}"
    positional = {n for n, p in parameters.items() if p.kind is p.POSITIONAL_OR_KEYWORD}
    assert set(stage.inputs) == positional, "inputs are the positional DataFrame arguments"


def test_a_stage_gets_only_its_fields_plus_its_context():
    section = HedgeConfig(beta_window=126, rebalance_every=21, volume_window=20)
    assert hedge.HEDGE_ROLLING_BETA.arguments(section, {}) == {
        "beta_window": 126,
        "rebalance_every": 21,
    }
    assert hedge.VOLUME_WEIGHTS.arguments(section, {"benchmark": "QQQ", "other": 1}) == {
        "volume_window": 20,
        "dollar_volume": False,
        "benchmark": "QQQ",
    }
    with pytest.raises(TypeError, match="needs context"):
        hedge.VOLUME_WEIGHTS.arguments(section, {})


def test_lineage_follows_code_arguments_and_input_versions(tmp_path):
    store = ArtifactStore(str(tmp_path))
    dates = pd.bdate_range("2020-01-01", periods=40, name="date")
    prices = pd.DataFrame({"SP500": 100.0 + pd.RangeIndex(40).to_numpy()}, index=dates)
    for version in ("p1", "p2"):
        store.save("prices", prices, version=version)
    upstream = {"prices": StageResult("prices", "p1", 40, "computed", 0.0)}
    first = run_stage(store.url, shared.DAILY_RETURNS, upstream, {})
    again = run_stage(store.url, shared.DAILY_RETURNS, upstream, {})
    assert (first.status, again.status, first.version) == ("computed", "reused", again.version)
    manifest = store.manifest(first.ref)
    assert manifest.upstream == {"prices": "prices@p1"} and manifest.params == {}
    assert store.load(first.ref)["SP500"].iloc[-1] == pytest.approx(139.0 / 138.0 - 1.0)

    other_input = {"prices": StageResult("prices", "p2", 40, "computed", 0.0)}
    assert run_stage(store.url, shared.DAILY_RETURNS, other_input, {}).version != first.version
    returns = {"daily_returns": first}
    variance = run_stage(store.url, shared.MONTHLY_VARIANCE, returns, {"min_days": 15})
    fewer = run_stage(store.url, shared.MONTHLY_VARIANCE, returns, {"min_days": 10})
    assert variance.version != fewer.version
    assert store.manifest(fewer.ref).params == {"min_days": 10}


def _scaled(prices: pd.DataFrame, *, factor: float, calls: list) -> pd.DataFrame:
    calls.append(factor)
    return prices * factor


def test_run_time_arguments_reach_the_function_but_not_the_lineage(tmp_path):
    store = ArtifactStore(str(tmp_path))
    prices = pd.DataFrame({"A": [1.0, 2.0]}, index=pd.Index([1, 2], name="date"))
    store.save("prices", prices, version="p1")
    upstream = {"prices": StageResult("prices", "p1", 2, "computed", 0.0)}
    calls: list = []
    stage = Stage("scaled", _scaled, inputs=("prices",), runtime=lambda: {"calls": calls})
    first = run_stage(store.url, stage, upstream, {"factor": 2.0})
    other_list: list = []
    again = Stage("scaled", _scaled, inputs=("prices",), runtime=lambda: {"calls": other_list})
    second = run_stage(store.url, again, upstream, {"factor": 2.0})
    assert (first.status, second.status) == ("computed", "reused")
    assert first.version == second.version and calls == [2.0] and other_list == []
    assert store.manifest(first.ref).params == {"factor": 2.0}
