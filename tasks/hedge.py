"""Tasks of the beta-hedge strategy: volume weights -> basket -> beta -> backtest -> metrics.

Each task passes its stage only the ``HedgeConfig`` fields that stage uses (plus the
benchmark ticker where needed), through a small frozen params model, so a changed setting
recomputes only the stages downstream of it.
"""

from __future__ import annotations

from portflow.config.base import Frozen
from portflow.config.hedge import HedgeConfig, HedgeConvention
from portflow.quant.hedge.backtest import hedge_backtest
from portflow.quant.hedge.beta import hedge_regression, rolling_beta
from portflow.quant.hedge.metrics import hedge_metrics
from portflow.quant.hedge.volume_basket import basket_returns, volume_weights
from tasks import stage_task
from tasks.stage import StageResult, run_stage


class VolumeWeightsParams(Frozen):
    volume_window: int
    dollar_volume: bool
    benchmark: str


class BasketParams(Frozen):
    benchmark: str


class RegressionParams(Frozen):
    hac_lags: int | None


class RollingBetaParams(Frozen):
    beta_window: int
    rebalance_every: int


class BacktestParams(Frozen):
    convention: HedgeConvention
    cost_rate: float
    capital: float


class MetricsParams(Frozen):
    dollar_volume: bool


@stage_task(name="volume_weights")
def volume_weights_task(
    store_url: str,
    market_data: StageResult,
    config: HedgeConfig,
    benchmark: str,
    run_id: str | None = None,
) -> StageResult:
    """Basket weights from trailing average (dollar) volume, lagged one day."""
    return run_stage(
        store_url,
        "volume_weights",
        volume_weights,
        inputs={"market_data": market_data},
        params=VolumeWeightsParams.from_section(config, benchmark=benchmark),
        run_id=run_id,
    )


@stage_task(name="basket_returns")
def basket_returns_task(
    store_url: str,
    daily: StageResult,
    weights: StageResult,
    benchmark: str,
    run_id: str | None = None,
) -> StageResult:
    """Daily returns of the volume-weighted basket and of the benchmark."""
    return run_stage(
        store_url,
        "basket_returns",
        basket_returns,
        inputs={"daily_returns": daily, "volume_weights": weights},
        params=BasketParams(benchmark=benchmark),
        run_id=run_id,
    )


@stage_task(name="hedge_regression")
def hedge_regression_task(
    store_url: str, basket: StageResult, config: HedgeConfig, run_id: str | None = None
) -> StageResult:
    """Full-sample OLS of the basket, and of the hedged series, on the benchmark."""
    return run_stage(
        store_url,
        "hedge_regression",
        hedge_regression,
        inputs={"basket_returns": basket},
        params=RegressionParams.from_section(config),
        run_id=run_id,
    )


@stage_task(name="hedge_rolling_beta")
def rolling_beta_task(
    store_url: str, basket: StageResult, config: HedgeConfig, run_id: str | None = None
) -> StageResult:
    """Trailing-window beta at each rebalance date."""
    return run_stage(
        store_url,
        "hedge_rolling_beta",
        rolling_beta,
        inputs={"basket_returns": basket},
        params=RollingBetaParams.from_section(config),
        run_id=run_id,
    )


@stage_task(name="hedge_backtest")
def hedge_backtest_task(
    store_url: str,
    basket: StageResult,
    betas: StageResult,
    config: HedgeConfig,
    run_id: str | None = None,
) -> StageResult:
    """Long basket / short benchmark book rebalanced to the rolling beta, with costs."""
    return run_stage(
        store_url,
        "hedge_backtest",
        hedge_backtest,
        inputs={"basket_returns": basket, "rolling_beta": betas},
        params=BacktestParams.from_section(config),
        run_id=run_id,
    )


@stage_task(name="hedge_metrics")
def hedge_metrics_task(
    store_url: str,
    backtest: StageResult,
    basket: StageResult,
    rf_daily: StageResult,
    config: HedgeConfig,
    run_id: str | None = None,
) -> StageResult:
    """Return, risk, Sharpe, drawdown, turnover and realized beta of book, basket, benchmark."""
    return run_stage(
        store_url,
        "hedge_metrics",
        hedge_metrics,
        inputs={
            "hedge_backtest": backtest,
            "basket_returns": basket,
            "risk_free_daily": rf_daily,
        },
        params=MetricsParams.from_section(config),
        run_id=run_id,
    )
