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
import gc
import json
import logging
import os
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Literal, NoReturn, get_args

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text
from typer.core import TyperGroup

from portflow.config import (
    KNOBS,
    STRATEGIES,
    ConfigError,
    PipelineConfig,
    load_config,
    yaml_value,
)
from portflow.config import with_overrides as config_with_overrides
from portflow.config.optimization import TaskRunnerConfig
from portflow.errors import ArtifactError, PortflowError
from storage import ArtifactRef, ArtifactStore, RunRecord, check_name

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


StoreOptionsOption = Annotated[
    list[str] | None,
    typer.Option(
        "--store-option",
        metavar="KEY=VALUE",
        help="An fsspec storage option of the store (repeatable; VALUE read as YAML), e.g. "
        "endpoint_url=http://127.0.0.1:9000. Never written into run records or manifests.",
    ),
]


def store_options(values: list[str] | None) -> dict[str, Any]:
    """``--store-option KEY=VALUE`` pairs as fsspec options (VALUE read as YAML); a pair
    without '=' or with a VALUE that is not YAML is a usage error (exit 2)."""
    options = {}
    for pair in values or []:
        key, value = _assignment(pair, "--store-option")
        options[key] = value
    return options


def _assignment(pair: str, flag: str) -> tuple[str, Any]:
    """``KEY=VALUE`` -> (KEY, VALUE read as YAML), or a usage error naming ``flag``."""
    key, sep, text = pair.partition("=")
    if not sep or not key.strip():
        raise typer.BadParameter(f"expected KEY=VALUE, got {pair!r}", param_hint=f"'{flag}'")
    try:
        return key.strip(), yaml_value(text)
    except ValueError as error:
        raise typer.BadParameter(f"{key}: {error}", param_hint=f"'{flag}'") from None


def _warn(message: str) -> None:
    """One warning line on stderr, printed verbatim (no markup)."""
    errors.print(Text(f"warning: {message}"), highlight=False, soft_wrap=True)


def _say(line: str, style: str | None = None) -> None:
    """One line on stdout, printed verbatim (no markup, no wrapping)."""
    console.print(Text(line, style=style or ""), highlight=False, soft_wrap=True)


def _existing_store(root: str, options: list[str] | None = None) -> ArtifactStore:
    """The store at ``root`` (with its ``--store-option`` pairs) for a read-only command:
    one error line if it does not exist (nothing is created)."""
    store = ArtifactStore(root, store_options(options))
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
    overrides: dict[str, Any] | None = None,
) -> PipelineConfig:
    """The config of a run, as the flow will build it: the config's own errors are user
    errors (exit 1); a value of an option (or of a ``--set`` path) that the schema rejects
    is a usage error (exit 2, naming the option and the config field)."""
    settings = load_config(config)
    given = {name: value for name, value in knobs.items() if value is not None}
    try:
        return config_with_overrides(
            settings,
            start=start,
            end=end,
            strategies=strategies,
            settings={KNOBS[name]: value for name, value in given.items()} | (overrides or {}),
        )
    except ConfigError as error:
        fields = {KNOBS[name]: OPTIONS[name] for name in given}
        fields |= {path: _override_flag(path) for path in overrides or {}}

        def option(location: str) -> str:
            if location == "strategies":
                return "--strategy"
            for path, flag in reversed(fields.items()):
                if location == path or f"{location}.".startswith(f"{path}."):
                    return flag
                if path.startswith(f"{location}."):  # a section on the path is missing
                    return flag
            if start is None and end is None:  # another field of a section that was set
                shared = [
                    (len(os.path.commonprefix([path.split("."), location.split(".")])), flag)
                    for path, flag in fields.items()
                ]
                if shared and max(shared)[0] > 0:
                    return max(shared)[1]
            return "--start/--end"

        grouped: dict[tuple[str, str], list[str]] = {}
        for location, problem in error.issues:
            key = (option(location), problem.removeprefix("Value error, "))
            grouped.setdefault(key, []).append(location)
        hint = " / ".join(dict.fromkeys(f"'{flag}'" for flag, _ in grouped))
        problems = "; ".join(f"{', '.join(at)}: {problem}" for (_, problem), at in grouped.items())
        raise typer.BadParameter(f"{problems} (config {settings.name})", param_hint=hint) from None


