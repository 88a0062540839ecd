"""Bad input through the real CLI: every case ends with its exit code (1 a user error, 2
wrong usage), one message that names the stage or option and the field, no traceback, and
nothing written to the store.

Most cases fail before any Prefect server starts (``prefect_api`` is replaced by a trap
that fails the test); the cases marked ``flow`` fail inside the pipeline and share the
session's server. A few run as separate processes, where Prefect's own terminal logging
can be seen too.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from portflow import prefect_server
from portflow.cli import app
from storage import ArtifactStore, RunRecord

ROOT = Path(__file__).parents[1]
PORTFLOW = Path(sys.executable).with_name("portflow")

VERSION = "0123456789abcdef"

PANEL = """\
date,ticker,close,volume
2018-11-01,AAA,10.0,100
2018-11-01,BBB,20.0,200
2018-11-02,AAA,10.5,100
2018-11-02,BBB,19.0,200
2018-11-05,AAA,10.4,100
2018-11-05,BBB,19.5,200
"""

FILES = """\
name: files
data:
  source: files
  path: {tmp}/{panel}
  benchmark: {benchmark}
{extra}hedge: {{}}
"""


def files_config(panel: str = "panel.csv", benchmark: str = "BBB", extra: str = "") -> str:
    """A config on a files source (``{tmp}`` is replaced by the case's folder)."""
    return FILES.format(tmp="{tmp}", panel=panel, benchmark=benchmark, extra=extra)


@dataclass(frozen=True)
class Case:
    """One bad input: the command line, the files it needs, and what must come out."""

    id: str
    args: tuple[str, ...]
    code: int
    expect: tuple[str, ...]
    files: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    flow: bool = False  # fails inside the pipeline (needs a Prefect server)
    after_ingest: bool = False  # fails in a stage after ingest, which committed its tables


def usage(id, *args, expect, files=None):
    return Case(id, ("run", *args), 2, expect, files or {})


def config(id, text, *expect):
    return Case(id, ("run", "{tmp}/c.yaml"), 1, ("[config]", *expect), {"c.yaml": text})


def store(id, *args, expect):
    return Case(id, args, 1, expect)


def flow(id, *args, expect, files=None, panel=PANEL, after_ingest=False):
    files = {"panel.csv": panel, **(files or {})}
    return Case(id, ("run", *args), 1, expect, files, flow=True, after_ingest=after_ingest)


HEDGE_ONLY = "name: h\nhedge: {}\n"
ENV_PREFECT = {"PREFECT_API_URL": ""}  # the session's server aside: what a user would have

# fmt: off
CASES = [
    # -- wrong usage: exit 2 before anything starts ----------------------------------------
    usage("strategy-typo", "default", "--strategy", "hedgee", expect=("'--strategy'", "hedgee")),
    usage("strategy-empty", "default", "--strategy", "", expect=("'--strategy'",)),
    usage("rebalance-every-0", "default", "--hedge-rebalance-every", "0",
          expect=("'--hedge-rebalance-every'", "hedge.rebalance_every", "greater than")),
    usage("rebalance-every-negative", "default", "--hedge-rebalance-every", "-5",
          expect=("'--hedge-rebalance-every'", "hedge.rebalance_every")),
    usage("rebalance-every-text", "default", "--hedge-rebalance-every", "often",
          expect=("'--hedge-rebalance-every'", "valid integer")),
    usage("beta-window-1", "default", "--hedge-beta-window", "1",
          expect=("'--hedge-beta-window'", "hedge.beta_window")),
    usage("allocation-rebalance-enum", "default", "--allocation-rebalance", "sometimes",
          expect=("'--allocation-rebalance'", "sometimes")),
    usage("allocation-rebalance-calendar", "default", "--allocation-rebalance", "calendar",
          expect=("'--allocation-rebalance'", "calendar")),
    usage("allocation-every-0", "default", "--allocation-rebalance-every", "0",
          expect=("'--allocation-rebalance-every'", "allocation.rebalance_every")),
    usage("tev-negative", "default", "--tev-budget", "-0.01",
          expect=("'--tev-budget'", "optimization.sweep.tev_budgets")),
    usage("tev-zero", "default", "--tev-budget", "0", expect=("'--tev-budget'",)),
    usage("tev-text", "default", "--tev-budget", "2%", expect=("'--tev-budget'", "valid number")),
    usage("gamma-negative", "default", "--risk-aversion", "-1",
          expect=("'--risk-aversion'", "optimization.sweep.gammas")),
    usage("start-after-end", "default", "--start", "2010-01-01", "--end", "2009-01-01",
          expect=("'--start/--end'", "data", "must be before end")),
    usage("start-impossible-date", "default", "--start", "2010-13-45",
          expect=("'--start'", "2010-13-45")),
    usage("end-not-a-date", "default", "--end", "yesterday", expect=("'--end'", "yesterday")),
    usage("strategy-not-configured", "{tmp}/c.yaml", "--strategy", "optimization",
          expect=("'--strategy'", "strategies", "not configured"), files={"c.yaml": HEDGE_ONLY}),
    usage("knob-of-a-strategy-left-out", "default", "--strategy", "hedge", "--risk-aversion", "2",
          expect=("'--risk-aversion'", "no section 'optimization'")),
    usage("knob-of-an-absent-section", "{tmp}/c.yaml", "--allocation-rebalance-every", "5",
          expect=("'--allocation-rebalance-every'", "no section 'allocation'"),
          files={"c.yaml": HEDGE_ONLY}),
    usage("unknown-option", "default", "--hedge-window", "5", expect=("--hedge-window",)),
    usage("extra-argument", "default", "mag7", expect=("unexpected extra argument", "mag7")),
    Case("missing-config", ("run",), 2, ("Missing argument",)),
    Case("unknown-command", ("runn", "default"), 2, ("No such command", "runn")),
    Case("rows-negative", ("artifacts", "show", "prices", "--rows", "-1"), 2, ("'--rows'",)),
    Case("serve-port-range", ("serve", "--port", "70000"), 2, ("'--port'", "65535")),
    # -- the config: exit 1, every field with its YAML path --------------------------------
    Case("config-unknown-name", ("run", "nope"), 1, ("[config] nope", "no such config file")),
    Case("config-is-a-folder", ("run", "{tmp}"), 1, ("[config]", "no such config file")),
    config("yaml-syntax", "name: x\ndata: [unclosed\n", "(file)", "not valid YAML", "line"),
    config("yaml-impossible-date", "name: x\ndata:\n  start: 2010-13-45\n", "data.start"),
    config("yaml-february-30", "name: x\ndata:\n  end: 2018-02-30\n", "data.end"),
    config("yaml-list", "- name\n- x\n", "must hold a YAML mapping"),
    config("yaml-empty", "", "must hold a YAML mapping"),
    config("yaml-python-tag", "name: !!python/object/apply:os.system ['true']\n", "not valid"),
    config("unknown-top-key", "name: x\nbogus: 1\n", "bogus: unknown key"),
    config("unknown-nested-key", "name: x\nhedge:\n  windw: 5\n", "hedge.windw: unknown key"),
    config("missing-name", "hedge: {}\n", "name: Field required"),
    config("wrong-type", "name: x\nhedge:\n  beta_window: wide\n", "hedge.beta_window"),
    config("negative-cost", "name: x\nhedge:\n  cost_rate: -1\n", "hedge.cost_rate"),
    config("unknown-universe", "name: x\ndata:\n  universe: nope\n", "data.universe"),
    config("unknown-source", "name: x\ndata:\n  source: excel\n", "data", "excel"),
    config("missing-policy", "name: x\nprices:\n  missing: maybe\n", "prices.missing"),
    config("min-days-0", "name: x\nmonthly:\n  min_days: 0\n", "monthly.min_days"),
    config("cov-type", "name: x\nvol_managed:\n  cov_type: HC9\n", "vol_managed.cov_type"),
    config("tev-in-yaml", "name: x\noptimization:\n  sweep:\n    tev_budgets: [-1]\n",
           "optimization.sweep.tev_budgets"),
    config("rebalance-in-yaml", "name: x\nallocation:\n  rebalance: sometimes\n",
           "allocation.rebalance"),
    config("yaml-start-after-end", "name: x\ndata: {start: 2010-01-01, end: 2009-01-01}\n",
           "data", "must be before end"),
    config("yfinance-without-tickers", "name: x\ndata:\n  source: yfinance\n", "data.tickers"),
    config("several-errors", "name: x\nprices:\n  missing: maybe\nmonthly:\n  min_days: 0\n",
           "2 error(s)", "prices.missing", "monthly.min_days"),
    Case("config-not-text", ("run", "{tmp}/c.yaml"), 1, ("[config]", "cannot read it as text"),
         {"c.yaml": "name: \udcff\udcfe\n"}),
    Case("validate-every-error", ("validate", "configs/default.yaml", "{tmp}/c.yaml"), 1,
         ("invalid [config]", "bogus: unknown key"), {"c.yaml": "name: x\nbogus: 1\n"}),
    # -- the store: exit 1, nothing created ------------------------------------------------
    store("store-is-a-file", "run", "default", "--store", "{tmp}/file",
          expect=("[store] root", "is a file")),
    store("store-inside-a-file", "run", "default", "--store", "{tmp}/file/sub",
          expect=("[store] root", "inside", "a file")),
    store("store-unknown-protocol", "run", "default", "--store", "nosuch://bucket/x",
          expect=("[store] root", "Protocol not known: nosuch")),
    store("runs-list-no-store", "runs", "list", "--store", "{tmp}/typo",
          expect=("[store] root", "no store at")),
    store("artifacts-list-no-store", "artifacts", "list", "--store", "{tmp}/typo",
          expect=("[store] root", "no store at")),
    store("artifacts-show-no-store", "artifacts", "show", "prices", "--store", "{tmp}/typo",
          expect=("[store] root", "no store at")),
    store("report-no-store", "report", "--store", "{tmp}/typo", expect=("[store] root",)),
    store("verify-no-store", "store", "verify", "--store", "{tmp}/typo",
          expect=("[store] root", "no store at")),
    store("stage-outside-the-root", "artifacts", "list", "../x", "--store", "{store}",
          expect=("[store] stage", "not a valid stage name")),
    store("run-outside-the-root", "runs", "show", "../../x", "--store", "{store}",
          expect=("[runs] run_id", "no run matching '../../x'")),
    store("unknown-version", "artifacts", "show", "prices@ffff", "--store", "{store}",
          expect=("[prices] version", "no artifact matches")),
    store("unknown-stage", "artifacts", "show", "returns", "--store", "{store}",
          expect=("returns",)),
    store("unknown-run", "runs", "show", "nope", "--store", "{store}", expect=("nope",)),
    store("report-unknown-run", "report", "nope", "--store", "{store}", expect=("nope",)),
    store("report-no-runs", "report", "--store", "{empty_store}",
          expect=("[report] run_id", "no runs in")),
    store("damaged-data", "artifacts", "show", f"prices@{VERSION}", "--store", "{damaged_store}",
          expect=(f"prices@{VERSION}/data.parquet",)),
    store("garbage-manifest", "artifacts", "show", f"prices@{VERSION}", "--store",
          "{garbage_store}", expect=(f"prices@{VERSION}/manifest.json",)),
    # -- Prefect: exit 1 with what to do ---------------------------------------------------
    Case("prefect-url-dead", ("run", "default", "--store", "{tmp}/store"), 1,
         ("[prefect] PREFECT_API_URL", "does not answer", "portflow serve"),
         env={"PREFECT_API_URL": "http://127.0.0.1:9/api"}),
    Case("prefect-budget-not-a-number", ("run", "default", "--store", "{tmp}/store"), 1,
         ("[prefect] PORTFLOW_PREFECT_STARTUP_TIMEOUT", "'soon' is not a number"),
         env={**ENV_PREFECT, "PORTFLOW_PREFECT_STARTUP_TIMEOUT": "soon"}),
    Case("prefect-server-exits", ("run", "default", "--store", "{tmp}/store"), 1,
         ("[prefect] temporary server", "exited at start-up", "portflow serve"),
         env={**ENV_PREFECT, "PORTFLOW_PREFECT_SERVER_LOG_LEVEL": "LOUD"}),
    # -- the data, inside the flow: exit 1 with the stage and the field ------------------
    flow("csv-header-only", "{tmp}/c.yaml", files={"c.yaml": files_config()},
         panel="date,ticker,close\n", expect=("[ingest] data.path", "has no rows")),
    flow("csv-empty", "{tmp}/c.yaml", files={"c.yaml": files_config()}, panel="",
         expect=("[ingest] data.path", "cannot read panel.csv")),
    flow("csv-missing", "{tmp}/c.yaml", files={"c.yaml": files_config("nope.csv")},
         expect=("[ingest] data.path", "no such file")),
    flow("csv-suffix", "{tmp}/c.yaml", expect=("[ingest] data.path", "unknown file type"),
         files={"c.yaml": files_config("panel.xlsx"), "panel.xlsx": PANEL}),
    flow("csv-unknown-field", "{tmp}/c.yaml",
         files={"c.yaml": files_config(extra="  columns: {bogus: close}\n")},
         expect=("[ingest] data.columns", "unknown field")),
    flow("csv-mapped-column-absent", "{tmp}/c.yaml",
         files={"c.yaml": files_config(extra="  columns: {close: prc}\n")},
         expect=("[ingest] data.columns.close", "no column prc")),
    flow("csv-no-price-column", "{tmp}/c.yaml", files={"c.yaml": files_config()},
         panel="date,ticker,volume\n2018-11-01,AAA,1\n",
         expect=("[ingest] data.columns", "adj_close, close or ret")),
    flow("csv-text-price", "{tmp}/c.yaml", files={"c.yaml": files_config()},
         panel=PANEL.replace("10.5", "ten"), expect=("[ingest] close", "line 4")),
    flow("csv-bad-date", "{tmp}/c.yaml", files={"c.yaml": files_config()},
         panel=PANEL.replace("2018-11-05,AAA", "2018-13-05,AAA"), expect=("[ingest] date",)),
    flow("csv-duplicate-rows", "{tmp}/c.yaml", files={"c.yaml": files_config()},
         panel=PANEL + "2018-11-05,AAA,10.4,100\n", expect=("[ingest] date, ticker",)),
    flow("benchmark-with-markup", "{tmp}/c.yaml",
         files={"c.yaml": files_config(benchmark="'[/bold]'")},
         expect=("[ingest] data.benchmark", "'[/bold]' is not a ticker")),
    flow("dates-without-data", "{tmp}/c.yaml", "--start", "2020-01-01", "--end", "2020-02-01",
         files={"c.yaml": files_config()}, expect=("[ingest] data.start, data.end", "covers")),
    flow("risk-free-file-missing", "{tmp}/c.yaml",
         files={"c.yaml": files_config(extra="  risk_free_path: {tmp}/rf.csv\n")},
         expect=("[ingest] data.risk_free_path", "no such file")),
    flow("risk-free-daily-without-file", "{tmp}/c.yaml",
         files={"c.yaml": files_config(extra="  risk_free_frequency: daily\n")},
         expect=("[ingest] data.risk_free_frequency",)),
    flow("sample-dates-without-data", "default", "--strategy", "hedge", "--start", "1900-01-02",
         "--end", "1900-06-30", expect=("[ingest] data.start, data.end",)),
    flow("store-unwritable", "default", "--strategy", "hedge", "--store", "/proc/portflow",
         expect=("[store] root", "cannot write file:///proc/portflow")),
    # A later stage: what ingest committed stays (it is valid), the failed stage has nothing.
    flow("interior-gap", "{tmp}/c.yaml", files={"c.yaml": files_config()},
         panel=PANEL.replace("2018-11-02,AAA,10.5,100\n", ""),
         expect=("[prices] prices.missing", "missing prices"), after_ingest=True),
]
# fmt: on


@pytest.fixture
def workspace(tmp_path):
    """The case's folder: a file where a folder should be, and stores to read from (a
    healthy one, an empty one, one with damaged data, one with a garbage manifest)."""
    (tmp_path / "file").write_text("not a folder")
    frame = pd.DataFrame(
        {"AAA": np.arange(3.0)}, index=pd.bdate_range("2020-01-01", periods=3, name="date")
    )
    now = pd.Timestamp("2026-01-02", tz="UTC").to_pydatetime()
    record = RunRecord(
        run_id="feedbeef",
        config_name="x",
        config={},
        started_at=now,
        finished_at=now,
        stages=[{"stage": "prices", "status": "computed", "version": VERSION}],
    )
    for name in ("store", "empty_store", "damaged_store", "garbage_store"):
        artifacts = ArtifactStore(str(tmp_path / name))
        artifacts.save("prices", frame, version=VERSION, params={"missing": "error"})
        if name != "empty_store":
            artifacts.save_run(record)
    version = tmp_path / "damaged_store" / "prices" / VERSION
    data = bytearray((version / "data.parquet").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (version / "data.parquet").write_bytes(bytes(data))
    (tmp_path / "garbage_store" / "prices" / VERSION / "manifest.json").write_text("{garbage")
    return tmp_path


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every file and folder under ``root``, files with their size and modification time."""
    return {
        str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) if p.is_file() else ()
        for p in sorted(root.rglob("*"))
    }


def prepare(case: Case, workspace: Path) -> list[str]:
    """Write the case's files and return its arguments, placeholders filled in."""
    fill = {
        "tmp": str(workspace),
        **{n: str(workspace / n) for n in ("store", "empty_store", "damaged_store")},
        "garbage_store": str(workspace / "garbage_store"),
    }
    for name, text in case.files.items():
        (workspace / name).write_bytes(
            text.replace("{tmp}", str(workspace)).encode("utf-8", "surrogateescape")
        )
    return [arg.format(**fill) for arg in case.args]


def check(case: Case, code: int, output: str) -> None:
    """Exit code, the expected fragments, one message and no traceback."""
    assert code == case.code, output
    assert "Traceback" not in output, output
    for fragment in case.expect:
        assert fragment in output, f"{fragment!r} not in:\n{output}"
    if case.code == 1:
        (message,) = [line for line in output.splitlines() if line.startswith(("error ", "inv"))]
        assert "Fix" in message, output  # the whole message on one line: never wrapped
        assert case.expect[0] in message
    else:
        assert "Error: " in output and "╭" not in output  # a plain usage error, no box


@pytest.mark.parametrize("case", [c for c in CASES if not c.flow], ids=lambda c: c.id)
def test_bad_input_fails_before_prefect(case, workspace, monkeypatch):
    def trap(**kwargs):
        raise AssertionError("this input reached Prefect")

    if not case.env:
        monkeypatch.setattr(prefect_server, "prefect_api", trap)
    monkeypatch.chdir(ROOT)
    args = prepare(case, workspace)
    before = snapshot(workspace)
    result = CliRunner().invoke(app, args, env=case.env or None)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    check(case, result.exit_code, result.output)
    assert snapshot(workspace) == before  # no store created, none changed


@pytest.fixture(scope="module")
def pipeline_imported(prefect_harness):
    """The flows imported outside CliRunner: Prefect configures its terminal logging on
    the first import, and must not bind it to one invocation's captured stderr."""
    import flows.pipeline  # noqa: F401


@pytest.mark.parametrize("case", [c for c in CASES if c.flow], ids=lambda c: c.id)
def test_bad_data_fails_inside_the_flow_with_one_line(case, workspace, pipeline_imported):
    args = prepare(case, workspace)
    if "--store" not in args:
        args += ["--store", str(workspace / "new_store")]
    before = snapshot(workspace)
    result = CliRunner().invoke(app, args)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    check(case, result.exit_code, result.output)
    if not case.after_ingest:
        assert snapshot(workspace) == before
        return
    written = ArtifactStore(str(workspace / "new_store"))
    assert written.stages() == ["market_data", "risk_free_source"]
    verify = CliRunner().invoke(app, ["store", "verify", "--store", written.url])
    assert verify.exit_code == 0, verify.output


def test_there_are_enough_cases():
    assert len(CASES) >= 60 and len({c.id for c in CASES}) == len(CASES)


def portflow(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(PORTFLOW), *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_as_a_process_a_data_error_is_one_line_without_prefect_tracebacks(
    workspace, prefect_harness
):
    """What a terminal shows: Prefect logs the failed task and flow runs, but for a user
    error without their tracebacks and without repeating the error; portflow prints it
    once. With --debug, the tracebacks are back."""
    (workspace / "panel.csv").write_text("date,ticker,close\n")
    (workspace / "c.yaml").write_text(files_config().replace("{tmp}", str(workspace)))
    store = str(workspace / "new_store")
    done = portflow("run", str(workspace / "c.yaml"), "--store", store)
    assert done.returncode == 1, done.stderr
    output = done.stdout + done.stderr
    assert "Traceback" not in output
    assert output.count("has no rows") == 1, output
    assert done.stderr.splitlines()[-1].startswith("error [ingest] data.path: panel.csv has no")
    assert not Path(store).exists()


def test_prefect_logs_a_user_error_without_its_traceback_and_a_bug_with_it(monkeypatch):
    """The filter on Prefect's run loggers: a PortflowError loses its traceback and is
    marked (also the later lines that repeat it); a bug keeps it; --debug keeps all."""
    import logging

    from portflow.errors import DataError, UserErrorTraceback

    def record(error=None, message="Task run failed with exception"):
        exc_info = (type(error), error, None) if error else None
        return logging.LogRecord("prefect.task_runs", 40, "", 0, message, (), exc_info)

    quiet = UserErrorTraceback()
    user = record(DataError("ingest", "data.path", "empty", "give rows"))
    assert quiet.filter(user) and user.exc_info is None and user.user_error
    later = record(message="Finished in state Failed('[ingest] data.path: empty. Fix: give rows')")
    assert quiet.filter(later) and later.user_error
    bug = record(ZeroDivisionError("division by zero"))
    assert quiet.filter(bug) and bug.exc_info is not None and not hasattr(bug, "user_error")
    monkeypatch.setenv("PORTFLOW_DEBUG", "1")
    debug = record(DataError("ingest", "data.path", "empty", "give rows"))
    assert quiet.filter(debug) and debug.exc_info is not None


def test_as_a_process_usage_and_markup(workspace):
    """A usage error is plain text (no box); a message with Rich markup characters in a
    name, longer than any terminal, is printed verbatim on one line."""
    typo = portflow("run", "default", "--strategy", "hedgee")
    assert typo.returncode == 2 and "Traceback" not in typo.stderr
    assert "Error: Invalid value for '--strategy'" in typo.stderr and "╭" not in typo.stderr
    name = "[bold]" + "x" * 150 + "[/bold]"
    (workspace / "c.yaml").write_text(f"name: n\nbogus_{name}: 1\n")
    bad = portflow("run", str(workspace / "c.yaml"), COLUMNS="60")
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert f"bogus_{name}: unknown key" in bad.stderr
