"""The ``portflow`` command line: run, validate, and inspect artifacts and runs.

Exit codes: 0 success, 1 a user error (bad config or data, missing artifact; the message
names the stage, the field and the fix), 2 wrong usage.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from portflow.config import ConfigError, load_config
from portflow.errors import PortflowError
from storage import ArtifactStore

# portflow works offline: no telemetry from the Prefect server it starts, unless asked.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")

app = typer.Typer(
    help="portflow: a versioned research pipeline for portfolio strategies.",
    no_args_is_help=True,
    add_completion=False,
)
artifacts_app = typer.Typer(help="List and inspect stored artifacts.", no_args_is_help=True)
runs_app = typer.Typer(help="List and inspect pipeline run records.", no_args_is_help=True)
app.add_typer(artifacts_app, name="artifacts")
app.add_typer(runs_app, name="runs")

console = Console()
errors = Console(stderr=True)

StoreOption = Annotated[
    str,
    typer.Option(
        "--store", envvar="PORTFLOW_STORE", help="Artifact store root: a path or an fsspec URL."
    ),
]


def _fail(error: Exception) -> None:
    errors.print(f"[bold red]error[/] {error}", highlight=False)
    raise typer.Exit(1)


def _table(title: str, columns: list[str], rows: list[list[object]]) -> Table:
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(str(v) for v in row))
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
    console.print(f"{computed} computed, {len(rows) - computed} reused.\n")
    for table in result_tables(store, record):
        if not table.terminal:
            console.print(f"[bold]{table.title}[/]: in the HTML report.\n")
            continue
        # Plain text, never wrapped: result tables are wider than most terminals.
        console.print(f"[bold]{table.title}[/]")
        console.print(table.frame.to_string(), highlight=False, markup=False, soft_wrap=True)
        console.print(
            f"{table.note} (from {table.source})\n", style="dim", markup=False, soft_wrap=True
        )


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
        list[str] | None,
        typer.Option(
            help="Run only this strategy (repeatable): hedge, vol_managed, optimization, "
            "allocation."
        ),
    ] = None,
    hedge_beta_window: Annotated[
        int | None, typer.Option(help="Trailing days of the hedge's rolling beta.")
    ] = None,
    hedge_rebalance_every: Annotated[
        int | None, typer.Option(help="Trading days between hedge rebalances.")
    ] = None,
    allocation_rebalance: Annotated[
        str | None,
        typer.Option(help="Allocation rebalance schedule: every_n_days, weekly, monthly, never."),
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
    """
    # The temporary local server logs recoverable SQLite contention as tracebacks while it
    # records task events; they are noise in a terminal run (the flow's own logs remain).
    os.environ.setdefault("PREFECT_SERVER_LOGGING_LEVEL", "CRITICAL")
    from prefect.exceptions import ParameterTypeError
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    from flows.pipeline import pipeline

    try:
        settings = load_config(config)
        with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
            record = pipeline(
                config=config,
                start=start.date() if start else None,
                end=end.date() if end else None,
                strategies=strategy,
                hedge_beta_window=hedge_beta_window,
                hedge_rebalance_every=hedge_rebalance_every,
                allocation_rebalance=allocation_rebalance,
                allocation_rebalance_every=allocation_rebalance_every,
                tev_budgets=tev_budget,
                risk_aversions=risk_aversion,
                store_root=store,
            )
    except (ConfigError, PortflowError, ParameterTypeError) as error:
        _fail(error)
    artifact_store = ArtifactStore(store or settings.store.root)
    print_run(artifact_store, record)
    console.print(f"Report: {artifact_store.report_url(record.run_id)}", soft_wrap=True)


@app.command()
def validate(
    configs: Annotated[list[Path], typer.Argument(help="One or more YAML configs.")],
) -> None:
    """Check configs against the schema; print every error with its YAML path."""
    failed = False
    for path in configs:
        try:
            load_config(path)
            console.print(f"[green]ok[/] {path}")
        except ConfigError as error:
            failed = True
            errors.print(f"[bold red]invalid[/] {error}", highlight=False, soft_wrap=True)
    if failed:
        raise typer.Exit(1)


