"""A Prefect API for one process: a running server if there is one, else a temporary one
that always stops.

``prefect_api()`` is what ``portflow run`` and the test session use. Inside it,
``PREFECT_API_URL`` points at a Prefect API that answers:

1. **Configured**: ``PREFECT_API_URL`` in the environment or the active Prefect profile. It
   must answer ``/health``, else one line says so; it is used as it is.
2. **Running**: else a ``portflow serve`` on http://127.0.0.1:4200/api (its default), if one
   answers at once and runs this Prefect version, so runs show in its UI.
   ``PORTFLOW_PREFECT_DISCOVER=0`` turns this off.
3. **Temporary**: else a server of this process's own, which Prefect's built-in ephemeral
   server is not on a loaded machine:

   * its own SQLite database in a directory of this process, so concurrent runs never
     contend for one file. It starts from a migrated template cached in
     ``~/.cache/portflow/`` (``PORTFLOW_CACHE_DIR``), keyed by the Prefect version, so it
     skips the migrations (about 4 s instead of 12 s on an idle 2-core machine);
   * its listening socket is bound here and inherited (no port race; requests wait in the
     socket's backlog until the server is up);
   * the start is awaited against a wall-clock budget (``PORTFLOW_PREFECT_STARTUP_TIMEOUT``,
     default 300 s), retrying every transient error (refused, reset, read time-outs, 5xx);
     a server that exits fails at once. ``wait=False`` lets the caller import its flows
     while the server starts (``api.ready()`` then waits);
   * it always stops: on leaving the block (normal exit, exceptions, SIGINT, and SIGTERM or
     SIGHUP, which are raised as :class:`Terminated` so that clean-up runs) its process
     group is killed; if this process is SIGKILLed, the server sees EOF on a watchdog pipe
     (and, on Linux, gets PR_SET_PDEATHSIG) and exits by itself.

Runs on a temporary server are not kept in Prefect's history (portflow's own run records
are, in the store): to see them in the Prefect UI, keep a ``portflow serve`` running.

:class:`ServerProcess` is also the server that ``portflow serve`` starts (on a fixed port,
with the UI and Prefect's own database), with the same guarantee that it never outlives
its parent.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from portflow.errors import PortflowError
from portflow.user_cache import cache_dir

STARTUP_TIMEOUT = 300.0
"""Seconds a temporary server may take to answer (``PORTFLOW_PREFECT_STARTUP_TIMEOUT``)."""

SERVE_HOST, SERVE_PORT = "127.0.0.1", 4200
SERVE_URL = f"http://{SERVE_HOST}:{SERVE_PORT}/api"
"""Where ``portflow serve`` listens by default, and where ``prefect_api`` looks for it."""

ONE_SERVER = f"start one server (`portflow serve`) and set PREFECT_API_URL={SERVE_URL}"

CHILD = Path(__file__).with_name("_prefect_server_child.py")
RUN_DIR_PREFIX = "portflow-prefect-run-"  # + "<pid>-<random>": what a SIGKILLed run leaves


class PrefectUnavailable(PortflowError):
    """No Prefect API could be reached or started; the message says what to do."""

    def __init__(self, field: str, problem: str, fix: str) -> None:
        super().__init__("prefect", field, problem, fix)


# -- health ---------------------------------------------------------------------------------
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy


def _get(url: str, timeout: float) -> bytes:
    with _OPENER.open(url, timeout=timeout) as response:
        return response.read()


def health(url: str, timeout: float) -> str:
    """``""`` when ``{url}/health`` answers 200, else why not (refused, time-out, HTTP 503)."""
    try:
        _get(f"{url.rstrip('/')}/health", timeout)
        return ""
    except urllib.error.HTTPError as error:  # 5xx while starting, 404 on a wrong URL
        return f"HTTP {error.code}"
    except (OSError, http.client.HTTPException) as error:  # refused, reset, time-outs
        reason = getattr(error, "reason", error)  # URLError wraps the socket error
        reason = reason if isinstance(reason, BaseException) else error
        return f"{type(reason).__name__}: {reason}".removesuffix(": ")[:160]


def wait_healthy(
    url: str,
    deadline: float,
    alive: Callable[[], bool] = lambda: True,
    refused_for: float | None = None,
) -> str:
    """Ask ``/health`` until it answers or ``deadline`` (monotonic) passes: ``""`` or why not.

    Every failure is retried (at least one attempt is made). ``alive`` false ends it at
    once; ``refused_for``: give up after that many seconds of refused connections (nothing
    listens there at all).
    """
    start = time.monotonic()
    while True:
        left = deadline - time.monotonic()
        why = health(url, timeout=max(1.0, min(10.0, left)))
        if not why:
            return ""
        if not alive():
            return "the server process exited"
        now = time.monotonic()
        refused = why.startswith("ConnectionRefusedError")
        if now >= deadline or (refused and refused_for is not None and now - start > refused_for):
            return why
        time.sleep(min(0.2, max(0.0, deadline - now)))


# -- configuration --------------------------------------------------------------------------
def prefect_setting(name: str) -> str | None:
    """A Prefect setting from the environment or the active profile of ``profiles.toml``.

    (Prefect also reads prefect.toml, .env and pyproject.toml; those are not consulted here,
    so that no Prefect import delays the server's start.)
    """
    if os.environ.get(name):
        return os.environ[name]
    path = Path(os.environ.get("PREFECT_PROFILES_PATH") or prefect_home() / "profiles.toml")
    try:
        import tomllib

        profiles = tomllib.loads(path.expanduser().read_text())
    except (OSError, ValueError):
        return None
    active = os.environ.get("PREFECT_PROFILE") or profiles.get("active") or ""
    value = profiles.get("profiles", {}).get(active, {}).get(name)
    return str(value) if value else None


def prefect_home() -> Path:
    """``PREFECT_HOME``, by default ``~/.prefect``."""
    return Path(os.environ.get("PREFECT_HOME") or "~/.prefect").expanduser()


def configured_api_url() -> str | None:
    """``PREFECT_API_URL`` from the environment or the active profile."""
    return prefect_setting("PREFECT_API_URL")


def discovery_enabled() -> bool:
    """Whether to look for a running ``portflow serve`` (``PORTFLOW_PREFECT_DISCOVER=0``: no)."""
    value = os.environ.get("PORTFLOW_PREFECT_DISCOVER", "1").strip().lower()
    return value not in {"0", "false", "no", "off"}


def startup_budget() -> float:
    """``PORTFLOW_PREFECT_STARTUP_TIMEOUT`` seconds, or :data:`STARTUP_TIMEOUT`."""
    value = os.environ.get("PORTFLOW_PREFECT_STARTUP_TIMEOUT")
    try:
        return float(value) if value else STARTUP_TIMEOUT
    except ValueError:
        raise PrefectUnavailable(
            "PORTFLOW_PREFECT_STARTUP_TIMEOUT",
            f"{value!r} is not a number of seconds",
            "set it to a number such as 600, or unset it",
        ) from None


def prefect_version() -> str:
    """The installed Prefect's version, read from its metadata (no import)."""
    from importlib.metadata import version

    return version("prefect")


def running_server(url: str) -> bool:
    """A Prefect server of this version answers at ``url`` at once."""
    if health(url, timeout=1.0):
        return False
    try:
        return json.loads(_get(f"{url}/admin/version", timeout=2.0)) == prefect_version()
    except (OSError, ValueError, http.client.HTTPException):
        return False


# -- the template database ------------------------------------------------------------------
def template_path() -> Path:
    """The cached database a fresh server of this Prefect version migrated, blocks included."""
    return cache_dir() / f"prefect-{prefect_version()}-server.db"


def save_template(database: Path, template: Path) -> None:
    """Copy a just-started server's database to ``template`` (SQLite's online backup, so the
    copy is consistent while the server runs), atomically; templates of other Prefect
    versions go. A cache: failing to write it costs only the next start's migrations."""
    import sqlite3

    temporary = template.with_name(f"{template.name}.{os.getpid()}.tmp")
    try:
        template.parent.mkdir(parents=True, exist_ok=True)
        source = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30)
        target = sqlite3.connect(temporary)
        with contextlib.closing(source), contextlib.closing(target):
            source.backup(target)
            target.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
        os.replace(temporary, template)
        for other in template.parent.glob("prefect-*-server.db"):
            if other != template:
                other.unlink(missing_ok=True)
    except (OSError, sqlite3.Error):
        with contextlib.suppress(OSError):
            temporary.unlink()


