"""The ``portflow`` command line: run, serve, validate, and inspect artifacts and runs.

Exit codes: 0 success; 1 a user error (bad config or data, a missing or damaged artifact,
no Prefect server), printed as one message that names the stage, the field and the fix,
without a traceback (``--debug`` shows it); 2 wrong usage, including option values that
the config schema rejects (checked before any Prefect server starts); 128 + N when ended by
signal N (130 for Ctrl-C, 143 for SIGTERM), after stopping any server it started. A
traceback means a bug.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Literal, NoReturn

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text
from typer.core import TyperGroup

from portflow.config import KNOBS, STRATEGIES, ConfigError, PipelineConfig, load_config
from portflow.config import with_overrides as config_with_overrides
from portflow.errors import ArtifactError, PortflowError
from storage import ArtifactStore

# portflow works offline: no telemetry from the Prefect server it starts, unless asked.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")

console = Console()
errors = Console(stderr=True)


def _debug() -> bool:
    return bool(os.environ.get("PORTFLOW_DEBUG"))


def _fail(error: PortflowError | ConfigError) -> NoReturn:
    """The error as one message on stderr, verbatim (no markup, no wrapping); exit 1."""
    if _debug():
        traceback.print_exception(error)
    errors.print(Text.assemble(("error", "bold red"), " ", str(error)), soft_wrap=True)
    raise typer.Exit(1)


class _Commands(TyperGroup):
    """Every command ends a user error the same way: one message, exit 1, no traceback;
    a signal raised as an exception (SIGTERM, SIGHUP: ``prefect_server.Terminated``) exits
    with 128 + its number once clean-up ran."""

    def invoke(self, ctx: typer.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (PortflowError, ConfigError) as error:
            _fail(error)
        except KeyboardInterrupt as interrupt:
            raise typer.Exit(getattr(interrupt, "exit_code", 130)) from None


app = typer.Typer(
    cls=_Commands,
    help="portflow: a versioned research pipeline for portfolio strategies.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,  # usage errors as plain lines, never in a wrapped box
    pretty_exceptions_enable=False,  # a bug's traceback as Python prints it
)
artifacts_app = typer.Typer(help="List and inspect stored artifacts.", no_args_is_help=True)
runs_app = typer.Typer(help="List and inspect pipeline run records.", no_args_is_help=True)
store_app = typer.Typer(help="Check the artifact store's integrity.", no_args_is_help=True)
app.add_typer(artifacts_app, name="artifacts")
app.add_typer(runs_app, name="runs")
app.add_typer(store_app, name="store")


@app.callback()
def main(
    debug: Annotated[
        bool,
        typer.Option(
            "--debug",
            envvar="PORTFLOW_DEBUG",
            help="Show the traceback of a user error too (and Prefect's log of it).",
        ),
    ] = False,
) -> None:
    """portflow: a versioned research pipeline for portfolio strategies."""
    if debug:
        os.environ["PORTFLOW_DEBUG"] = "1"  # also read by the flow's log filter


StoreOption = Annotated[
    str,
    typer.Option(
        "--store", envvar="PORTFLOW_STORE", help="Artifact store root: a path or an fsspec URL."
    ),
]


def _warn(message: str) -> None:
    """One warning line on stderr, printed verbatim (no markup)."""
    errors.print(Text(f"warning: {message}"), highlight=False, soft_wrap=True)


def _say(line: str, style: str | None = None) -> None:
    """One line on stdout, printed verbatim (no markup, no wrapping)."""
    console.print(Text(line, style=style or ""), highlight=False, soft_wrap=True)


def _existing_store(root: str) -> ArtifactStore:
    """The store at ``root`` for a read-only command: one error line if it does not exist
    (nothing is created)."""
    store = ArtifactStore(root)
    store.require()
    return store


def _table(title: str, columns: list[str], rows: list[list[object]]) -> Table:
    """A Rich table of plain text: names from the store are never read as markup."""
    table = Table(title=Text(title))
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(Text(str(v)) for v in row))
    return table


def print_run(store: ArtifactStore, record) -> None:
    """The stage table of a run, then the result table of every strategy it ran."""
    from portflow.report.tables import result_tables

    rows = [
        [
            s.get("scope", ""),
            s["stage"],
            s["version"],
            s["rows"],
            s["status"],
            f"{s['seconds']:.2f}",
        ]
        for s in record.stages
    ]
    console.print(
        _table(
            f"run {record.run_id} — {record.config_name}",
            ["scope", "stage", "version", "rows", "status", "seconds"],
            rows,
        )
    )
    computed = sum(s["status"] == "computed" for s in record.stages)
    _say(f"{computed} computed, {len(rows) - computed} reused.\n")
    for table in result_tables(store, record):
        if not table.terminal:
            _say(f"{table.title}: in the HTML report.\n", style="bold")
            continue
        # Plain text, never wrapped: result tables are wider than most terminals.
        _say(table.title, style="bold")
        _say(table.frame.to_string())
        _say(f"{table.note} (from {table.source})\n", style="dim")


Strategy = Enum("Strategy", {name: name for name in STRATEGIES}, type=str)
"""The strategy names, as choices of ``--strategy`` (usage error otherwise)."""

AllocationRebalance = Literal["every_n_days", "weekly", "monthly", "never"]
"""The flow's ``allocation_rebalance`` choices."""

