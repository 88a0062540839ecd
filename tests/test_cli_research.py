"""Runs as research objects through the real CLI: `runs show` as tables, `runs diff`,
`artifacts show --scope`, `run --set` and `--runner`, and `serve --store`."""

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import get_args

import pytest
import yaml
from typer.testing import CliRunner

from portflow.api import stage_ref
from portflow.cli import Runner, app, run_settings
from portflow.config import PipelineConfig, load_config
from portflow.config.optimization import TaskRunnerConfig
from portflow.report.index import headline_figures
from portflow.report.run_view import RunView
from storage import ArtifactStore

ROOT = Path(__file__).parents[1]
PORTFLOW = Path(sys.executable).with_name("portflow")
RAW = {
    "name": "two-universes",
    "data": {"source": "synthetic", "n_assets": 3, "n_days": 300, "seed": 1},
    "hedge": {
        "data": {"source": "synthetic", "n_assets": 4, "n_days": 400, "seed": 2},
        "beta_window": 60,
        "rebalance_every": 20,
    },
}
runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def write_config(path: Path, raw: dict) -> Path:
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


@pytest.fixture
def two_runs(tmp_path, inline_run):
    """A store with two runs of RAW; the second rebalances every 10 days."""
    root = str(tmp_path / "store")
    first = inline_run(root, PipelineConfig.model_validate(RAW), "run-a")
    changed = json.loads(json.dumps(RAW))
    changed["hedge"]["rebalance_every"] = 10
    second = inline_run(root, PipelineConfig.model_validate(changed), "run-b")
    return root, first, second


def test_runs_show_is_a_table_and_json_on_request(two_runs):
    root, _, record = two_runs
    shown = invoke("runs", "show", "run-b", "--store", root)
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    for name, value in [
        ("run", "run-b"),
        ("config", "two-universes"),
        ("started (UTC)", f"{record.started_at:%Y-%m-%d %H:%M:%S}"),
        ("finished (UTC)", f"{record.finished_at:%Y-%m-%d %H:%M:%S}"),
        ("strategies", "hedge"),
    ]:
        assert any(line.startswith(name) and value in line for line in lines), name
    computed = sum(r["status"] == "computed" for r in record.stages)
    assert f"completed: {len(record.stages)} stages, {computed} computed" in shown.output
    for row in record.stages:  # one line per stage: scope, name, short version, status
        assert any(
            row["scope"] in line
            and f" {row['stage']} " in line
            and row["version"][:12] in line
            and row["status"] in line
            for line in lines
        ), row
    assert len(shown.output.splitlines()) < 3 * len(record.stages)
    as_json = invoke("runs", "show", "run-b", "--store", root, "--json")
    assert as_json.exit_code == 0
    assert json.loads(as_json.output) == record.model_dump(mode="json")


def test_runs_diff_shows_config_versions_and_headline_figures(two_runs):
    root, first, second = two_runs
    diffed = invoke("runs", "diff", "run-a", "run-b", "--store", root)
    assert diffed.exit_code == 0, diffed.output
    output = diffed.output
    line = next(x for x in output.splitlines() if "hedge.rebalance_every" in x)
    assert line.split("│")[2:4] == [" 20         ", " 10         "] or (
        "20" in line and "10" in line and line.index("20") < line.index("10")
    )
    versions_a = {(r["scope"], r["stage"]): r["version"] for r in first.stages}
    for row in second.stages:
        changed = versions_a[(row["scope"], row["stage"])] != row["version"]
        mentioned = row["version"][:12] in output
        assert changed == mentioned, row
    assert "stages whose version differs (3)" in output
    store = ArtifactStore(root)
    for record in (first, second):
        words = headline_figures(RunView(store, record))["hedge"].split()
        assert all(word in output for word in words[:4])  # wrapped inside its cell
    same = invoke("runs", "diff", "run-a", "run-a", "--store", root)
    assert "config: the same" in same.output and "stages: the same versions" in same.output
    assert invoke("runs", "diff", "run-a", "nope", "--store", root).exit_code == 1