def _sweep_run_dirs() -> None:
    """Remove the run directories of temporary servers whose parent was SIGKILLed."""
    for path in Path(tempfile.gettempdir()).glob(f"{RUN_DIR_PREFIX}*-*"):
        pid = path.name.removeprefix(RUN_DIR_PREFIX).partition("-")[0]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(path, ignore_errors=True)
        except PermissionError:  # alive, someone else's
            pass


# -- the server process ---------------------------------------------------------------------
@dataclass
class ServerProcess:
    """A Prefect API server in a child process of its own session that cannot outlive this
    process.

    Parameters
    ----------
    env : dict
        The server's environment (its settings).
    host, port : str, int
        Where it listens; port 0 picks a free one.
    log : Path, optional
        File of the server's output; None: this process's terminal.
    log_level : str
        uvicorn's log level.
    startup_timeout : float
        Seconds the server may take to answer, from ``start()``.
    stop_grace : float
        Seconds between SIGTERM and SIGKILL at stop (0: SIGKILL at once, for a server whose
        database is thrown away).
    run_dir : Path, optional
        A directory of this server's (its database, its log), removed at stop.
    database, template : Path, optional
        Save the SQLite ``database`` as the ``template`` once the server answers.
    """

    env: dict[str, str]
    host: str = "127.0.0.1"
    port: int = 0
    log: Path | None = None
    log_level: str = "error"
    startup_timeout: float = field(default_factory=startup_budget)
    stop_grace: float = 10.0
    run_dir: Path | None = None
    database: Path | None = None
    template: Path | None = None
    process: subprocess.Popen | None = field(default=None, init=False)
    url: str = field(default="", init=False)
    started_at: float = field(default=0.0, init=False)
    ready_after: float | None = field(default=None, init=False)
    _watch: int | None = field(default=None, init=False, repr=False)

    def start(self) -> ServerProcess:
        """Bind the socket, spawn the server and return at once (``ready()`` waits).

        Raises
        ------
        OSError
            If ``host:port`` cannot be bound (taken, or not an address of this machine).
        """
        self.started_at = time.monotonic()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # not over a listener
            sock.bind((self.host, self.port))
            sock.listen(128)
        except OSError:
            sock.close()
            raise
        self.url = f"http://{self.host}:{sock.getsockname()[1]}/api"
        watch, self._watch = os.pipe()  # not inheritable: only the server gets `watch`
        # PR_SET_PDEATHSIG fires when the *thread* that forked exits: use it from main only.
        main_thread = threading.current_thread() is threading.main_thread()
        output = open(self.log, "ab") if self.log else None  # noqa: SIM115 - closed below
        try:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    str(CHILD),
                    f"--fd={sock.fileno()}",
                    f"--watch-fd={watch}",
                    f"--parent-pid={os.getpid()}",
                    f"--pdeathsig={int(main_thread)}",
                    f"--log-level={self.log_level}",
                ],
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT if output else None,
                pass_fds=(sock.fileno(), watch),
                start_new_session=True,  # its own process group, out of the terminal's SIGINT
            )
        finally:
            if output:
                output.close()
            os.close(watch)
            sock.close()  # the server holds it now: once it is gone, connects are refused
        return self

    def ready(self) -> str:
        """Wait until the server answers and return its API URL.

        Raises
        ------
        PrefectUnavailable
            If it exits or does not answer within the start-up budget (it is stopped).
        """
        if self.ready_after is None:
            deadline = self.started_at + self.startup_timeout
            why = wait_healthy(self.url, deadline, alive=lambda: self.process.poll() is None)
            if why:
                error = self._unavailable(why)  # reads the log before stop() removes it
                self.stop()
                raise error
            self.ready_after = time.monotonic() - self.started_at
            if self.template is not None and self.database is not None:
                save_template(self.database, self.template)
        return self.url

    def _unavailable(self, why: str) -> PrefectUnavailable:
        cause, kept = "", ""
        if self.log is not None and self.log.exists():
            lines = [line.strip() for line in self.log.read_text(errors="replace").splitlines()]
            raised = [line for line in lines if re.match(r"^[\w.]+(Error|Exception): ", line)]
            cause = (raised or [line for line in lines if line] or [""])[-1][:200]
            saved = Path(tempfile.gettempdir()) / f"portflow-prefect-server-{os.getpid()}.log"
            with contextlib.suppress(OSError):
                shutil.copyfile(self.log, saved)
                kept = f"; its log: {saved}"
        what = "the temporary Prefect server" if self.run_dir else f"the Prefect server {self.url}"
        field = "temporary server" if self.run_dir else "server"
        if why == "the server process exited":
            code = self.process.returncode if self.process else None
            problem = f"{what} exited at start-up with code {code}"
            return PrefectUnavailable(
                field, problem + (f" ({cause})" if cause else "") + kept, ONE_SERVER
            )
        return PrefectUnavailable(
            field,
            f"{what} did not answer within {self.startup_timeout:g} s ({why}; is the machine "
            f"overloaded?){kept}",
            f"{ONE_SERVER}, or allow a longer start with PORTFLOW_PREFECT_STARTUP_TIMEOUT=600",
        )

    def stop(self) -> None:
        """Stop the server's process group; idempotent, never raises."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            first = signal.SIGTERM if self.stop_grace > 0 else signal.SIGKILL
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, first)
            try:
                process.wait(timeout=self.stop_grace or 10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(process.pid, signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=10)
        if self._watch is not None:
            with contextlib.suppress(OSError):
                os.close(self._watch)
            self._watch = None
        if self.run_dir is not None:
            shutil.rmtree(self.run_dir, ignore_errors=True)
            self.run_dir = None


def temporary_server() -> ServerProcess:
    """A started server on a free port with a database of its own (from the template when
    there is one), no UI, and Prefect's ephemeral set of services."""
    budget = startup_budget()
    _sweep_run_dirs()
    run_dir = Path(tempfile.mkdtemp(prefix=f"{RUN_DIR_PREFIX}{os.getpid()}-"))
    database = run_dir / "prefect.db"
    env = {
        **os.environ,
        "PREFECT_UI_ENABLED": "0",
        "PREFECT_SERVER_UI_ENABLED": "0",
        "PREFECT__SERVER_EPHEMERAL": "1",
        "PREFECT__SERVER_FINAL": "1",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{database}",
        "PREFECT_SERVER_LOGGING_LEVEL": os.environ.get(
            "PORTFLOW_PREFECT_SERVER_LOG_LEVEL", "WARNING"
        ),
    }
    env.pop("PREFECT_API_URL", None)
    template = template_path()
    if template.is_file():
        shutil.copyfile(template, database)
        env["PREFECT_API_DATABASE_MIGRATE_ON_START"] = "false"
        env["PREFECT_API_BLOCKS_REGISTER_ON_START"] = "false"
        template = None  # nothing to save
    server = ServerProcess(
        env,
        log=run_dir / "server.log",
        startup_timeout=budget,
        stop_grace=0,
        run_dir=run_dir,
        database=database,
        template=template,
    )
    try:
        return server.start()
    except BaseException:
        server.stop()
        raise