@artifacts_app.command("list")
def artifacts_list(
    stage: Annotated[str | None, typer.Argument(help="Only this stage.")] = None,
    store: StoreOption = "artifacts",
) -> None:
    """List artifact versions, oldest first."""
    manifests = ArtifactStore(store).manifests(stage)
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
    rows: Annotated[int, typer.Option(help="Rows of data to print.")] = 5,
) -> None:
    """Print an artifact's manifest and the first rows of its data."""
    artifact_store = ArtifactStore(store)
    try:
        ref = artifact_store.resolve(spec)
        manifest = artifact_store.manifest(ref)
        frame = artifact_store.load(ref)
    except PortflowError as error:
        _fail(error)
    console.print_json(manifest.model_dump_json())
    console.print(frame.head(rows).to_string())


@app.command()
def report(
    run_id: Annotated[
        str | None, typer.Argument(help="Run id (a unique prefix will do); default: the latest.")
    ] = None,
    store: StoreOption = "artifacts",
    out: Annotated[Path | None, typer.Option(help="Also write the HTML to this file.")] = None,
) -> None:
    """Write the self-contained HTML report of a run (figures and tables) into the store."""
    from tasks.report import write_report

    artifact_store = ArtifactStore(store)
    try:
        runs = artifact_store.runs()
        if run_id is None and not runs:
            raise PortflowError(
                "report",
                "run_id",
                f"no runs in {store}",
                "run the pipeline first: portflow run default",
            )
        record = artifact_store.run(run_id) if run_id else runs[-1]
        with console.status("Rendering the report…"):
            url = write_report(artifact_store, record)
    except PortflowError as error:
        _fail(error)
    if out is not None:
        out.write_text(artifact_store.fs.cat_file(url).decode())
        url = str(out)
    console.print(f"Report of run {record.run_id}: {url}", soft_wrap=True)


@runs_app.command("list")
def runs_list(store: StoreOption = "artifacts") -> None:
    """List pipeline runs, oldest first."""
    records = ArtifactStore(store).runs()
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
    try:
        record = ArtifactStore(store).run(run_id)
    except PortflowError as error:
        _fail(error)
    console.print_json(json.dumps(record.model_dump(mode="json")))


def _start_server(host: str, port: int) -> tuple[subprocess.Popen, str]:
    """Start ``prefect server start`` and wait until its API answers."""
    url = f"http://{host}:{port}/api"
    prefect_cli = Path(sys.executable).with_name("prefect")
    server = subprocess.Popen(
        [str(prefect_cli), "server", "start", "--host", host, "--port", str(port)]
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2):
                return server, url
        except OSError:
            if server.poll() is not None:
                break
            time.sleep(0.5)
    server.terminate()
    raise RuntimeError(f"the Prefect server on {url} did not start")


@app.command()
def serve(
    deployments: Annotated[
        list[str] | None,
        typer.Argument(help="Deployment names from prefect.yaml; default: all of them."),
    ] = None,
    host: Annotated[str, typer.Option(help="Host of the local Prefect server.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port of the local Prefect server.")] = 4200,
    server: Annotated[
        bool,
        typer.Option(
            help="Start a local Prefect server (UI at http://HOST:PORT) unless "
            "PREFECT_API_URL points at one already."
        ),
    ] = True,
) -> None:
    """Serve the deployments of prefect.yaml with their schedules from this process."""
    process = None
    if server and not os.environ.get("PREFECT_API_URL"):
        process, url = _start_server(host, port)
        os.environ["PREFECT_API_URL"] = url
        console.print(f"Prefect UI: http://{host}:{port}")
    from prefect import serve as prefect_serve

    from flows.deployments import runner_deployments

    try:
        prefect_serve(*runner_deployments(deployments or None))
    except ValueError as error:
        _fail(error)
    finally:
        if process is not None:
            process.terminate()
            process.wait(timeout=30)
