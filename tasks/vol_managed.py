"""The volatility-managed stages (Moreira & Muir 2017): signals -> returns -> evaluation.

With ``vol_managed.market_factors`` set, ``vol_market_returns`` first replaces the
market's monthly return with the Fama-French total return ``Mkt-RF + RF`` of that factor
source, and the flow binds its output as the branch's ``monthly_returns``.
"""

from portflow.config.vol_managed import VolManagedConfig
from portflow.quant.vol_managed.evaluation import vol_evaluation
from portflow.quant.vol_managed.market_return import factor_market_returns
from portflow.quant.vol_managed.signals import vol_signals
from portflow.quant.vol_managed.strategy_returns import vol_strategy_returns
from tasks.stage import Stage

VOL_MARKET_RETURNS = Stage(
    "vol_market_returns",
    factor_market_returns,
    inputs=("monthly_returns", "factor_source"),
    context=("market",),
)
VOL_SIGNALS = Stage(
    "vol_signals",
    vol_signals,
    inputs=("monthly_variance",),
    config="vol_managed",
    context=("market",),
    params=VolManagedConfig.signals_params,
)
VOL_STRATEGY_RETURNS = Stage(
    "vol_strategy_returns",
    vol_strategy_returns,
    inputs=("monthly_returns", "risk_free_monthly", "vol_signals"),
    config="vol_managed",
    fields=("weights",),
    context=("market",),
)
VOL_EVALUATION = Stage(
    "vol_evaluation",
    vol_evaluation,
    inputs=("vol_strategy_returns", "vol_signals"),
    config="vol_managed",
    context=("market",),
    params=VolManagedConfig.evaluation_params,
)

VOL_MANAGED = (VOL_SIGNALS, VOL_STRATEGY_RETURNS, VOL_EVALUATION)
"""In DAG order; context: ``market`` (the ticker whose variance drives the common signal)."""