def lasting_server(host: str, port: int) -> ServerProcess:
    """The server of ``portflow serve`` (not started): on ``host:port``, with the UI, every
    service and Prefect's own database (``$PREFECT_HOME/prefect.db`` unless a database is
    configured; a new one starts from the template), as ``prefect server start`` runs it."""
    env = {
        **os.environ,
        "PREFECT__SERVER_FINAL": "1",
        "PREFECT_SERVER_API_HOST": host,  # where the UI finds its API
        "PREFECT_SERVER_API_PORT": str(port),
    }
    env.pop("PREFECT_API_URL", None)
    configured = any(
        prefect_setting(name)
        for name in (
            "PREFECT_SERVER_DATABASE_CONNECTION_URL",
            "PREFECT_API_DATABASE_CONNECTION_URL",
        )
    )
    database = None if configured else prefect_home() / "prefect.db"
    fresh = database is not None and not database.exists()
    template = template_path()
    seeded = fresh and template.is_file()
    if seeded:
        database.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(template, database)
    saves = fresh and not seeded  # a new database that migrates: the next template
    return ServerProcess(
        env,
        host=host,
        port=port,
        log_level="warning",
        database=database if saves else None,
        template=template if saves else None,
    )


# -- the API of one process -----------------------------------------------------------------
@dataclass
class PrefectAPI:
    """What :func:`prefect_api` yields: where the API is and what kind it is."""

    url: str
    kind: Literal["configured", "running", "temporary"]
    server: ServerProcess | None = None
    _settings: contextlib.ExitStack = field(default_factory=contextlib.ExitStack, repr=False)

    def ready(self) -> str:
        """Wait for a temporary server (nothing to wait for otherwise) and point Prefect at
        the API: the environment (subprocesses, a later ``import prefect``) and, when Prefect
        is already imported, its settings (as ``prefect_test_harness`` does)."""
        if self.server is not None:
            self.url = self.server.ready()
        os.environ["PREFECT_API_URL"] = self.url
        no_ui = self.server is not None and "PREFECT_UI_URL" not in os.environ
        if no_ui:  # no "View at http://127.0.0.1:<port>/runs/…" links to a server without UI
            os.environ["PREFECT_UI_URL"] = ""
        if "prefect.settings" in sys.modules and not self._settings._exit_callbacks:
            import prefect.context
            from prefect.settings import PREFECT_API_URL, PREFECT_UI_URL, temporary_settings

            updates = {PREFECT_API_URL: self.url, **({PREFECT_UI_URL: ""} if no_ui else {})}
            self._settings.enter_context(temporary_settings(updates=updates))
            self._settings.enter_context(
                prefect.context._temporary_global_settings_context(
                    prefect.context.get_settings_context()
                )
            )
        return self.url


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP raised in the main thread, so that ``finally`` blocks run.

    A KeyboardInterrupt, so that pytest ends the session (running fixture teardown) rather
    than failing one test; the CLI exits with ``exit_code`` (128 + the signal).
    """

    def __init__(self, signum: int) -> None:
        super().__init__(f"signal {signum}")
        self.signum = signum
        self.exit_code = 128 + signum


@contextlib.contextmanager
def signals_raise() -> Iterator[None]:
    """Within the block (main thread only), SIGTERM and SIGHUP raise :class:`Terminated`
    once (a second signal does not interrupt the clean-up)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    raised: list[int] = []

    def handler(signum, frame):
        if not raised:
            raised.append(signum)
            raise Terminated(signum)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _drain_prefect_workers(timeout: float = 5.0) -> None:
    """Send buffered logs and events before the server stops (as prefect_test_harness does),
    so that nothing tries to reach a stopped server at exit."""
    if "prefect" not in sys.modules:
        return
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    workers = (APILogWorker, EventsWorker)
    for worker in workers:  # "Still processing items: N remaining…" is what draining is
        logging.getLogger(worker.__name__).setLevel(logging.ERROR)
    for worker in workers:
        with contextlib.suppress(Exception):  # what cannot be sent is lost, as at any exit
            worker.drain_all(timeout=timeout)


