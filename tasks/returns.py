"""Tasks of the shared stages: prices, daily and monthly returns, variance, risk-free."""

from __future__ import annotations

from portflow.config import MonthlyConfig, PricesConfig
from portflow.quant.prices import price_panel
from portflow.quant.returns import daily_returns, monthly_returns, monthly_variance
from portflow.quant.risk_free import daily_risk_free, monthly_risk_free
from tasks import stage_task
from tasks.stage import StageResult, run_stage


@stage_task(name="prices")
def prices_task(
    store_url: str, market_data: StageResult, config: PricesConfig, run_id: str | None = None
) -> StageResult:
    """Validated panel of adjusted closes, with the configured missing-data policy."""
    return run_stage(
        store_url,
        "prices",
        price_panel,
        inputs={"market_data": market_data},
        params=config,
        run_id=run_id,
    )


@stage_task(name="daily_returns")
def daily_returns_task(
    store_url: str, prices: StageResult, run_id: str | None = None
) -> StageResult:
    """Simple daily returns."""
    return run_stage(
        store_url, "daily_returns", daily_returns, inputs={"prices": prices}, run_id=run_id
    )


@stage_task(name="monthly_returns")
def monthly_returns_task(
    store_url: str, daily: StageResult, run_id: str | None = None
) -> StageResult:
    """Daily returns compounded to calendar months."""
    return run_stage(
        store_url,
        "monthly_returns",
        monthly_returns,
        inputs={"daily_returns": daily},
        run_id=run_id,
    )


@stage_task(name="monthly_variance")
def monthly_variance_task(
    store_url: str, daily: StageResult, config: MonthlyConfig, run_id: str | None = None
) -> StageResult:
    """Realized variance of daily returns per month."""
    return run_stage(
        store_url,
        "monthly_variance",
        monthly_variance,
        inputs={"daily_returns": daily},
        params=config,
        run_id=run_id,
    )


@stage_task(name="risk_free_monthly")
def risk_free_monthly_task(
    store_url: str,
    risk_free_source: StageResult,
    monthly: StageResult,
    run_id: str | None = None,
) -> StageResult:
    """Risk-free rate per month of the monthly calendar."""
    return run_stage(
        store_url,
        "risk_free_monthly",
        monthly_risk_free,
        inputs={"risk_free_source": risk_free_source, "monthly_returns": monthly},
        run_id=run_id,
    )


@stage_task(name="risk_free_daily")
def risk_free_daily_task(
    store_url: str,
    risk_free_source: StageResult,
    daily: StageResult,
    run_id: str | None = None,
) -> StageResult:
    """Risk-free rate per trading day of the daily calendar."""
    return run_stage(
        store_url,
        "risk_free_daily",
        daily_risk_free,
        inputs={"risk_free_source": risk_free_source, "daily_returns": daily},
        run_id=run_id,
    )