def test_artifacts_show_needs_a_scope_when_a_run_has_several_universes(two_runs):
    root, first, second = two_runs
    ambiguous = invoke("artifacts", "show", "monthly_returns", "--store", root)
    assert ambiguous.exit_code == 1
    assert ambiguous.output.startswith("error [monthly_returns] scope: run run-b has 2 versions")
    assert "scopes: data, hedge.data" in ambiguous.output
    assert "--scope SCOPE" in ambiguous.output
    for run, record in (("run-b", second), ("run-a", first)):
        for scope in ("data", "hedge.data"):
            args = ["artifacts", "show", "monthly_returns", "--store", root, "--scope", scope]
            shown = invoke(*args, "--run", run)
            assert shown.exit_code == 0, shown.output
            version = stage_ref(record, "monthly_returns", scope).version
            assert f'"version": "{version}"' in shown.output
    only_one = invoke("artifacts", "show", "hedge_backtest", "--store", root)  # one scope
    assert only_one.exit_code == 0
    assert stage_ref(second, "hedge_backtest").version in only_one.output
    conflicting = invoke(
        "artifacts", "show", "monthly_returns@0", "--scope", "data", "--store", root
    )
    assert conflicting.exit_code == 2 and "'--scope' / '--run'" in conflicting.output
    unknown = invoke("artifacts", "show", "monthly_returns", "--scope", "hedge", "--store", root)
    assert unknown.exit_code == 1 and "its scopes for it: data, hedge.data" in unknown.output


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (
            ["--set", "optimization.sweep.gammaz=[1,5]"],
            [
                "'--set optimization.sweep.gammaz'",
                "optimization.sweep.gammaz: unknown key (check the spelling",
            ],
        ),
        (
            ["--set", "optimization.sweep.gammas=[1,-5]"],
            ["'--set optimization.sweep.gammas'", "gammas.1: Input should be greater than 0"],
        ),
        (["--set", "nope.x=1"], ["'--set nope.x'", "nope.x: unknown key 'nope'"]),
        (["--set", "hedge.beta_window"], ["'--set'", "expected KEY=VALUE"]),
        (["--set", "hedge.beta_window=[1"], ["'--set'", "hedge.beta_window: not valid YAML"]),
        (
            ["--strategy", "hedge", "--set", "optimization.sweep.gammas=[1]"],
            [
                "'--set optimization.sweep.gammas'",
                "optimization.sweep.gammas: no section 'optimization' in this run",
            ],
        ),
        (["--strategy", "hedge", "--runner", "dask"], ["'--runner'", "optimization"]),
        (["--runner", "dusk"], ["'--runner'", "'threads'", "'dask'"]),
        (["--store-option", "endpoint_url"], ["'--store-option'", "expected KEY=VALUE"]),
        (["--set", "store.options.secret=x"], ["'--set'", "--store-option KEY=VALUE"]),
        (
            ["--set", "data.source=files", "--set", "data.path=x.csv"],  # universe is left
            ["'--set data.", "data.universe: unknown key"],
        ),
    ],
)
def test_bad_overrides_are_usage_errors_naming_the_field(args, fragments, monkeypatch):
    """Checked before Prefect starts (a trap stands in for it): exit 2, one error line."""
    from portflow import prefect_server

    def trap(**_):
        raise AssertionError("Prefect started")

    monkeypatch.setattr(prefect_server, "prefect_api", trap)
    result = invoke("run", "default", *args)
    assert result.exit_code == 2, result.output
    error = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(error) == 1 and result.output.rstrip().endswith(error[0]), result.output
    for fragment in fragments:
        assert fragment in error[0], error[0]


def test_set_is_the_yaml_edit(tmp_path):
    """`--set` values are read as YAML and validated like the file: the same config as the
    edited YAML, also where the YAML leaves the section to its defaults (``monthly``)."""
    default = yaml.safe_load((ROOT / "configs" / "default.yaml").read_text())
    default["optimization"]["sweep"]["gammas"] = [1, 5]
    default["hedge"]["rebalance_every"] = 21
    overrides = {"optimization.sweep.gammas": yaml.safe_load("[1,5]"), "hedge.rebalance_every": 21}
    settings = run_settings(
        "default", start=None, end=None, strategies=None, knobs={}, overrides=overrides
    )
    assert settings == PipelineConfig.model_validate(default)
    assert settings.optimization.sweep.gammas == (1.0, 5.0)

    assert "monthly" not in RAW
    config = write_config(tmp_path / "cfg.yaml", RAW)
    given = run_settings(
        str(config),
        start=None,
        end=None,
        strategies=None,
        knobs={},
        overrides={"monthly.min_days": 10},
    )
    assert given == PipelineConfig.model_validate(RAW | {"monthly": {"min_days": 10}})


def test_run_set_gives_the_versions_of_the_edited_yaml(tmp_path, inline_run, prefect_harness):
    """Through the real CLI and a flow run, `--set` gives the very versions that an
    inline run of the edited YAML finds in place: every stage reused."""
    one_universe = {"name": "one-universe", "data": RAW["hedge"]["data"]}
    one_universe["hedge"] = {k: v for k, v in RAW["hedge"].items() if k != "data"}
    config = write_config(tmp_path / "cfg.yaml", one_universe)
    root = tmp_path / "store"
    result = invoke(
        "run",
        config,
        "--set",
        "hedge.rebalance_every=10",
        "--set",
        "hedge.cost_rate=0.001",
        "--store",
        root,
    )
    assert result.exit_code == 0, result.output
    edited = json.loads(json.dumps(one_universe))
    edited["hedge"] |= {"rebalance_every": 10, "cost_rate": 0.001}
    by_cli = ArtifactStore(str(root)).runs()[0]
    by_yaml = inline_run(
        str(root), load_config(write_config(tmp_path / "edited.yaml", edited)), "yaml"
    )
    assert {r["status"] for r in by_yaml.stages} == {"reused"}
    assert sorted((r["stage"], r["version"]) for r in by_yaml.stages) == sorted(
        (r["stage"], r["version"]) for r in by_cli.stages
    )
    assert by_cli.config["hedge"]["rebalance_every"] == 10


