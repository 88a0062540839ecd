"""The ``pipeline`` flow: shared stages per universe, then every configured strategy.

Composition only, and it reads as the DAG in the README::

    ingest -> SHARED (prices, daily and monthly returns, variance, risk-free)
           -> HEDGE | VOL_MANAGED | optimization (inputs, moments, sweep, results) | ALLOCATION

Stages are declared once in ``tasks/`` and submitted by name (``tasks.run.PipelineRun``):
each takes its inputs from the outputs available to its branch, so branches that do not
depend on each other (the hedge, the volatility-managed portfolios, the optimization sweep
and the allocation backtests, each on its universe) run concurrently. The optimization
sweep runs as a subflow on the task runner its config asks for (threads or Dask).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import uuid
from dataclasses import dataclass
from typing import Any, Literal

from prefect import flow
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.runtime import flow_run
from pydantic import SecretStr

from flows.optimization import build_task_runner, optimization_sweep_flow, reused_sweep
from portflow.config import (
    KNOBS,
    DataConfig,
    PipelineConfig,
    Strategy,
    load_config,
    with_overrides,
)
from portflow.errors import ArtifactError, DataError
from portflow.report.tables import result_tables, scope_strategy
from storage import ArtifactRef, ArtifactStore, RunRecord, StoreLocation
from tasks.allocation import ALLOCATION, LSTM
from tasks.hedge import HEDGE
from tasks.ingest import Ingested
from tasks.optimization import MOMENTS, OPTIMIZATION_INPUTS, OPTIMIZATION_RESULTS
from tasks.report import report_task
from tasks.run import PipelineRun, resolved
from tasks.shared import SHARED
from tasks.vol_managed import VOL_MANAGED, VOL_MARKET_RETURNS


@dataclass
class Universe:
    """The shared stages of one data section: outputs by name, and its benchmark ticker."""

    scope: str
    benchmark: str | None
    outputs: dict[str, Any]

    def require_benchmark(self, strategy: str) -> str:
        if self.benchmark is None:
            raise DataError(
                strategy,
                "data.benchmark",
                "the data has no benchmark ticker",
                "set data.benchmark (files source) or use a source with a benchmark",
            )
        return self.benchmark


def shared_stages(run: PipelineRun, ingested: Ingested, scope: str) -> Universe:
    """Submit the shared return and risk-free stages of one ingested data section."""
    run.record(scope, *ingested.results)
    outputs = run.submit(scope, SHARED, ingested.outputs)
    return Universe(scope, ingested.benchmark, outputs)


def ingest_universes(run: PipelineRun) -> dict[str, Universe]:
    """The universes of the selected strategies, by their data section (as JSON): each
    section ingested once, all at once, then its shared stages submitted.

    The top-level data's universe comes first when a selected strategy uses it; without
    any strategy, it is the only one.
    """
    settings = run.settings
    strategies = settings.strategies()
    sections: dict[str, tuple[str, DataConfig]] = {}
    if not strategies or settings.data in [settings.data_for(s) for s in strategies]:
        sections[settings.data.model_dump_json()] = ("data", settings.data)
    for strategy in strategies:
        data = settings.data_for(strategy)
        sections.setdefault(data.model_dump_json(), (f"{strategy}.data", data))
    ingests = {key: run.ingest(data) for key, (_, data) in sections.items()}
    return {
        key: shared_stages(run, resolved(ingests[key]), scope)
        for key, (scope, _) in sections.items()
    }


def hedge_stages(run: PipelineRun, universe: Universe) -> None:
    """Volume weights -> basket -> OLS beta, rolling beta -> costed hedge backtest -> metrics."""
    run.submit("hedge", HEDGE, universe.outputs, benchmark=universe.require_benchmark("hedge"))


def vol_managed_stages(run: PipelineRun, universe: Universe) -> None:
    """[Factor market return] -> inverse-variance signals -> managed returns -> evaluation."""
    market = universe.require_benchmark("vol_managed")
    available = universe.outputs
    factors = run.settings.vol_managed.market_factors
    if factors is not None:
        source = run.factor_source(factors)
        run.record("vol_managed", source)
        market_returns = run.submit(
            "vol_managed",
            [VOL_MARKET_RETURNS],
            available | {"factor_source": source},
            market=market,
        )
        available = available | {"monthly_returns": market_returns[VOL_MARKET_RETURNS.name]}
    run.submit("vol_managed", VOL_MANAGED, available, market=market)


def allocation_stages(run: PipelineRun, universe: Universe) -> None:
    """Targets -> drifted weights -> costed returns -> metrics -> seed summary; LSTM models."""
    benchmark = universe.benchmark
    run.submit("allocation", ALLOCATION, universe.outputs, benchmark=benchmark)
    for name in run.settings.allocation.lstm_allocators():
        run.submit("allocation", LSTM, universe.outputs, allocator=name, benchmark=benchmark)


def optimization_stages(run: PipelineRun, universe: Universe) -> None:
    """Factor data -> loadings and moments -> sweep subflow (chunks) -> returns -> reports."""
    config = run.settings.optimization
    factors = run.factor_source(config.factors)
    run.record("optimization", factors)
    inputs = run.submit(
        "optimization",
        [*OPTIMIZATION_INPUTS, *(MOMENTS[model] for model in config.moment_models)],
        universe.outputs | {"factor_source": factors},
        benchmark=universe.benchmark,
    )
    sweep_inputs = {
        name: resolved(inputs[name])
        for name in ("stock_loadings", "benchmark_weights", "stock_industries")
    }
    moments = {model: resolved(inputs[MOMENTS[model].name]) for model in config.moment_models}
    weights = reused_sweep(run, sweep_inputs, moments)
    if weights is None:
        sweep = optimization_sweep_flow.with_options(task_runner=build_task_runner(config.runner))
        weights = sweep(run.store_url, run.settings, sweep_inputs, moments, run.run_id)
    for model, model_weights in weights.items():
        scope = f"optimization[{model}]"
        run.record(scope, model_weights)
        run.submit(scope, OPTIMIZATION_RESULTS, inputs | {"optimized_weights": model_weights})


STRATEGY_STAGES = {
    "hedge": hedge_stages,
    "vol_managed": vol_managed_stages,
    "optimization": optimization_stages,
    "allocation": allocation_stages,
}


def summary_markdown(settings: PipelineConfig, run_id: str, rows: list[dict[str, Any]]) -> str:
    """Markdown table of the stages of a run: scope, version, rows, computed or reused."""
    lines = [
        f"# portflow run `{run_id}` — {settings.name}",
        "",
        "| scope | stage | version | rows | status | seconds |",
        "|---|---|---|---:|---|---:|",
    ]
    lines += [
        f"| {r['scope']} | {r['stage']} | `{r['version']}` | {r['rows']} | {r['status']} "
        f"| {r['seconds']:.2f} |"
        for r in rows
    ]
    computed = sum(r["status"] == "computed" for r in rows)
    lines += ["", f"{computed} computed, {len(rows) - computed} reused."]
    return "\n".join(lines)


@flow(name="pipeline")
def pipeline(
    config: str = "default",
    start: dt.date | None = None,
    end: dt.date | None = None,
    strategies: list[Strategy] | None = None,
    hedge_beta_window: int | None = None,
    hedge_rebalance_every: int | None = None,
    allocation_rebalance: Literal["every_n_days", "weekly", "monthly", "never"] | None = None,
    allocation_rebalance_every: int | None = None,
    tev_budgets: list[float] | None = None,
    risk_aversions: list[float] | None = None,
    overrides: dict[str, Any] | None = None,
    store_root: str | None = None,
    store_options: SecretStr | None = None,
) -> RunRecord:
    """Run every stage of a portflow config, reusing artifact versions that already exist.

    The same parameters drive ``portflow run``, deployment runs and UI-triggered runs.
    (Google-style arguments: Prefect shows them as descriptions in the UI form.)

    Args:
        config: Config name in configs/ (default, mag7) or a path to a YAML config.
        start: First date of every data section; empty keeps the config's.
        end: Last date of every data section; empty keeps the config's.
        strategies: Strategies to run (hedge, vol_managed, optimization, allocation); empty
            runs all configured.
        hedge_beta_window: Trailing days of the hedge's rolling beta; empty keeps the config's.
        hedge_rebalance_every: Trading days between hedge rebalances; empty keeps the config's.
        allocation_rebalance: Allocation rebalance schedule; empty keeps the config's.
        allocation_rebalance_every: Trading days between allocation rebalances when the
            schedule is every_n_days; empty keeps the config's.
        tev_budgets: Tracking-error budgets of the optimization sweep, annualized decimals
            (0.02 = 2%); empty keeps the config's.
        risk_aversions: Risk aversions (gamma) of the optimization sweep; empty keeps the
            config's.
        overrides: Config settings by dotted path, e.g. {"optimization.sweep.gammas": [1, 5]},
            applied after the options above and validated like the YAML.
        store_root: Artifact store root, a path or fsspec URL; empty uses PORTFLOW_STORE
            (environment), else the config's store.root.
        store_options: fsspec storage options as a JSON object, e.g. {"endpoint_url":
            "http://127.0.0.1:9000"}; they update the config's store.options. Secret: the
            Prefect UI and its database never show them.

    Returns:
        The run record: the version of every stage, computed or reused.
    """
    given = {
        "hedge_beta_window": hedge_beta_window,
        "hedge_rebalance_every": hedge_rebalance_every,
        "allocation_rebalance": allocation_rebalance,
        "allocation_rebalance_every": allocation_rebalance_every,
        "tev_budgets": tev_budgets,
        "risk_aversions": risk_aversions,
    }
    settings = with_overrides(
        load_config(config),
        start=start,
        end=end,
        strategies=strategies,
        settings={KNOBS[name]: value for name, value in given.items() if value is not None}
        | (overrides or {}),
    )
    store_url = store_location(settings, store_root, store_options)
    run_id = str(flow_run.id or uuid.uuid4().hex)
    started_at = dt.datetime.now(dt.UTC)
    run = PipelineRun(store_url, settings, run_id)

    universes = ingest_universes(run)
    for strategy in settings.strategies():
        STRATEGY_STAGES[strategy](run, universes[settings.data_for(strategy).model_dump_json()])
    record = run.run_record(started_at)
    store = ArtifactStore(store_url)
    store.save_run(record)
    report = report_task.submit(store_url, record)  # while the artifacts are published
    publish_artifacts(store, record, summary_markdown(settings, run_id, record.stages))
    report.result()
    return record


def store_location(
    settings: PipelineConfig, root: str | None, options: SecretStr | None
) -> StoreLocation:
    """Where the run writes: ``root`` if given, else PORTFLOW_STORE, else the config's
    ``store.root``; opened with the config's ``store.options`` updated by ``options``."""
    try:
        given: Any = json.loads(options.get_secret_value()) if options is not None else {}
    except ValueError:
        given = None
    if not isinstance(given, dict):
        raise ArtifactError(
            "store", "store_options", "must be a JSON object", 'give {"endpoint_url": "..."}'
        )
    url = root or os.environ.get("PORTFLOW_STORE") or settings.store.root
    return StoreLocation(url, {**settings.store.options, **given})