@contextlib.contextmanager
def prefect_api(*, discover: bool | None = None, wait: bool = True) -> Iterator[PrefectAPI]:
    """Yield a :class:`PrefectAPI`; with ``wait=False`` call ``api.ready()`` before the first
    flow (a temporary server then starts while the caller imports its flows).

    Parameters
    ----------
    discover : bool, optional
        Look for a running ``portflow serve`` on :data:`SERVE_URL`; None:
        ``PORTFLOW_PREFECT_DISCOVER`` (default yes).

    Raises
    ------
    PrefectUnavailable
        When no API can be reached or started (one line that says what to do).
    """
    discover = discovery_enabled() if discover is None else discover
    saved = {key: os.environ.get(key) for key in ("PREFECT_API_URL", "PREFECT_UI_URL")}
    with contextlib.ExitStack() as stack:
        stack.enter_context(signals_raise())
        configured = configured_api_url()
        if configured:
            why = wait_healthy(configured, time.monotonic() + 20, refused_for=2)
            if why:
                raise PrefectUnavailable(
                    "PREFECT_API_URL",
                    f"{configured} does not answer ({why})",
                    "start that server (`portflow serve`), or unset PREFECT_API_URL for a "
                    "temporary one",
                )
            api = PrefectAPI(configured, "configured")
        elif discover and running_server(SERVE_URL):
            api = PrefectAPI(SERVE_URL, "running")
        else:
            server = temporary_server()
            stack.callback(server.stop)
            api = PrefectAPI(server.url, "temporary", server)
        stack.enter_context(api._settings)
        try:
            if wait:
                api.ready()
            yield api
        finally:
            if api.server is None or api.server.ready_after is not None:
                _drain_prefect_workers()  # while the server still answers
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
