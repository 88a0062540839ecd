"""Tasks of the volatility-managed portfolios (Moreira & Muir 2017): signals, returns, alpha."""

from __future__ import annotations

from portflow.config.vol_managed import VolManagedConfig
from portflow.quant.vol_managed.evaluation import vol_evaluation
from portflow.quant.vol_managed.signals import vol_signals
from portflow.quant.vol_managed.strategy_returns import vol_strategy_returns
from tasks import stage_task
from tasks.stage import StageResult, run_stage


@stage_task(name="vol_signals")
def vol_signals_task(
    store_url: str,
    variance: StageResult,
    config: VolManagedConfig,
    market: str,
    run_id: str | None = None,
) -> StageResult:
    """Common and per-asset inverse-variance exposures, k calibrated on the training window."""
    return run_stage(
        store_url,
        "vol_signals",
        vol_signals,
        inputs={"monthly_variance": variance},
        params=config.signals_params(market),
        run_id=run_id,
    )


@stage_task(name="vol_strategy_returns")
def vol_strategy_returns_task(
    store_url: str,
    monthly: StageResult,
    rf_monthly: StageResult,
    signals: StageResult,
    config: VolManagedConfig,
    market: str,
    run_id: str | None = None,
) -> StageResult:
    """Monthly returns of the unmanaged and volatility-managed market and basket."""
    return run_stage(
        store_url,
        "vol_strategy_returns",
        vol_strategy_returns,
        inputs={
            "monthly_returns": monthly,
            "risk_free_monthly": rf_monthly,
            "vol_signals": signals,
        },
        params=config.strategy_params(market),
        run_id=run_id,
    )


@stage_task(name="vol_evaluation")
def vol_evaluation_task(
    store_url: str,
    strategy_returns: StageResult,
    config: VolManagedConfig,
    run_id: str | None = None,
) -> StageResult:
    """Alpha of managed on unmanaged (robust errors), Sharpe, appraisal ratio, costs; per period."""
    return run_stage(
        store_url,
        "vol_evaluation",
        vol_evaluation,
        inputs={"vol_strategy_returns": strategy_returns},
        params=config.evaluation_params(),
        run_id=run_id,
    )