RUNNER_PATH = "optimization.runner.kind"
"""The config field ``--runner`` sets."""

Runner = Enum(
    "Runner",
    {kind: kind for kind in get_args(TaskRunnerConfig.model_fields["kind"].annotation)},
    type=str,
)
"""The task runners of the optimization sweep, as the config schema allows them."""


def _override_flag(path: str) -> str:
    return "--runner" if path == RUNNER_PATH else f"--set {path}"


def run_overrides(assignments: list[str] | None, runner: Runner | None) -> dict[str, Any]:
    """``--set PATH=VALUE`` pairs (VALUE read as YAML) and ``--runner`` as dotted config
    paths, in the order the flow applies them (``--runner`` last)."""
    overrides = dict(_assignment(pair, "--set") for pair in assignments or [])
    for path in overrides:
        if path == "store.options" or path.startswith("store.options."):
            raise typer.BadParameter(
                f"{path}: give store options with --store-option KEY=VALUE (a secret "
                "parameter of the flow; --set values are shown in Prefect's UI)",
                param_hint="'--set'",
            )
    if runner is not None:
        overrides[RUNNER_PATH] = runner.value
    return overrides


def quiet_dask() -> None:
    """Dask's distributed logs at WARNING (its scheduler and workers print dozens of INFO
    lines per cluster), in this process and the worker processes it starts, and Prefect's
    Dask runner's own (a dashboard link even when the dashboard is off), unless
    ``--debug``."""
    if _debug():
        return
    os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "warning")  # read by every worker
    for name in ("distributed", "prefect.task_runner.dask"):
        logging.getLogger(name).setLevel(logging.WARNING)


def writable_store(root: str, options: dict[str, Any] | None = None) -> ArtifactStore:
    """The store a run writes to, checked before anything starts: an unknown fsspec
    protocol, an object store that cannot be reached (endpoint, credentials), or a local
    root inside a file or a folder this user cannot write, is an ArtifactError. Nothing is
    created."""
    from fsspec.implementations.local import LocalFileSystem

    store = ArtifactStore(root, options)
    if not isinstance(store.fs, LocalFileSystem):
        store.reachable()  # a wrong endpoint or credentials fail here, before Prefect
    else:
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
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            metavar="PATH=VALUE",
            help="Set a config field by its dotted YAML path (repeatable; VALUE read as "
            "YAML), e.g. optimization.sweep.gammas=[1,5]: the same versions as that YAML edit.",
        ),
    ] = None,
    runner: Annotated[
        Runner | None,
        typer.Option(help="Task runner of the optimization sweep (optimization.runner.kind)."),
    ] = None,
    store: Annotated[
        str | None,
        typer.Option("--store", envvar="PORTFLOW_STORE", help="Override the config's store.root."),
    ] = None,
    store_option: StoreOptionsOption = None,
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
    overrides = run_overrides(set_, runner)
    settings = run_settings(config, **parameters, knobs=knobs, overrides=overrides)
    options = store_options(store_option)
    artifact_store = writable_store(
        store or settings.store.root, {**settings.store.options, **options}
    )

    from portflow.prefect_server import prefect_api

    with prefect_api(wait=False) as api:  # a temporary server starts during the imports
        with modules_loading():
            from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

            from flows.pipeline import pipeline
            from portflow.progress import terminal_progress

        quiet_dask()  # after Prefect's logging set-up, which resets its loggers' levels
        api.ready()
        with (
            temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}),
            terminal_without_user_errors(),
            terminal_progress(errors),
        ):
            record = pipeline(
                config=config,
                **parameters,
                **knobs,
                overrides=overrides or None,
                store_root=store,
                store_options=_secret(options),
            )
    print_run(artifact_store, record)
    _say(f"Report: {artifact_store.report_url(record.run_id)}")


