"""The shared stages of every universe: prices, daily and monthly returns, variance, risk-free."""

from portflow.quant.prices import price_panel
from portflow.quant.returns import daily_returns, monthly_returns, monthly_variance
from portflow.quant.risk_free import daily_risk_free, monthly_risk_free
from tasks.stage import Stage

PRICES = Stage("prices", price_panel, inputs=("market_data",), config="prices")
DAILY_RETURNS = Stage("daily_returns", daily_returns, inputs=("prices",))
MONTHLY_RETURNS = Stage("monthly_returns", monthly_returns, inputs=("daily_returns",))
MONTHLY_VARIANCE = Stage(
    "monthly_variance", monthly_variance, inputs=("daily_returns",), config="monthly"
)
RISK_FREE_MONTHLY = Stage(
    "risk_free_monthly", monthly_risk_free, inputs=("risk_free_source", "monthly_returns")
)
RISK_FREE_DAILY = Stage(
    "risk_free_daily", daily_risk_free, inputs=("risk_free_source", "daily_returns")
)

SHARED = (
    PRICES,
    DAILY_RETURNS,
    MONTHLY_RETURNS,
    MONTHLY_VARIANCE,
    RISK_FREE_MONTHLY,
    RISK_FREE_DAILY,
)
"""In DAG order; inputs ``market_data`` and ``risk_free_source`` come from ingest."""