OPTIONS = {
    "hedge_beta_window": "--hedge-beta-window",
    "hedge_rebalance_every": "--hedge-rebalance-every",
    "allocation_rebalance": "--allocation-rebalance",
    "allocation_rebalance_every": "--allocation-rebalance-every",
    "tev_budgets": "--tev-budget",
    "risk_aversions": "--risk-aversion",
}
"""Flow parameter of :data:`portflow.config.KNOBS` -> the option of ``portflow run``."""


def run_settings(
    config: str,
    *,
    start: dt.date | None,
    end: dt.date | None,
    strategies: list[str] | None,
    knobs: dict[str, Any],
) -> PipelineConfig:
    """The config of a run, as the flow will build it: the config's own errors are user
    errors (exit 1); a value of an option that the schema rejects is a usage error (exit 2,
    naming the option and the config field)."""
    settings = load_config(config)
    given = {name: value for name, value in knobs.items() if value is not None}
    try:
        return config_with_overrides(
            settings,
            start=start,
            end=end,
            strategies=strategies,
            settings={KNOBS[name]: value for name, value in given.items()},
        )
    except ConfigError as error:
        fields = {KNOBS[name]: OPTIONS[name] for name in given}

        def option(location: str) -> str:
            if location == "strategies":
                return "--strategy"
            for path, flag in fields.items():
                if location == path or location.startswith(f"{path}."):
                    return flag
            return "--start/--end"

        grouped: dict[tuple[str, str], list[str]] = {}
        for location, problem in error.issues:
            key = (option(location), problem.removeprefix("Value error, "))
            grouped.setdefault(key, []).append(location)
        hint = " / ".join(dict.fromkeys(f"'{flag}'" for flag, _ in grouped))
        problems = "; ".join(f"{', '.join(at)}: {problem}" for (_, problem), at in grouped.items())
        raise typer.BadParameter(f"{problems} (config {settings.name})", param_hint=hint) from None


def writable_store(root: str) -> ArtifactStore:
    """The store a run writes to, checked before anything starts: an unknown fsspec
    protocol, or a local root inside a file or a folder this user cannot write, is an
    ArtifactError. Nothing is created."""
    from fsspec.implementations.local import LocalFileSystem

    store = ArtifactStore(root)
    if isinstance(store.fs, LocalFileSystem):
        path = Path(store.root)
        existing = next(p for p in (path, *path.parents) if p.exists())
        if not existing.is_dir():
            raise ArtifactError(
                "store", "root", f"{root} is inside {existing}, a file", "choose a directory"
            )
        if not os.access(existing, os.W_OK | os.X_OK):
            raise ArtifactError(
                "store",
                "root",
                f"cannot write in {existing}",
                "choose a writable --store (or store.root)",
            )
    return store


