"""The beta-hedge stages: volume weights -> basket -> beta -> financed, costed backtest -> metrics.

Each stage depends on only the ``hedge`` fields it uses, so changing, say, ``cost_rate``
recomputes the backtest and its metrics but not the weights or the betas.
"""

from portflow.quant.hedge.backtest import hedge_backtest
from portflow.quant.hedge.beta import hedge_regression, rolling_beta
from portflow.quant.hedge.metrics import hedge_metrics
from portflow.quant.hedge.volume_basket import basket_returns, volume_weights
from tasks.stage import Stage

VOLUME_WEIGHTS = Stage(
    "volume_weights",
    volume_weights,
    inputs=("market_data",),
    config="hedge",
    fields=("volume_window", "dollar_volume"),
    context=("benchmark",),
)
BASKET_RETURNS = Stage(
    "basket_returns",
    basket_returns,
    inputs=("daily_returns", "volume_weights"),
    context=("benchmark",),
)
HEDGE_REGRESSION = Stage(
    "hedge_regression",
    hedge_regression,
    inputs=("basket_returns",),
    config="hedge",
    fields=("hac_lags",),
)
HEDGE_ROLLING_BETA = Stage(
    "hedge_rolling_beta",
    rolling_beta,
    inputs=("basket_returns",),
    config="hedge",
    fields=("beta_window", "rebalance_every"),
)
HEDGE_BACKTEST = Stage(
    "hedge_backtest",
    hedge_backtest,
    inputs=("basket_returns", "hedge_rolling_beta", "risk_free_daily"),
    config="hedge",
    fields=("convention", "cost_rate", "borrow_fee", "capital"),
)
HEDGE_METRICS = Stage(
    "hedge_metrics",
    hedge_metrics,
    inputs=("hedge_backtest", "basket_returns", "risk_free_daily"),
    config="hedge",
    fields=("dollar_volume",),
)

HEDGE = (
    VOLUME_WEIGHTS,
    BASKET_RETURNS,
    HEDGE_REGRESSION,
    HEDGE_ROLLING_BETA,
    HEDGE_BACKTEST,
    HEDGE_METRICS,
)
"""In DAG order; context: ``benchmark`` (the ticker the basket is hedged with)."""
