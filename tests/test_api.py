"""The public Python API (``portflow.open_store``): runs, stages as DataFrames by scope,
and the comparison of two runs, on runs made in this thread (no Prefect)."""

import pandas as pd
import pytest

import portflow
from portflow.config import PipelineConfig
from portflow.errors import ArtifactError
from portflow.report.index import headline_figures
from portflow.report.run_view import RunView
from storage import ArtifactStore

SETTINGS = PipelineConfig.model_validate(
    {
        "name": "two-universes",
        "data": {"source": "synthetic", "n_assets": 3, "n_days": 300, "seed": 1},
        "hedge": {
            "data": {"source": "synthetic", "n_assets": 4, "n_days": 400, "seed": 2},
            "beta_window": 60,
            "rebalance_every": 20,
        },
    }
)


@pytest.fixture
def two_runs(tmp_path, inline_run):
    """Two runs of a config with two universes; the second rebalances every 10 days."""
    root = str(tmp_path / "store")
    first = inline_run(root, SETTINGS, "run-a")
    changed = SETTINGS.model_copy(
        update={"hedge": SETTINGS.hedge.model_copy(update={"rebalance_every": 10})}
    )
    second = inline_run(root, changed, "run-b")
    return root, first, second


def test_open_store_lists_runs_and_loads_any_stage(two_runs):
    root, first, second = two_runs
    store = portflow.open_store(root)
    runs = store.runs()
    assert list(runs["run_id"]) == ["run-a", "run-b"]
    assert list(runs.columns) == [
        "run_id",
        "config",
        "started",
        "finished",
        "strategies",
        "stages",
        "computed",
    ]
    assert runs.loc[0, "strategies"] == "hedge"
    assert runs.loc[0, "computed"] == runs.loc[0, "stages"] == len(first.stages)
    assert 0 < runs.loc[1, "computed"] < runs.loc[1, "stages"]  # the shared stages reused

    run = store.run()  # the latest
    assert run.run_id == "run-b" and store.run("run-a").run_id == "run-a"
    stages = run.stages()
    assert list(stages[["scope", "stage", "version"]].itertuples(index=False, name=None)) == [
        (row["scope"], row["stage"], row["version"]) for row in second.stages
    ]
    artifacts = ArtifactStore(root)
    backtest = run.load("hedge_backtest")
    version = next(r["version"] for r in second.stages if r["stage"] == "hedge_backtest")
    pd.testing.assert_frame_equal(backtest, artifacts.load(run.ref("hedge_backtest")))
    assert run.ref("hedge_backtest").version == version
    pd.testing.assert_frame_equal(store.load(f"hedge_backtest@{version[:6]}"), backtest)
    assert run.config["hedge"]["rebalance_every"] == 10


def test_a_stage_of_several_universes_needs_its_scope(two_runs):
    root, _, second = two_runs
    run = portflow.open_store(root).run("run-b")
    assert run.scopes("monthly_returns") == ["data", "hedge.data"]
    with pytest.raises(ArtifactError) as ambiguous:
        run.load("monthly_returns")
    message = str(ambiguous.value)
    assert message.startswith("[monthly_returns] scope: run run-b has 2 versions")
    assert "scopes: data, hedge.data" in message
    by_scope = {scope: run.load("monthly_returns", scope=scope) for scope in ("data", "hedge.data")}
    assert list(by_scope["data"].columns) != list(by_scope["hedge.data"].columns)
    recorded = {r["scope"]: r["version"] for r in second.stages if r["stage"] == "monthly_returns"}
    for scope, frame in by_scope.items():
        pd.testing.assert_frame_equal(
            frame, ArtifactStore(root).load(run.ref("monthly_returns", scope))
        )
        assert run.ref("monthly_returns", scope).version == recorded[scope]
    with pytest.raises(ArtifactError, match="no stage 'monthly_returns' in scope 'hedge'"):
        run.load("monthly_returns", scope="hedge")
    with pytest.raises(ArtifactError, match="no stage 'vol_signals'"):
        run.load("vol_signals")


def test_diff_of_two_runs(two_runs):
    root, first, second = two_runs
    store = portflow.open_store(root)
    diff = store.diff("run-a", "run-b")
    assert diff.config.to_dict("records") == [{"path": "hedge.rebalance_every", "a": 20, "b": 10}]
    changed = {(r.scope, r.stage): (r.a, r.b) for r in diff.versions.itertuples()}
    versions_a = {(r["scope"], r["stage"]): r["version"] for r in first.stages}
    versions_b = {(r["scope"], r["stage"]): r["version"] for r in second.stages}
    expected = {
        k: (versions_a[k], versions_b[k]) for k in versions_a if versions_a[k] != versions_b[k]
    }
    assert changed == expected
    assert {stage for _, stage in changed} == {
        "hedge_rolling_beta",
        "hedge_backtest",
        "hedge_metrics",
    }
    artifacts = ArtifactStore(root)
    assert diff.headlines.to_dict("records") == [
        {
            "strategy": "hedge",
            "a": headline_figures(RunView(artifacts, first))["hedge"],
            "b": headline_figures(RunView(artifacts, second))["hedge"],
        }
    ]
    assert diff.headlines.loc[0, "a"].startswith("hedged book")


def test_diff_lists_stages_only_one_run_has(tmp_path, inline_run):
    root = str(tmp_path / "store")
    own = inline_run(root, SETTINGS, "own-data")
    shared = SETTINGS.model_copy(update={"hedge": SETTINGS.hedge.model_copy(update={"data": None})})
    inline_run(root, shared, "shared-data")
    diff = portflow.open_store(root).diff("own", "shared")
    only_a = diff.versions[diff.versions["b"].isna()]
    assert set(only_a["scope"]) == {"hedge.data"}
    assert len(only_a) == sum(r["scope"] == "hedge.data" for r in own.stages)
    assert "hedge.data.seed" in set(diff.config["path"])


def test_open_store_needs_an_existing_store(tmp_path):
    with pytest.raises(ArtifactError, match="no store at"):
        portflow.open_store(str(tmp_path / "typo"))
    assert not (tmp_path / "typo").exists()
    with pytest.raises(ArtifactError, match="no runs in"):
        portflow.open_store(str(tmp_path)).run()