@contextmanager
def terminal_without_user_errors() -> Iterator[None]:
    """Leave Prefect's log lines of runs that failed with a user error out of the terminal
    (the command prints the error itself; the Prefect UI keeps them)."""
    handlers = logging.getLogger().handlers
    quiet = logging.Filter()
    quiet.filter = lambda record: not getattr(record, "user_error", False)
    for handler in handlers:
        handler.addFilter(quiet)
    try:
        yield
    finally:
        for handler in handlers:
            handler.removeFilter(quiet)


@app.command()
def run(
    config: Annotated[
        str, typer.Argument(help="Config name in configs/ (default, mag7) or a YAML path.")
    ],
    start: Annotated[
        dt.datetime | None,
        typer.Option(formats=["%Y-%m-%d"], help="First date of every data section."),
    ] = None,
    end: Annotated[
        dt.datetime | None,
        typer.Option(formats=["%Y-%m-%d"], help="Last date of every data section."),
    ] = None,
    strategy: Annotated[
        list[Strategy] | None,
        typer.Option(help="Run only this strategy (repeatable)."),
    ] = None,
    hedge_beta_window: Annotated[
        int | None, typer.Option(help="Trailing days of the hedge's rolling beta.")
    ] = None,
    hedge_rebalance_every: Annotated[
        int | None, typer.Option(help="Trading days between hedge rebalances.")
    ] = None,
    allocation_rebalance: Annotated[
        AllocationRebalance | None,
        typer.Option(help="Allocation rebalance schedule."),
    ] = None,
    allocation_rebalance_every: Annotated[
        int | None, typer.Option(help="Trading days between allocation rebalances.")
    ] = None,
    tev_budget: Annotated[
        list[float] | None,
        typer.Option(
            help="Tracking-error budget of the optimization sweep (repeatable; 0.02 = 2%)."
        ),
    ] = None,
    risk_aversion: Annotated[
        list[float] | None,
        typer.Option(help="Risk aversion gamma of the optimization sweep (repeatable)."),
    ] = None,
    store: Annotated[
        str | None,
        typer.Option("--store", envvar="PORTFLOW_STORE", help="Override the config's store.root."),
    ] = None,
) -> None:
    """Run the pipeline for CONFIG; stages whose inputs did not change are reused.

    The options are the parameters of the Prefect deployments, so a run from here and a
    run triggered from the UI with the same values produce the same artifact versions.

    Prefect: the server of PREFECT_API_URL, else a `portflow serve` running on
    127.0.0.1:4200 (PORTFLOW_PREFECT_DISCOVER=0: never), else a temporary server of this run
    (PORTFLOW_PREFECT_STARTUP_TIMEOUT: seconds it may take to start, default 300).
    """
    parameters = {
        "start": start.date() if start else None,
        "end": end.date() if end else None,
        "strategies": [s.value for s in strategy] if strategy else None,
    }
    knobs = {
        "hedge_beta_window": hedge_beta_window,
        "hedge_rebalance_every": hedge_rebalance_every,
        "allocation_rebalance": allocation_rebalance,
        "allocation_rebalance_every": allocation_rebalance_every,
        "tev_budgets": tev_budget,
        "risk_aversions": risk_aversion,
    }
    # Everything that can be checked is checked before a Prefect server starts.
    settings = run_settings(config, **parameters, knobs=knobs)
    artifact_store = writable_store(store or settings.store.root)

    from portflow.prefect_server import prefect_api

    with prefect_api(wait=False) as api:  # a temporary server starts during the imports
        from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

        from flows.pipeline import pipeline
        from portflow.progress import terminal_progress

        api.ready()
        with (
            temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}),
            terminal_without_user_errors(),
            terminal_progress(errors),
        ):
            record = pipeline(config=config, **parameters, **knobs, store_root=store)
    print_run(artifact_store, record)
    _say(f"Report: {artifact_store.report_url(record.run_id)}")


