"""The ``pipeline`` flow: shared stages per universe, then every configured strategy.

Composition only: which tasks run, in what order, on which inputs. Tasks are submitted
with their upstream futures, so branches that do not depend on each other (the hedge, the
volatility-managed portfolios, the optimization sweep and the allocation backtests, each on
its universe) run concurrently. The optimization sweep runs as a subflow on the task
runner its config asks for (threads or Dask).
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass
from typing import Any, Literal

from prefect import flow
from prefect.artifacts import (
    create_link_artifact,
    create_markdown_artifact,
    create_table_artifact,
)
from prefect.runtime import flow_run

from flows.optimization import build_task_runner, optimization_sweep_flow
from portflow.config import DataConfig, PipelineConfig, Strategy, load_config, with_overrides
from portflow.errors import DataError
from portflow.report.tables import result_tables, scope_strategy
from storage import ArtifactRef, ArtifactStore, RunRecord
from tasks.allocation import (
    allocation_targets_task,
    allocation_weights_task,
    backtest_metrics_task,
    backtest_returns_task,
    backtest_seed_summary_task,
    lstm_latest_weights_task,
    lstm_model_task,
)
from tasks.hedge import (
    basket_returns_task,
    hedge_backtest_task,
    hedge_metrics_task,
    hedge_regression_task,
    rolling_beta_task,
    volume_weights_task,
)
from tasks.ingest import ingest
from tasks.optimization import (
    benchmark_weights_task,
    crisis_report_task,
    factor_data_task,
    factor_moments_task,
    factor_source_task,
    optimization_report_task,
    optimized_returns_task,
    regime_factor_moments_task,
    stock_loadings_task,
)
from tasks.report import report_task
from tasks.returns import (
    daily_returns_task,
    monthly_returns_task,
    monthly_variance_task,
    prices_task,
    risk_free_daily_task,
    risk_free_monthly_task,
)
from tasks.stage import StageResult
from tasks.vol_managed import (
    vol_evaluation_task,
    vol_signals_task,
    vol_strategy_returns_task,
)


@dataclass
class Universe:
    """The shared stages of one data section, as results or futures of results."""

    scope: str
    benchmark: str | None
    ingested: list[StageResult]
    market_data: StageResult
    prices: Any
    daily: Any
    monthly: Any
    variance: Any
    rf_monthly: Any
    rf_daily: Any

    def stages(self) -> list[tuple[str, Any]]:
        computed = [self.prices, self.daily, self.monthly, self.variance]
        return [
            (self.scope, s) for s in [*self.ingested, *computed, self.rf_monthly, self.rf_daily]
        ]

    def require_benchmark(self, strategy: str) -> str:
        if self.benchmark is None:
            raise DataError(
                strategy,
                "data.benchmark",
                "the data has no benchmark ticker",
                "set data.benchmark (files source) or use a source with a benchmark",
            )
        return self.benchmark


def shared_stages(
    store_url: str, data: DataConfig, settings: PipelineConfig, scope: str, run_id: str
) -> Universe:
    """Ingest one data section and submit the shared return and risk-free stages."""
    ingested = ingest(store_url, data, run_id)
    prices = prices_task.submit(store_url, ingested.market_data, settings.prices, run_id)
    daily = daily_returns_task.submit(store_url, prices, run_id)
    monthly = monthly_returns_task.submit(store_url, daily, run_id)
    return Universe(
        scope=scope,
        benchmark=ingested.benchmark,
        ingested=ingested.results,
        market_data=ingested.market_data,
        prices=prices,
        daily=daily,
        monthly=monthly,
        variance=monthly_variance_task.submit(store_url, daily, settings.monthly, run_id),
        rf_monthly=risk_free_monthly_task.submit(
            store_url, ingested.risk_free_source, monthly, run_id
        ),
        rf_daily=risk_free_daily_task.submit(store_url, ingested.risk_free_source, daily, run_id),
    )


def hedge_stages(store_url: str, settings: PipelineConfig, universe: Universe, run_id: str):
    """Volume weights -> basket -> OLS beta, rolling beta -> costed hedge backtest -> metrics."""
    hedge, benchmark = settings.hedge, universe.require_benchmark("hedge")
    weights = volume_weights_task.submit(store_url, universe.market_data, hedge, benchmark, run_id)
    basket = basket_returns_task.submit(store_url, universe.daily, weights, benchmark, run_id)
    regression = hedge_regression_task.submit(store_url, basket, hedge, run_id)
    betas = rolling_beta_task.submit(store_url, basket, hedge, run_id)
    backtest = hedge_backtest_task.submit(store_url, basket, betas, hedge, run_id)
    metrics = hedge_metrics_task.submit(
        store_url, backtest, basket, universe.rf_daily, hedge, run_id
    )
    return [weights, basket, regression, betas, backtest, metrics]


def vol_managed_stages(store_url: str, settings: PipelineConfig, universe: Universe, run_id: str):
    """Inverse-variance signals -> managed and unmanaged returns -> evaluation."""
    config, market = settings.vol_managed, universe.require_benchmark("vol_managed")
    signals = vol_signals_task.submit(store_url, universe.variance, config, market, run_id)
    returns = vol_strategy_returns_task.submit(
        store_url, universe.monthly, universe.rf_monthly, signals, config, market, run_id
    )
    evaluation = vol_evaluation_task.submit(store_url, returns, config, run_id)
    return [signals, returns, evaluation]


def allocation_stages(store_url: str, settings: PipelineConfig, universe: Universe, run_id: str):
    """Targets -> drifted weights -> costed returns -> metrics -> seed summary; LSTM models."""
    config, benchmark = settings.allocation, universe.benchmark
    targets = allocation_targets_task.submit(store_url, universe.daily, config, benchmark, run_id)
    weights = allocation_weights_task.submit(store_url, universe.daily, targets, run_id)
    returns = backtest_returns_task.submit(store_url, universe.daily, weights, config, run_id)
    metrics = backtest_metrics_task.submit(store_url, returns, targets, universe.rf_daily, run_id)
    stages = [
        targets,
        weights,
        returns,
        metrics,
        backtest_seed_summary_task.submit(store_url, metrics, run_id),
    ]
    for spec in config.allocators:
        if spec.kind == "lstm":
            model = lstm_model_task.submit(
                store_url, universe.daily, config, spec.name, benchmark, run_id
            )
            latest = lstm_latest_weights_task.submit(
                store_url, universe.daily, model, config, spec.name, benchmark, run_id
            )
            stages += [model, latest]
    return stages


def optimization_stages(store_url: str, settings: PipelineConfig, universe: Universe, run_id: str):
    """Factor data -> loadings and moments -> sweep subflow (chunks) -> returns -> reports."""
    config = settings.optimization
    source = factor_source_task.submit(store_url, config.factors, run_id)
    factors = factor_data_task.submit(
        store_url, source, universe.monthly, universe.rf_monthly, config.factors, run_id
    )
    loadings = stock_loadings_task.submit(
        store_url,
        universe.monthly,
        universe.rf_monthly,
        factors,
        config.moments,
        universe.benchmark,
        run_id,
    )
    benchmark = benchmark_weights_task.submit(
        store_url, loadings, universe.market_data, config.benchmark, run_id
    )
    estimators = {
        "sample": (factor_moments_task, config.moments),
        "regime": (regime_factor_moments_task, config.regimes),
    }
    moments = {
        model: estimators[model][0].submit(store_url, factors, estimators[model][1], run_id)
        for model in config.moment_models
    }
    sweep = optimization_sweep_flow.with_options(task_runner=build_task_runner(config.runner))
    weights = sweep(
        store_url,
        loadings.result(),
        {m: f.result() for m, f in moments.items()},
        benchmark.result(),
        config.sweep,
        config.runner.chunks,
        run_id,
    )
    stages = [source, factors, loadings, benchmark, *moments.values()]
    for model, model_weights in weights.items():
        returns = optimized_returns_task.submit(
            store_url,
            model_weights,
            benchmark,
            universe.monthly,
            universe.rf_monthly,
            config.returns,
            run_id,
        )
        report = optimization_report_task.submit(store_url, returns, model_weights, run_id)
        crises = crisis_report_task.submit(store_url, returns, config.report, run_id)
        stages += [
            (f"optimization[{model}]", item) for item in (model_weights, returns, report, crises)
        ]
    return stages


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


def _resolve(scoped: list[tuple[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for scope, item in scoped:
        result = item.result() if hasattr(item, "result") else item
        rows.append({"scope": scope, **result.as_row()})
    return rows


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
    store_root: str | None = None,
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
        store_root: Artifact store root, a path or fsspec URL; empty uses the config's.

    Returns:
        The run record: the version of every stage, computed or reused.
    """
    knobs = {
        "hedge.beta_window": hedge_beta_window,
        "hedge.rebalance_every": hedge_rebalance_every,
        "allocation.rebalance": allocation_rebalance,
        "allocation.rebalance_every": allocation_rebalance_every,
        "optimization.sweep.tev_budgets": tev_budgets,
        "optimization.sweep.gammas": risk_aversions,
    }
    settings = with_overrides(
        load_config(config),
        start=start,
        end=end,
        strategies=strategies,
        settings={path: value for path, value in knobs.items() if value is not None},
    )
    store_url = store_root or settings.store.root
    run_id = str(flow_run.id or uuid.uuid4().hex)
    started_at = dt.datetime.now(dt.UTC)

    universes: dict[str, Universe] = {}

    def universe_for(strategy: str | None) -> Universe:
        data = settings.data_for(strategy) if strategy else settings.data
        key = data.model_dump_json()
        if key not in universes:
            scope = "data" if data == settings.data else f"{strategy}.data"
            universes[key] = shared_stages(store_url, data, settings, scope, run_id)
        return universes[key]

    scoped: list[tuple[str, Any]] = []
    listed: set[str] = set()
    for strategy in [None, *settings.strategies()]:
        universe = universe_for(strategy)
        if universe.scope not in listed:
            listed.add(universe.scope)
            scoped += universe.stages()
        if strategy is not None:
            branch = STRATEGY_STAGES[strategy](store_url, settings, universe, run_id)
            # A branch may scope some stages more finely, e.g. one per moment model.
            scoped += [item if isinstance(item, tuple) else (strategy, item) for item in branch]
    rows = _resolve(scoped)

    record = RunRecord(
        run_id=run_id,
        config_name=settings.name,
        config=settings.model_dump(mode="json"),
        started_at=started_at,
        finished_at=dt.datetime.now(dt.UTC),
        stages=rows,
    )
    store = ArtifactStore(store_url)
    store.save_run(record)
    publish_artifacts(store, record, summary_markdown(settings, run_id, rows))
    report_task(store_url, record)
    return record


def publish_artifacts(store: ArtifactStore, record: RunRecord, summary: str) -> None:
    """Prefect UI artifacts: the stage summary, a table of results per strategy, and a link
    to the parquet output of every strategy stage."""
    create_markdown_artifact(
        key="pipeline-summary", markdown=summary, description=f"Stages of run {record.run_id}"
    )
    for table in result_tables(store, record):
        create_table_artifact(
            key=table.key, table=table.records(), description=f"{table.title}. {table.note}"
        )
    for row in record.stages:
        if scope_strategy(row["scope"]) in STRATEGY_STAGES:
            ref = ArtifactRef(row["stage"], row["version"])
            create_link_artifact(
                key=re.sub(r"[^a-z0-9]+", "-", f"{row['scope']}-{row['stage']}").strip("-"),
                link=store.data_url(ref),
                link_text=str(ref),
                description=f"Parquet output of {ref.stage} ({row['status']} in this run)",
            )