def outputs_markdown(store: ArtifactStore, record: RunRecord) -> str:
    """Markdown table of every strategy stage's parquet output, with a path to copy.

    Paths, not links: a browser refuses ``file://`` links from the Prefect UI, and a path
    works as well in a terminal, a notebook or for an object store.
    """
    lines = [
        f"# Outputs of run `{record.run_id}`",
        "",
        "Load one in Python with `pandas.read_parquet(PATH)` (fsspec URLs too), or print it "
        "with `portflow artifacts show STAGE@VERSION --store " + store.url + "`.",
        "",
        "| scope | stage@version | status | path |",
        "|---|---|---|---|",
    ]
    for row in record.stages:
        if scope_strategy(row["scope"]) in STRATEGY_STAGES:
            ref = ArtifactRef(row["stage"], row["version"])
            lines.append(
                f"| {row['scope']} | `{ref}` | {row['status']} | `{store.data_url(ref)}` |"
            )
    return "\n".join(lines)


def publish_artifacts(store: ArtifactStore, record: RunRecord, summary: str) -> None:
    """Prefect UI artifacts: the stage summary, a table of results per strategy (rows
    named in their first column), and where the parquet output of every strategy stage is."""
    create_markdown_artifact(
        key="pipeline-summary", markdown=summary, description=f"Stages of run {record.run_id}"
    )
    for table in result_tables(store, record):
        create_table_artifact(
            key=table.key, table=table.records(), description=f"{table.title}. {table.note}"
        )
    create_markdown_artifact(
        key="outputs",
        markdown=outputs_markdown(store, record),
        description="Where the parquet output of every strategy stage of this run is",
    )
