"""The command line: exit codes, validation output, artifact and run inspection, a real run,
and, as separate processes ended by signals, that no Prefect server outlives a command."""

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from marked_processes import MARKER, marked
from typer.testing import CliRunner

from portflow.cli import app
from storage import ArtifactStore, RunRecord

ROOT = Path(__file__).parents[1]
PORTFLOW = Path(sys.executable).with_name("portflow")
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
        ["runs", "diff"],
        ["store", "verify"],
        ["serve"],
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
    assert shown.exit_code == 0 and "0123456789ab" in shown.output  # a short version
    as_json = invoke("runs", "show", "feed", "--store", store.url, "--json")
    assert as_json.exit_code == 0 and '"0123456789abcdef"' in as_json.output
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

    flow_parameters = inspect.signature(pipeline.fn).parameters
    cli_parameters = set(inspect.signature(run).parameters)
    renamed = {
        "strategy": "strategies",
        "store": "store_root",
        "tev_budget": "tev_budgets",
        "risk_aversion": "risk_aversions",
        "set_": "overrides",
        "runner": "overrides",  # --runner is the override optimization.runner.kind
        "store_option": "store_options",
    }
    assert {renamed.get(p, p) for p in cli_parameters} == set(flow_parameters)
    # The choices the CLI checks before Prefect starts are the flow's.
    from typing import get_args, get_type_hints

    from portflow.cli import AllocationRebalance, Strategy

    hints = get_type_hints(pipeline.fn)
    strategies = get_args(get_args(hints["strategies"])[0])[0]  # list[Strategy] | None
    assert [s.value for s in Strategy] == list(get_args(strategies))
    assert get_args(AllocationRebalance) == get_args(get_args(hints["allocation_rebalance"])[0])


def test_errors_are_printed_verbatim_on_one_line(tmp_path):
    """Rich markup in a message is text (the [stage] prefix, a [/bold] in a name), and a
    message longer than the terminal is not wrapped."""
    name = "[/bold]" + "x" * 120
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"name: x\n'{name}': 1\n")
    result = invoke("run", bad)
    assert result.exit_code == 1 and f"{name}: unknown key" in result.output
    assert result.output.startswith(f"error [config] {bad}: 1 error(s). Fix each field below.\n")
    shown = invoke("artifacts", "show", f"{name}@1", "--store", tmp_path)
    assert shown.exit_code == 1 and shown.output.count("\n") == 1, shown.output


def test_debug_shows_the_traceback_of_a_user_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PORTFLOW_DEBUG", "")  # restored after: --debug sets it in-process
    plain = invoke("runs", "list", "--store", tmp_path / "typo")
    assert plain.exit_code == 1 and "Traceback" not in plain.output
    debug = invoke("--debug", "runs", "list", "--store", tmp_path / "typo")
    assert debug.exit_code == 1
    assert "Traceback" in debug.output and "ArtifactError" in debug.output
    assert debug.output.rstrip().endswith("`portflow run` creates a store")


def test_serve_on_a_taken_port_is_one_line_and_starts_nothing(monkeypatch):
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = invoke("serve", "--port", port)
    assert result.exit_code == 1, result.output
    assert result.output.startswith(f"error [serve] --port: cannot listen on 127.0.0.1:{port}")
    assert f"PREFECT_API_URL=http://127.0.0.1:{port}/api portflow serve --no-server" in (
        result.output
    )


def test_commands_ended_by_signals_leave_no_prefect_server(tmp_path):
    """Real processes, each with a server of its own and a marker in its environment:
    `portflow run` ended by SIGTERM and by SIGINT during the flow (a temporary server), and
    `portflow serve` ended by SIGTERM while it serves. They run at once, so that their
    servers start together as on a busy machine; afterwards the process table holds nothing
    of theirs. (Exceptions, SIGHUP and SIGKILL: tests/test_prefect_server.py.)"""
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    store = ["--store", str(tmp_path / "store")]
    commands = {
        "run-SIGTERM": (["run", "default", "--strategy", "hedge", *store], signal.SIGTERM),
        "run-SIGINT": (["run", "default", "--strategy", "hedge", *store], signal.SIGINT),
        "serve-SIGTERM": (["serve", "research-default", "--port", str(port)], signal.SIGTERM),
    }
    base = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    home = tmp_path / "serve-home"  # serve keeps Prefect's own database there
    started = {}
    try:
        for name, (args, _) in commands.items():
            marker = uuid.uuid4().hex
            env = {
                **base,
                MARKER: marker,
                **({"PREFECT_HOME": str(home)} if "serve" in name else {}),
            }
            process = subprocess.Popen(
                [str(PORTFLOW), *args],
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
            )
            started[name] = (marker, process)
        seen = {}
        for name, (_, sig) in commands.items():
            marker, process = started[name]
            lines = []
            cue = "Prefect UI:" if name.startswith("serve") else "Beginning flow run"
            for line in process.stdout:
                lines.append(line)
                if cue in line:
                    assert len(marked(marker)) == 2, lines  # the command and its server
                    if name.startswith("serve"):
                        time.sleep(2)  # let it register the deployment and serve
                    process.send_signal(sig)
                    break
            lines += process.stdout.readlines()
            seen[name] = (process.wait(timeout=120), "".join(lines))
        codes = {name: code for name, (code, _) in seen.items()}
        assert codes["run-SIGTERM"] == 128 + signal.SIGTERM, seen["run-SIGTERM"][1]
        assert codes["run-SIGINT"] == 128 + signal.SIGINT, seen["run-SIGINT"][1]
        assert codes["serve-SIGTERM"] in (0, 128 + signal.SIGTERM), seen["serve-SIGTERM"][1]
        for _, output in seen.values():
            assert "Traceback" not in output, output
        deadline = time.monotonic() + 30
        left = {name: marked(marker) for name, (marker, _) in started.items()}
        while any(left.values()) and time.monotonic() < deadline:
            time.sleep(0.5)
            left = {name: marked(marker) for name, (marker, _) in started.items()}
        assert left == {name: [] for name in commands}, "a server outlived its command"
    finally:
        for marker, process in started.values():
            process.kill()
            process.wait()
            process.stdout.close()
            for pid in marked(marker):
                os.kill(pid, signal.SIGKILL)
