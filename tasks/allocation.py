"""Tasks of the allocation backtests: targets, weights, returns, metrics, and the LSTM model."""

from __future__ import annotations

from portflow.config.allocation import AllocationConfig, AllocationTargetsParams, LSTMModelParams
from portflow.quant.allocation.backtest import (
    allocation_targets,
    allocation_weights,
    backtest_metrics,
    backtest_returns,
    backtest_seed_summary,
)
from portflow.quant.allocation.lstm import lstm_latest_weights, lstm_model
from tasks import stage_task
from tasks.stage import StageResult, run_stage


@stage_task(name="allocation_targets")
def allocation_targets_task(
    store_url: str,
    daily: StageResult,
    config: AllocationConfig,
    benchmark: str | None,
    run_id: str | None = None,
) -> StageResult:
    """Target weights of every allocator at every rebalance date (past data only)."""
    return run_stage(
        store_url,
        "allocation_targets",
        allocation_targets,
        inputs={"daily_returns": daily},
        params=AllocationTargetsParams.from_section(config, benchmark=benchmark),
        run_id=run_id,
    )


@stage_task(name="allocation_weights")
def allocation_weights_task(
    store_url: str, daily: StageResult, targets: StageResult, run_id: str | None = None
) -> StageResult:
    """Daily drifted, target and held weights of every allocator."""
    return run_stage(
        store_url,
        "allocation_weights",
        allocation_weights,
        inputs={"daily_returns": daily, "allocation_targets": targets},
        run_id=run_id,
    )


@stage_task(name="backtest_returns")
def backtest_returns_task(
    store_url: str,
    daily: StageResult,
    weights: StageResult,
    config: AllocationConfig,
    run_id: str | None = None,
) -> StageResult:
    """Daily gross and net returns, turnover and costs of every allocator."""
    return run_stage(
        store_url,
        "backtest_returns",
        backtest_returns,
        inputs={"daily_returns": daily, "allocation_weights": weights},
        params=config.costs,
        run_id=run_id,
    )


@stage_task(name="backtest_metrics")
def backtest_metrics_task(
    store_url: str,
    returns: StageResult,
    targets: StageResult,
    risk_free_daily: StageResult,
    run_id: str | None = None,
) -> StageResult:
    """Performance metrics of every allocator run, with investability notes."""
    return run_stage(
        store_url,
        "backtest_metrics",
        backtest_metrics,
        inputs={
            "backtest_returns": returns,
            "allocation_targets": targets,
            "risk_free_daily": risk_free_daily,
        },
        run_id=run_id,
    )


@stage_task(name="backtest_seed_summary")
def backtest_seed_summary_task(
    store_url: str, metrics: StageResult, run_id: str | None = None
) -> StageResult:
    """Mean and standard deviation of each strategy's metrics over its seeds."""
    return run_stage(
        store_url,
        "backtest_seed_summary",
        backtest_seed_summary,
        inputs={"backtest_metrics": metrics},
        run_id=run_id,
    )


@stage_task(name="lstm_model")
def lstm_model_task(
    store_url: str,
    daily: StageResult,
    config: AllocationConfig,
    name: str,
    benchmark: str | None,
    run_id: str | None = None,
) -> StageResult:
    """LSTM allocator ``name`` trained on the latest window; its config is the artifact's params."""
    return run_stage(
        store_url,
        "lstm_model",
        lstm_model,
        inputs={"daily_returns": daily},
        params=LSTMModelParams.from_allocation(config, name, benchmark),
        run_id=run_id,
    )


@stage_task(name="lstm_latest_weights")
def lstm_latest_weights_task(
    store_url: str,
    daily: StageResult,
    model: StageResult,
    config: AllocationConfig,
    name: str,
    benchmark: str | None,
    run_id: str | None = None,
) -> StageResult:
    """The saved LSTM model, reloaded, allocates at the last date."""
    return run_stage(
        store_url,
        "lstm_latest_weights",
        lstm_latest_weights,
        inputs={"daily_returns": daily, "lstm_model": model},
        params=LSTMModelParams.from_allocation(config, name, benchmark),
        run_id=run_id,
    )