@app.command()
def validate(
    configs: Annotated[list[Path], typer.Argument(help="One or more YAML configs.")],
) -> None:
    """Check configs against the schema; print every error with its YAML path."""
    failed = False
    for path in configs:
        try:
            load_config(path)
            console.print(Text.assemble(("ok", "green"), f" {path}"), soft_wrap=True)
        except ConfigError as error:
            failed = True
            errors.print(Text.assemble(("invalid", "bold red"), f" {error}"), soft_wrap=True)
    if failed:
        raise typer.Exit(1)


@artifacts_app.command("list")
def artifacts_list(
    stage: Annotated[str | None, typer.Argument(help="Only this stage.")] = None,
    store: StoreOption = "artifacts",
) -> None:
    """List artifact versions, oldest first (unreadable ones are skipped with a warning)."""
    manifests = _existing_store(store).manifests(stage, warn=_warn)
    rows = [
        [
            m.stage,
            m.version,
            m.rows,
            m.columns,
            f"{m.created_at:%Y-%m-%d %H:%M:%S}",
            (m.run_id or "")[:8],
        ]
        for m in manifests
    ]
    console.print(
        _table(
            f"artifacts in {store}",
            ["stage", "version", "rows", "cols", "created (UTC)", "run"],
            rows,
        )
    )


@artifacts_app.command("show")
def artifacts_show(
    spec: Annotated[
        str, typer.Argument(help="STAGE (latest) or STAGE@VERSION (a prefix will do).")
    ],
    store: StoreOption = "artifacts",
    rows: Annotated[int, typer.Option(min=0, help="Rows of data to print.")] = 5,
) -> None:
    """Print an artifact's manifest and the first rows of its data."""
    artifact_store = _existing_store(store)
    ref = artifact_store.resolve(spec, warn=_warn)
    manifest = artifact_store.manifest(ref)
    frame = artifact_store.load(ref)
    console.print_json(manifest.model_dump_json())
    _say(frame.head(rows).to_string())


@app.command()
def report(
    run_id: Annotated[
        str | None, typer.Argument(help="Run id (a unique prefix will do); default: the latest.")
    ] = None,
    store: StoreOption = "artifacts",
    out: Annotated[Path | None, typer.Option(help="Also write the HTML to this file.")] = None,
) -> None:
    """Write the self-contained HTML report of a run (figures and tables) into the store."""
    artifact_store = _existing_store(store)
    runs = artifact_store.runs(warn=_warn)
    if run_id is None and not runs:
        raise PortflowError(
            "report",
            "run_id",
            f"no runs in {store}",
            "run the pipeline first: portflow run default",
        )
    record = artifact_store.run(run_id, warn=_warn) if run_id else runs[-1]
    from tasks.report import write_report

    with console.status("Rendering the report…"):
        url = write_report(artifact_store, record)
    if out is not None:
        try:
            out.write_text(artifact_store.fs.cat_file(url).decode())
        except OSError as error:
            raise PortflowError(
                "report", "--out", f"cannot write {out}: {error.strerror}", "give a writable file"
            ) from None
        url = str(out)
    _say(f"Report of run {record.run_id}: {url}")


@runs_app.command("list")
def runs_list(store: StoreOption = "artifacts") -> None:
    """List pipeline runs, oldest first (unreadable records are skipped with a warning)."""
    records = _existing_store(store).runs(warn=_warn)
    rows = [
        [
            r.run_id,
            r.config_name,
            f"{r.started_at:%Y-%m-%d %H:%M:%S}",
            sum(s["status"] == "computed" for s in r.stages),
            len(r.stages),
        ]
        for r in records
    ]
    console.print(
        _table(f"runs in {store}", ["run", "config", "started (UTC)", "computed", "stages"], rows)
    )