def test_runner_choices_come_from_the_schema():
    kinds = get_args(TaskRunnerConfig.model_fields["kind"].annotation)
    assert [member.value for member in Runner] == list(kinds)
    shown = invoke("run", "--help")
    assert "--runner <" + "|".join(kinds) + ">" in shown.output


OPTIMIZATION = {
    "name": "small-optimization",
    "data": {
        "universe": "sp500_20",
        "tickers": ["AAPL", "BAC", "CVX", "JNJ", "KO", "MSFT", "WMT", "XOM"],
        "start": "2003-01-01",
        "end": "2009-12-31",
    },
    "optimization": {
        "moment_models": ["sample"],
        "moments": {"window": 36, "min_observations": 24},
        "sweep": {"gammas": [5.0], "tev_budgets": [0.04], "sector_rotation": False},
        "runner": {"chunks": 2},
    },
}


def test_runner_dask_runs_the_sweep_on_dask_quietly(tmp_path, prefect_harness):
    """A real process: `--runner dask` starts a LocalCluster for the sweep and none of
    distributed's INFO lines reach the terminal (its workers are processes of their own)."""
    config = write_config(tmp_path / "opt.yaml", OPTIMIZATION)
    env = os.environ | {"PREFECT_API_URL": prefect_harness.url, "OMP_NUM_THREADS": "1"}
    env.pop("DASK_LOGGING__DISTRIBUTED", None)
    result = subprocess.run(
        [PORTFLOW, "run", config, "--runner", "dask", "--store", tmp_path / "store"],
        capture_output=True,
        text=True,
        env=env,
        timeout=400,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "optimized_weights" in output
    assert "distributed." not in output and "LocalCluster" not in output, output
    record = ArtifactStore(str(tmp_path / "store")).runs()[0]
    assert record.config["optimization"]["runner"]["kind"] == "dask"


def test_serve_store_goes_to_every_deployment_and_the_environment(
    tmp_path, monkeypatch, prefect_harness
):
    import prefect

    served = []
    monkeypatch.setattr(prefect, "serve", lambda *deployments: served.extend(deployments))
    monkeypatch.setenv("PREFECT_API_URL", prefect_harness.url)
    monkeypatch.setenv("PORTFLOW_STORE", "")  # so that monkeypatch restores its absence
    monkeypatch.delenv("PORTFLOW_STORE")
    root = str(tmp_path / "served")
    result = invoke("serve", "--no-server", "--store", root)
    assert result.exit_code == 0, result.output
    assert {d.name for d in served} == {"live-refresh", "research-default"}
    assert all(d.parameters["store_root"] == root for d in served)
    assert os.environ.pop("PORTFLOW_STORE") == root  # runs whose form leaves it empty
    inside_a_file = tmp_path / "file"
    inside_a_file.write_text("")
    bad = invoke("serve", "--no-server", "--store", inside_a_file / "store")
    assert bad.exit_code == 1 and bad.output.startswith("error [store] root:")
    assert "PORTFLOW_STORE" not in os.environ


def test_deployment_runs_honour_portflow_store(tmp_path, monkeypatch, prefect_harness):
    """The flow's store: its parameter, else PORTFLOW_STORE, else the config's."""
    from flows.pipeline import pipeline, store_location

    settings = PipelineConfig.model_validate(RAW | {"store": {"root": "from-config"}})
    monkeypatch.delenv("PORTFLOW_STORE", raising=False)
    assert store_location(settings, None, None).url == "from-config"
    monkeypatch.setenv("PORTFLOW_STORE", "from-env")
    assert store_location(settings, None, None).url == "from-env"
    assert store_location(settings, "given", None).url == "given"

    root = tmp_path / "env-store"
    monkeypatch.setenv("PORTFLOW_STORE", str(root))
    config = write_config(tmp_path / "cfg.yaml", RAW)
    record = pipeline(config=str(config), overrides={"hedge.rebalance_every": 15})
    assert [r.run_id for r in ArtifactStore(str(root)).runs()] == [record.run_id]
    assert record.config["hedge"]["rebalance_every"] == 15
