"""End-to-end flow runs under prefect_test_harness: compute, reuse, record, publish."""

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from flows.pipeline import pipeline
from portflow.errors import DataError
from storage import ArtifactRef, ArtifactStore
from tasks.report import report_key, written_report

ROOT = Path(__file__).parents[2]
SHARED = [
    "market_data",
    "risk_free_source",
    "prices",
    "daily_returns",
    "monthly_returns",
    "monthly_variance",
    "risk_free_monthly",
    "risk_free_daily",
]
HEDGE = [
    "volume_weights",
    "basket_returns",
    "hedge_regression",
    "hedge_rolling_beta",
    "hedge_backtest",
    "hedge_metrics",
]
VOL = [
    "factor_source",
    "vol_market_returns",
    "vol_signals",
    "vol_strategy_returns",
    "vol_evaluation",
]
ALLOCATION = [
    "allocation_targets",
    "allocation_weights",
    "backtest_returns",
    "backtest_metrics",
    "backtest_seed_summary",
    "lstm_model",
    "lstm_latest_weights",
]
OPTIMIZATION = [
    "factor_source",
    "factor_data",
    "stock_loadings",
    "benchmark_weights",
    "stock_industries",
    "holding_returns",
    "factor_moments",
    "regime_factor_moments",
]
PER_MOMENT_MODEL = [
    "optimized_weights",
    "optimized_returns",
    "optimization_report",
    "crisis_report",
]
STAGES = (  # every universe's shared stages first (ingested at once), then the strategies
    [("data", s) for s in SHARED]
    + [("hedge.data", s) for s in SHARED]
    + [("optimization.data", s) for s in SHARED]
    + [("allocation.data", s) for s in SHARED]
    + [("hedge", s) for s in HEDGE]
    + [("vol_managed", s) for s in VOL]
    + [("optimization", s) for s in OPTIMIZATION]
    + [("optimization[sample]", s) for s in PER_MOMENT_MODEL]
    + [("optimization[regime]", s) for s in PER_MOMENT_MODEL]
    + [("allocation", s) for s in ALLOCATION]
)


def write_config(tmp_path, **overrides) -> str:
    raw = yaml.safe_load((ROOT / "configs" / "default.yaml").read_text())
    for section, values in overrides.items():
        raw[section] = {**raw.get(section, {}), **values}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw))
    return str(path)


def scoped(record) -> list[tuple[str, str]]:
    return [(s["scope"], s["stage"]) for s in record.stages]


def computed(record) -> list[tuple[str, str]]:
    return [(s["scope"], s["stage"]) for s in record.stages if s["status"] == "computed"]


def read_artifacts(run_id: str) -> dict[str, object]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run_id]))
        )
    return {a.key: a.data for a in artifacts}


