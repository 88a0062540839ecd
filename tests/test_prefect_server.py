"""portflow.prefect_server: a configured or running server is used as it is; a temporary one
answers, and no server outlives its parent however the parent ends (leaving the block, an
exception, SIGINT, SIGTERM, SIGHUP, SIGKILL), checked in the process table."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import textwrap
import time
import uuid

import pytest
from marked_processes import MARKER, marked, still_there

from portflow import prefect_server
from portflow.prefect_server import (
    PrefectUnavailable,
    ServerProcess,
    health,
    prefect_api,
    running_server,
    save_template,
)


@pytest.fixture
def marker(monkeypatch):
    """A marker in the environment of every process started by the test; whatever still
    carries it at the end is killed (and the test has failed already)."""
    value = uuid.uuid4().hex
    monkeypatch.setenv(MARKER, value)
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    yield value
    for pid in marked(value):
        os.kill(pid, signal.SIGKILL)


def test_a_configured_server_that_does_not_answer_is_one_line_at_once(monkeypatch):
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")
    started = time.monotonic()
    with pytest.raises(PrefectUnavailable) as error, prefect_api():
        pass
    assert time.monotonic() - started < 15
    assert (error.value.stage, error.value.field) == ("prefect", "PREFECT_API_URL")
    assert "\n" not in str(error.value) and "portflow serve" in error.value.fix


def test_the_configured_or_a_running_server_is_used_and_none_is_started(
    prefect_harness, marker, monkeypatch
):
    url = prefect_harness.url
    monkeypatch.setenv("PREFECT_API_URL", url)
    with prefect_api() as api:
        assert (api.kind, api.url, api.server) == ("configured", url, None)
    assert running_server(url) and not running_server("http://127.0.0.1:9/api")
    monkeypatch.delenv("PREFECT_API_URL")
    monkeypatch.setattr(prefect_server, "SERVE_URL", url)
    with prefect_api(discover=True) as api:  # nothing configured: a running one is found
        assert (api.kind, api.url) == ("running", url)
        assert os.environ["PREFECT_API_URL"] == url
    assert "PREFECT_API_URL" not in os.environ
    assert marked(marker) == []


def test_a_temporary_server_answers_and_is_gone_after_the_block(marker):
    with prefect_api(discover=False) as api:
        assert api.kind == "temporary"
        assert os.environ["PREFECT_API_URL"] == api.url
        assert health(api.url, timeout=10) == ""
        run_dir = api.server.run_dir
        assert (run_dir / "prefect.db").is_file()
        assert marked(marker) == [api.server.process.pid]
    assert "PREFECT_API_URL" not in os.environ
    assert still_there(marker, 5) == []
    assert not run_dir.exists()


def test_an_exception_in_the_block_stops_the_server(marker):
    with pytest.raises(ZeroDivisionError), prefect_api(discover=False, wait=False):
        assert marked(marker)
        1 / 0  # noqa: B018
    assert still_there(marker, 5) == []


def test_a_server_that_exits_at_start_up_fails_at_once_with_its_reason(marker, tmp_path):
    env = {**os.environ, "PREFECT_SERVER_LOGGING_LEVEL": "LOUD"}  # not a level: exits at once
    server = ServerProcess(env, log=tmp_path / "server.log", stop_grace=0).start()
    with pytest.raises(PrefectUnavailable) as error:
        server.ready()
    message = str(error.value)
    assert "exited at start-up with code" in message and "\n" not in message
    assert "ValidationError" in message and "its log: " in message
    assert "portflow serve" in error.value.fix
    assert still_there(marker, 5) == []


def test_a_start_that_outlasts_its_budget_is_one_line_that_says_what_to_do(marker, monkeypatch):
    monkeypatch.setenv("PORTFLOW_PREFECT_STARTUP_TIMEOUT", "0.2")
    with pytest.raises(PrefectUnavailable) as error, prefect_api(discover=False):
        pass
    assert "did not answer within 0.2 s" in error.value.problem
    assert "PORTFLOW_PREFECT_STARTUP_TIMEOUT=600" in error.value.fix
    assert still_there(marker, 5) == []
    monkeypatch.setenv("PORTFLOW_PREFECT_STARTUP_TIMEOUT", "soon")
    with pytest.raises(PrefectUnavailable, match="'soon' is not a number of seconds"):
        prefect_server.startup_budget()


def test_a_taken_port_is_an_os_error_before_anything_starts(marker):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        server = ServerProcess(dict(os.environ), port=sock.getsockname()[1])
        with pytest.raises(OSError):
            server.start()
    assert server.process is None and marked(marker) == []


def test_template_is_a_consistent_copy_and_replaces_other_versions(tmp_path, monkeypatch):
    monkeypatch.setenv("PORTFLOW_CACHE_DIR", str(tmp_path / "cache"))
    database = tmp_path / "prefect.db"
    with sqlite3.connect(database) as db:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE alembic_version (version_num TEXT)")
        db.execute("INSERT INTO alembic_version VALUES ('abc')")
    old = tmp_path / "cache" / "prefect-0.0.1-server.db"
    old.parent.mkdir()
    old.write_bytes(b"old")
    template = prefect_server.template_path()
    save_template(database, template)
    with sqlite3.connect(template) as db:
        assert db.execute("SELECT version_num FROM alembic_version").fetchall() == [("abc",)]
        assert db.execute("PRAGMA journal_mode").fetchone() == ("delete",)
    assert sorted(p.name for p in template.parent.iterdir()) == [template.name]


def test_run_directories_of_dead_parents_are_swept(tmp_path, monkeypatch):
    monkeypatch.setattr(prefect_server.tempfile, "gettempdir", lambda: str(tmp_path))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], **TEXT)
    stale = tmp_path / f"{prefect_server.RUN_DIR_PREFIX}{dead.stdout.strip()}-x1"
    mine = tmp_path / f"{prefect_server.RUN_DIR_PREFIX}{os.getpid()}-x2"
    for path in (stale, mine):
        path.mkdir()
    prefect_server._sweep_run_dirs()
    assert not stale.exists() and mine.exists()


TEXT = {"capture_output": True, "text": True, "check": True}

PARENT = textwrap.dedent(
    """
    import faulthandler, signal, sys, time
    from portflow.prefect_server import Terminated, prefect_api
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # where a hung parent is
    try:
        with prefect_api(discover=False, wait=False) as api:
            print("STARTED", flush=True)
            api.ready()
            print("READY", flush=True)
            time.sleep(600)
    except Terminated as end:
        sys.exit(end.exit_code)
    """
)


ENDINGS = [
    (signal.SIGTERM, "STARTED"),
    (signal.SIGINT, "STARTED"),
    (signal.SIGHUP, "STARTED"),
    (signal.SIGKILL, "STARTED"),
    (signal.SIGTERM, "READY"),
    (signal.SIGINT, "READY"),
    (signal.SIGKILL, "READY"),
]
"""How a parent ends: by which signal, and when: STARTED while its server starts (the
parent waits for it), READY while it serves. SIGKILL leaves the server's watchdog to act."""