@runs_app.command("show")
def runs_show(
    run_id: Annotated[str, typer.Argument(help="Run id (a unique prefix will do).")],
    store: StoreOption = "artifacts",
) -> None:
    """Print a run record: its config and the version of every stage."""
    record = _existing_store(store).run(run_id, warn=_warn)
    console.print_json(json.dumps(record.model_dump(mode="json")))


@store_app.command("verify")
def store_verify(
    store: StoreOption = "artifacts",
    repair: Annotated[
        bool,
        typer.Option(
            "--repair",
            help="Move damaged versions and run records under _quarantine/ and remove "
            "temporary files and uncommitted versions left by dead writers.",
        ),
    ] = False,
) -> None:
    """Verify every version (manifest checksum, data size and sha256), every run record and
    every temporary file; one line per problem, then a summary.

    Exit code 0 when the store is clean (after repair, with --repair), 1 otherwise.
    """
    from storage.verify import repair_store, verify_store

    artifact_store = _existing_store(store)
    check = verify_store(artifact_store)
    for line in [*map(str, check.findings), check.summary()]:
        _say(line)
    if repair and not check.clean:
        for line in repair_store(check):
            _say(line)
        check = verify_store(artifact_store)
        for line in [*map(str, check.findings), f"after repair: {check.summary()}"]:
            _say(line)
    if not check.clean:
        raise typer.Exit(1)


@app.command()
def serve(
    deployments: Annotated[
        list[str] | None,
        typer.Argument(help="Deployment names from prefect.yaml; default: all of them."),
    ] = None,
    host: Annotated[str, typer.Option(help="Host of the local Prefect server.")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(min=1, max=65535, help="Port of the local Prefect server.")
    ] = 4200,
    server: Annotated[
        bool,
        typer.Option(
            help="Start a local Prefect server (UI at http://HOST:PORT) unless "
            "PREFECT_API_URL points at one already."
        ),
    ] = True,
) -> None:
    """Serve the deployments of prefect.yaml with their schedules from this process.

    The server it starts keeps Prefect's own database (in PREFECT_HOME) and stops with this
    process, however it ends; `portflow run` finds it on 127.0.0.1:4200 and runs there.
    """
    from portflow.prefect_server import (
        configured_api_url,
        lasting_server,
        signals_raise,
        wait_healthy,
    )

    with signals_raise():
        process = None
        url = configured_api_url()
        if url and wait_healthy(url, deadline=0, refused_for=0):
            raise PortflowError(
                "serve",
                "PREFECT_API_URL",
                f"{url} does not answer",
                "start that server, or unset PREFECT_API_URL to let portflow serve start one",
            )
        if server and not url:
            process = lasting_server(host, port)
            try:
                process.start()
            except OSError as error:
                where = f"http://{host}:{port}/api"
                raise PortflowError(
                    "serve",
                    "--port",
                    f"cannot listen on {host}:{port} ({error.strerror}; another server there?)",
                    f"stop it or choose another --port; to serve against a Prefect server "
                    f"that runs there: PREFECT_API_URL={where} portflow serve --no-server",
                ) from None
        try:
            if process is not None:
                os.environ["PREFECT_API_URL"] = url = process.ready()
                _say(f"Prefect UI: http://{host}:{port}")
            if url is None:
                raise PortflowError(
                    "serve",
                    "--no-server",
                    "no Prefect server to serve against",
                    "set PREFECT_API_URL to a running server, or leave out --no-server",
                )
            from prefect import serve as prefect_serve

            from flows.deployments import runner_deployments

            try:
                deployments_to_serve = runner_deployments(deployments or None)
            except ValueError as error:
                raise typer.BadParameter(str(error), param_hint="'DEPLOYMENTS'") from None
            prefect_serve(*deployments_to_serve)
        finally:
            if process is not None:
                process.stop()
