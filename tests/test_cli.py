"""The command line: exit codes, validation output, artifact and run inspection, a real run."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from portflow.cli import app
from storage import ArtifactStore, RunRecord

ROOT = Path(__file__).parents[1]
runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture
def store(tmp_path):
    store = ArtifactStore(str(tmp_path / "artifacts"))
    frame = pd.DataFrame(
        {"AAPL": np.arange(3.0)}, index=pd.bdate_range("2020-01-01", periods=3, name="date")
    )
    store.save("prices", frame, version="0123456789abcdef", params={"missing": "error"})
    now = pd.Timestamp("2026-01-02", tz="UTC").to_pydatetime()
    store.save_run(
        RunRecord(
            run_id="feedbeef",
            config_name="default",
            config={},
            started_at=now,
            finished_at=now,
            stages=[{"stage": "prices", "status": "computed", "version": "0123456789abcdef"}],
        )
    )
    return store


def test_help_on_every_command():
    for args in (
        [],
        ["run"],
        ["validate"],
        ["artifacts", "list"],
        ["artifacts", "show"],
        ["runs", "list"],
        ["runs", "show"],
    ):
        result = invoke(*args, "--help")
        assert result.exit_code == 0, args
        assert "Usage" in result.output


def test_validate_ok_and_every_error(tmp_path):
    assert invoke("validate", ROOT / "configs" / "default.yaml").exit_code == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ndata:\n  universe: nope\nprices:\n  missing: maybe\nextra: 1\n")
    result = invoke("validate", ROOT / "configs" / "default.yaml", bad)
    assert result.exit_code == 1
    output = " ".join(result.output.split())  # Rich wraps long temporary paths
    for fragment in ("3 error(s)", "data.universe", "prices.missing", "extra: unknown key"):
        assert fragment in output


def test_artifacts_list_and_show(store):
    listed = invoke("artifacts", "list", "--store", store.url)
    assert listed.exit_code == 0 and "0123456789abcdef" in listed.output
    shown = invoke("artifacts", "show", "prices@0123", "--store", store.url)
    assert shown.exit_code == 0
    assert '"sha256"' in shown.output and "AAPL" in shown.output
    missing = invoke("artifacts", "show", "prices@ffff", "--store", store.url)
    assert missing.exit_code == 1 and "no artifact matches" in missing.output


def test_runs_list_and_show(store):
    assert "feedbeef" in invoke("runs", "list", "--store", store.url).output
    shown = invoke("runs", "show", "feed", "--store", store.url)
    assert shown.exit_code == 0 and "0123456789abcdef" in shown.output
    assert invoke("runs", "show", "nope", "--store", store.url).exit_code == 1


def test_run_with_invalid_config_exits_1(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nbogus: 1\n")
    result = invoke("run", bad)
    assert result.exit_code == 1 and "bogus: unknown key" in result.output


def test_run_prints_stages_and_results(copy_store):
    store = copy_store()
    result = invoke(
        "run", "default", "--store", store, "--strategy", "hedge", "--hedge-rebalance-every", "21"
    )
    assert result.exit_code == 0, result.output
    assert "hedge_backtest" in result.output and "computed" in result.output
    assert "vol_evaluation" not in result.output  # --strategy hedge runs only the hedge
    assert "Beta hedge: performance of the hedged book" in result.output
    assert "hedged_net" in result.output and "Report: file://" in result.output


def test_run_options_are_the_flow_parameters():
    """`portflow run` and the deployments take the same knobs (so they behave the same)."""
    import inspect

    from flows.pipeline import pipeline
    from portflow.cli import run

    flow_parameters = set(inspect.signature(pipeline.fn).parameters)
    cli_parameters = set(inspect.signature(run).parameters)
    renamed = {
        "strategy": "strategies",
        "store": "store_root",
        "tev_budget": "tev_budgets",
        "risk_aversion": "risk_aversions",
    }
    assert {renamed.get(p, p) for p in cli_parameters} == flow_parameters