def test_a_parent_ended_by_a_signal_leaves_no_server(monkeypatch):
    """Seven parents, each with its own marker, start their servers at once (so that the
    starts overlap); each is signalled at its moment, then none of their servers is left."""
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    parents = []
    try:
        for sig, when in ENDINGS:
            marker = uuid.uuid4().hex
            parent = subprocess.Popen(
                [sys.executable, "-c", PARENT],
                env={**os.environ, MARKER: marker},
                stdout=subprocess.PIPE,
                text=True,
                # pytest may ignore SIGINT in children; the parent must see it as a shell would
                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
            )
            parents.append((sig, when, marker, parent))
        codes = {}
        for sig, when, marker, parent in parents:
            for line in parent.stdout:
                if line.strip() == when:
                    break
            assert len(marked(marker)) == 2, (sig.name, when)  # the parent and its server
            parent.send_signal(sig)
        for sig, when, _, parent in parents:
            try:
                codes[sig.name, when] = parent.wait(timeout=60)
            except subprocess.TimeoutExpired:
                parent.send_signal(signal.SIGUSR1)  # its threads' stacks, on stderr
                time.sleep(2)
                pytest.fail(f"the parent ended by {sig.name} at {when} still runs after 60 s")
        left = {(sig.name, when): still_there(marker, 30) for sig, when, marker, _ in parents}
        assert left == {(sig.name, when): [] for sig, when, _, _ in parents}, "servers outlived"
        for (name, when), code in codes.items():
            if name in ("SIGTERM", "SIGHUP"):  # Terminated: clean-up ran, then 128 + signal
                assert code == 128 + signal.Signals[name], (name, when)
    finally:
        for _, _, marker, parent in parents:
            parent.kill()
            parent.wait()
            parent.stdout.close()
            for pid in marked(marker):
                os.kill(pid, signal.SIGKILL)