def task_run_names(run_id: str) -> set[str]:
    """The tasks (by name) that ran in a flow run and its subflows."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run_id]))
        )
    return {run.name.rsplit("-", 1)[0] for run in runs}


def frontier_rows(artifacts: dict[str, object]) -> list[dict[str, str]]:
    return json.loads(artifacts["optimization-sample"])


def test_pipeline_runs_then_reuses_every_stage(default_run, copy_store):
    store_root, first = default_run
    assert scoped(first) == STAGES
    assert {s["status"] for s in first.stages} == {"computed"}

    copied = str(copy_store())
    second = pipeline(config="default", store_root=copied)
    assert {s["status"] for s in second.stages} == {"reused"}
    assert [s["version"] for s in second.stages] == [s["version"] for s in first.stages]
    # Only the report ran as a task: every stage was found in the store without a task
    # run, and every source by its memo (its files unchanged) without reading it.
    assert "hedge_backtest" in task_run_names(first.run_id)
    assert task_run_names(second.run_id) == {"report"}

    store = ArtifactStore(copied)
    assert [r.run_id for r in store.runs()] == [first.run_id, second.run_id]
    versions = {s["stage"]: s["version"] for s in first.stages if s["scope"] == "data"}
    monthly = store.load(ArtifactRef("monthly_returns", versions["monthly_returns"]))
    # January 2000 lacks the return from the 1999-12-31 close: the first month is February.
    assert monthly.index[0] == pd.Timestamp("2000-02-29")
    assert monthly.index[-1] == pd.Timestamp("2018-11-30")
    assert "SP500" in monthly.columns and monthly.notna().all().all()
    rf = store.load(ArtifactRef("risk_free_monthly", versions["risk_free_monthly"]))
    assert rf.loc["2018-11-30", "rf"] == pytest.approx(0.0018)
    assert store.manifest(ArtifactRef("prices", versions["prices"])).upstream == {
        "market_data": f"market_data@{versions['market_data']}"
    }

    artifacts = read_artifacts(second.run_id)
    assert "| data | monthly_returns |" in artifacts["pipeline-summary"]
    assert f"0 computed, {len(STAGES)} reused." in artifacts["pipeline-summary"]
    hedge_table = json.loads(artifacts["hedge-metrics"])
    # Rows are named in their first column, under the label's own name.
    assert [row["series"] for row in hedge_table] == [
        "hedged_net",
        "hedged_gross",
        "basket",
        "benchmark",
    ]
    assert {row["strategy / period"] for row in json.loads(artifacts["vol-evaluation"])} >= {
        "market_managed / train",
        "market_managed / test",
    }
    allocators = [row["allocator"] for row in json.loads(artifacts["allocation-metrics"])]
    assert allocators[:2] == ["defensive_mix", "equal_weight"] and "lstm[seed=2]" in allocators
    assert allocators[-1] == "benchmark (SP500)"
    assert all("" not in row for table in (hedge_table, frontier_rows(artifacts)) for row in table)
    backtest = ArtifactRef(
        "hedge_backtest",
        dict(((s["scope"], s["stage"]), s["version"]) for s in second.stages)[
            ("hedge", "hedge_backtest")
        ],
    )
    # Paths to copy, not file:// links that a browser refuses to open from the UI.
    assert f"| `{backtest}` | reused | `{store.data_url(backtest)}` |" in artifacts["outputs"]
    assert f"```\n{store.report_url(second.run_id)}\n```" in artifacts["report"]
    # The second run's report is the first's (same versions and config): a page pointing
    # to it, written without drawing a figure.
    assert report_key(second) == report_key(first)
    assert written_report(store, first.run_id) == (report_key(first), first.run_id)
    assert written_report(store, second.run_id) == (report_key(first), first.run_id)
    page = Path(store.report_url(second.run_id).removeprefix("file://")).read_text()
    assert f'<a href="{first.run_id}.html">' in page and len(page) < 20_000
    assert f"```\n{store.report_url('index')}\n```" in artifacts["report"]
    frontier = frontier_rows(artifacts)
    assert [row["strategy"] for row in frontier][-1] == "benchmark"
    assert {row["failed solves"] for row in frontier} == {"0"}


def test_changed_setting_recomputes_only_downstream_stages(copy_store, tmp_path):
    store_root = str(copy_store())
    costlier = pipeline(
        config=write_config(tmp_path, hedge={"cost_rate": 0.001}), store_root=store_root
    )
    assert computed(costlier) == [("hedge", "hedge_backtest"), ("hedge", "hedge_metrics")]
    # The same knob as a flow parameter (what the UI form and the CLI option set).
    rebalanced = pipeline(
        config=write_config(tmp_path),
        hedge_rebalance_every=20,
        strategies=["hedge"],
        store_root=store_root,
    )
    assert computed(rebalanced) == [
        ("hedge", "hedge_rolling_beta"),
        ("hedge", "hedge_backtest"),
        ("hedge", "hedge_metrics"),
    ]
    # Only the universe hedge uses: the top-level data's shared stages do not run.
    assert {scope for scope, _ in scoped(rebalanced)} == {"hedge.data", "hedge"}


def test_bad_data_fails_the_run_with_a_named_error(prefect_harness, tmp_path):
    config = write_config(tmp_path, data={"start": "2030-01-01", "end": "2031-01-01"})
    with pytest.raises(DataError, match=r"\[ingest\]"):
        pipeline(config=config, store_root=str(tmp_path / "artifacts"))
    # The strategies' own data sections, ingested at the same time, are complete versions;
    # the failing section wrote nothing.
    store = ArtifactStore(str(tmp_path / "artifacts"))
    written = store.manifests()
    assert {m.stage for m in written} == {"market_data", "risk_free_source"}
    assert "2030-01-01" not in {m.params["source"]["start"] for m in written}
    for manifest in written:
        store.verify(ArtifactRef(manifest.stage, manifest.version))
