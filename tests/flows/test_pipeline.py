"""End-to-end flow runs under prefect_test_harness: compute, reuse, record, publish."""

from pathlib import Path

import pandas as pd
import pytest
import yaml

from portflow.errors import DataError
from portflow.flows.pipeline import pipeline
from portflow.storage import ArtifactRef, ArtifactStore

ROOT = Path(__file__).parents[2]
STAGES = [
    "market_data",
    "risk_free_source",
    "prices",
    "daily_returns",
    "monthly_returns",
    "monthly_variance",
    "risk_free_monthly",
    "risk_free_daily",
]


def write_config(tmp_path, **overrides) -> str:
    raw = yaml.safe_load((ROOT / "configs" / "default.yaml").read_text())
    for section, values in overrides.items():
        raw[section] = {**raw.get(section, {}), **values}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw))
    return str(path)


def read_summary_artifact(run_id: str) -> str:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run_id]))
        )
    (artifact,) = [a for a in artifacts if a.key == "pipeline-summary"]
    return artifact.data


def test_pipeline_runs_then_reuses_every_stage(prefect_harness, tmp_path):
    store_root = str(tmp_path / "artifacts")
    config = write_config(tmp_path)

    first = pipeline(config=config, store_root=store_root)
    assert [s["stage"] for s in first.stages] == STAGES
    assert {s["status"] for s in first.stages} == {"computed"}

    second = pipeline(config=config, store_root=store_root)
    assert {s["status"] for s in second.stages} == {"reused"}
    assert [s["version"] for s in second.stages] == [s["version"] for s in first.stages]

    store = ArtifactStore(store_root)
    assert [r.run_id for r in store.runs()] == [first.run_id, second.run_id]
    versions = {s["stage"]: s["version"] for s in first.stages}
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

    summary = read_summary_artifact(second.run_id)
    assert "| monthly_returns |" in summary and "0 computed, 8 reused." in summary


def test_changed_setting_recomputes_only_downstream_stages(prefect_harness, tmp_path):
    store_root = str(tmp_path / "artifacts")
    pipeline(config=write_config(tmp_path), store_root=store_root)
    changed = pipeline(
        config=write_config(tmp_path, monthly={"min_days": 10}), store_root=store_root
    )
    computed = [s["stage"] for s in changed.stages if s["status"] == "computed"]
    assert computed == ["monthly_variance"]


def test_bad_data_fails_the_run_with_a_named_error(prefect_harness, tmp_path):
    config = write_config(tmp_path, data={"start": "2030-01-01", "end": "2031-01-01"})
    with pytest.raises(DataError, match=r"\[ingest\]"):
        pipeline(config=config, store_root=str(tmp_path / "artifacts"))
    assert ArtifactStore(str(tmp_path / "artifacts")).manifests() == []