@contextmanager
def modules_loading() -> Iterator[None]:
    """Python's cyclic garbage collector off while modules load: imports make many objects
    and few cycles, and collecting them cost 13% of ``import flows.pipeline`` on a 2-core
    machine."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _secret(options: dict[str, Any]) -> Any:
    """Store options as the flow's secret parameter: a JSON object that Prefect's API and
    UI show as stars (the credentials never reach its database)."""
    from pydantic import SecretStr

    return SecretStr(json.dumps(options)) if options else None


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
    store_option: StoreOptionsOption = None,
) -> None:
    """List artifact versions, oldest first (unreadable ones are skipped with a warning)."""
    manifests = _existing_store(store, store_option).manifests(stage, warn=_warn)
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
        str,
        typer.Argument(
            help="STAGE (as the latest run has it) or STAGE@VERSION (a prefix will do)."
        ),
    ],
    store: StoreOption = "artifacts",
    scope: Annotated[
        str | None,
        typer.Option(
            help="The scope (universe) of STAGE, when the run holds several versions of it "
            "(data, hedge.data...)."
        ),
    ] = None,
    run_id: Annotated[
        str | None,
        typer.Option("--run", help="Take STAGE from this run (default: the latest that has it)."),
    ] = None,
    rows: Annotated[int, typer.Option(min=0, help="Rows of data to print.")] = 5,
    store_option: StoreOptionsOption = None,
) -> None:
    """Print an artifact's manifest and the first rows of its data.

    STAGE alone is the version the latest run holding it recorded; when that run holds
    several versions (one per universe), --scope chooses one and the error lists them.
    A stage no run recorded is its latest version in the store.
    """
    artifact_store = _existing_store(store, store_option)
    ref = stage_in_runs(artifact_store, spec, scope=scope, run_id=run_id)
    manifest = artifact_store.manifest(ref)
    frame = artifact_store.load(ref)
    console.print_json(manifest.model_dump_json())
    _say(frame.head(rows).to_string())


def stage_in_runs(
    store: ArtifactStore, spec: str, *, scope: str | None, run_id: str | None
) -> ArtifactRef:
    """The version ``artifacts show`` prints: ``STAGE@VERSION`` as given; ``STAGE`` as the
    run (``--run``, else the latest run holding it) recorded it, under ``--scope`` when the
    run holds several; else the latest version in the store."""
    from portflow.api import stage_ref

    if "@" in spec:
        if scope is not None or run_id is not None:
            raise typer.BadParameter(
                "STAGE@VERSION names one version: leave out --scope and --run",
                param_hint="'--scope' / '--run'",
            )
        return store.resolve(spec, warn=_warn)
    check_name("stage", spec)
    if run_id is not None:
        return stage_ref(store.run(run_id, warn=_warn), spec, scope)
    holding = [r for r in store.runs(warn=_warn) if any(s["stage"] == spec for s in r.stages)]
    if holding:
        return stage_ref(holding[-1], spec, scope)
    if scope is not None:
        raise ArtifactError(
            spec, "scope", "no run records this stage", "leave out --scope, or run the pipeline"
        )
    return store.resolve(spec, warn=_warn)


@app.command()
def report(
    run_id: Annotated[
        str | None, typer.Argument(help="Run id (a unique prefix will do); default: the latest.")
    ] = None,
    store: StoreOption = "artifacts",
    out: Annotated[Path | None, typer.Option(help="Also write the HTML to this file.")] = None,
    store_option: StoreOptionsOption = None,
) -> None:
    """Write the self-contained HTML report of a run (figures and tables) into the store."""
    artifact_store = _existing_store(store, store_option)
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
def runs_list(store: StoreOption = "artifacts", store_option: StoreOptionsOption = None) -> None:
    """List pipeline runs, oldest first (unreadable records are skipped with a warning)."""
    records = _existing_store(store, store_option).runs(warn=_warn)
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
    as_json: Annotated[
        bool, typer.Option("--json", help="The whole run record as JSON (for scripts).")
    ] = False,
    store_option: StoreOptionsOption = None,
) -> None:
    """Print a run: its config, dates and strategies, and every stage with its scope,
    version, whether it was computed or reused and how long it took."""
    record = _existing_store(store, store_option).run(run_id, warn=_warn)
    if as_json:
        console.print_json(json.dumps(record.model_dump(mode="json")))
        return
    print_run_record(record)


def print_run_record(record: RunRecord) -> None:
    """A run record as two tables: the run (id, config, dates, status, strategies), then
    its stages."""
    from portflow.api import run_strategies

    computed = sum(s["status"] == "computed" for s in record.stages)
    about = Table.grid(padding=(0, 2))
    about.add_column(style="bold")
    about.add_column()
    seconds = (record.finished_at - record.started_at).total_seconds()
    for name, value in [
        ("run", record.run_id),
        ("config", record.config_name),
        ("started (UTC)", f"{record.started_at:%Y-%m-%d %H:%M:%S}"),
        ("finished (UTC)", f"{record.finished_at:%Y-%m-%d %H:%M:%S} ({seconds:.1f} s)"),
        (
            "status",
            f"completed: {len(record.stages)} stages, {computed} computed, "
            f"{len(record.stages) - computed} reused",
        ),
        ("strategies", ", ".join(run_strategies(record)) or "none (shared stages only)"),
    ]:
        about.add_row(Text(name), Text(value))
    console.print(about)
    rows = [
        [
            s.get("scope", ""),
            s["stage"],
            s["version"][:12],
            s.get("rows", ""),
            s["status"],
            f"{s['seconds']:.2f}" if "seconds" in s else "",
        ]
        for s in record.stages
    ]
    console.print(_table("stages", ["scope", "stage", "version", "rows", "status", "s"], rows))


@runs_app.command("diff")
def runs_diff(
    run_a: Annotated[str, typer.Argument(metavar="A", help="Run id (a unique prefix will do).")],
    run_b: Annotated[str, typer.Argument(metavar="B", help="Run id (a unique prefix will do).")],
    store: StoreOption = "artifacts",
    store_option: StoreOptionsOption = None,
) -> None:
    """Compare two runs: config differences (dotted paths, A -> B), the stages whose
    version differs (or that only one run has), and their headline figures side by side."""
    from portflow.api import Store

    print_run_diff(Store(_existing_store(store, store_option)).diff(run_a, run_b))


def _value(value: object) -> str:
    if value is None:
        return "-"
    return json.dumps(value) if isinstance(value, list | dict) else str(value)


def print_run_diff(diff) -> None:
    """The three tables of a :class:`portflow.api.RunDiff`."""
    a, b = diff.a.record, diff.b.record
    name_a, name_b = f"A {a.run_id[:8]}", f"B {b.run_id[:8]}"
    _say(f"A: run {a.run_id} ({a.config_name}, {a.started_at:%Y-%m-%d %H:%M})")
    _say(f"B: run {b.run_id} ({b.config_name}, {b.started_at:%Y-%m-%d %H:%M})")
    if diff.config.empty:
        _say("config: the same")
    else:
        rows = [[r.path, _value(r.a), _value(r.b)] for r in diff.config.itertuples()]
        console.print(_table("config differences (A -> B)", ["path", name_a, name_b], rows))
    if diff.versions.empty:
        _say("stages: the same versions")
    else:
        rows = [
            [r.scope, r.stage, (r.a or "(not in A)")[:12], (r.b or "(not in B)")[:12]]
            for r in diff.versions.itertuples()
        ]
        console.print(
            _table(
                f"stages whose version differs ({len(rows)})",
                ["scope", "stage", name_a, name_b],
                rows,
            )
        )
    rows = [
        [r.strategy, r.a or "(not run)", r.b or "(not run)"] for r in diff.headlines.itertuples()
    ]
    if rows:
        console.print(_table("headline figures", ["strategy", name_a, name_b], rows))


@store_app.command("verify")
def store_verify(
    store: StoreOption = "artifacts",
    store_option: StoreOptionsOption = None,
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

    artifact_store = _existing_store(store, store_option)
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
    store: Annotated[
        str | None,
        typer.Option(
            "--store",
            envvar="PORTFLOW_STORE",
            help="Artifact store the served deployments write to (their store_root, "
            "pre-filled in the run form); default: each config's store.root.",
        ),
    ] = None,
) -> None:
    """Serve the deployments of prefect.yaml with their schedules from this process.

    The server it starts keeps Prefect's own database (in PREFECT_HOME) and stops with this
    process, however it ends; `portflow run` finds it on 127.0.0.1:4200 and runs there.
    """
    if store is not None:
        writable_store(store)  # checked before anything starts
        os.environ["PORTFLOW_STORE"] = store  # also for runs whose form leaves it empty
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
                deployments_to_serve = runner_deployments(deployments or None, store_root=store)
            except ValueError as error:
                raise typer.BadParameter(str(error), param_hint="'DEPLOYMENTS'") from None
            prefect_serve(*deployments_to_serve)
        finally:
            if process is not None:
                process.stop()
