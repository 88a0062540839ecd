"""Performance metrics shared by every strategy.

Conventions (stated once, used everywhere)
------------------------------------------
- Returns are simple decimal returns per period; ``periods_per_year`` is 252 for daily
  and 12 for monthly series.
- Annualized return is geometric: ``prod(1 + r) ** (periods_per_year / n) - 1``.
- Annualized volatility is ``std(r, ddof=1) * sqrt(periods_per_year)``.
- Sharpe ratio is arithmetic on excess returns over the risk-free rate of the *same*
  period: ``mean(r - rf) / std(r - rf, ddof=1) * sqrt(periods_per_year)``.
- Sortino ratio replaces the standard deviation with the downside deviation
  ``sqrt(mean(min(r - rf, 0) ** 2))``.
- Maximum drawdown is the largest peak-to-trough fall of the wealth ``prod(1 + r)``,
  starting from an initial wealth of 1, as a negative number (-0.25 = a 25% fall).
- Calmar ratio is annualized return over the absolute maximum drawdown.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

PERIODS_PER_YEAR = {"daily": 252, "monthly": 12}


def _excess(returns: pd.Series, risk_free: pd.Series | float) -> pd.Series:
    if isinstance(risk_free, pd.Series):
        risk_free = risk_free.reindex(returns.index)
        if risk_free.isna().any():
            raise ValueError("risk_free must cover every date of returns")
    return returns - risk_free


def annualized_return(returns: pd.Series, periods_per_year: int) -> float:
    """Geometric average return per year."""
    returns = returns.dropna()
    return float(np.prod(1.0 + returns) ** (periods_per_year / len(returns)) - 1.0)


def annualized_volatility(returns: pd.Series, periods_per_year: int) -> float:
    """Standard deviation (ddof=1) scaled by the square root of time."""
    return float(returns.dropna().std(ddof=1) * np.sqrt(periods_per_year))


def sharpe_ratio(returns: pd.Series, risk_free: pd.Series | float, periods_per_year: int) -> float:
    """Annualized mean excess return over its standard deviation."""
    excess = _excess(returns, risk_free).dropna()
    return float(excess.mean() / excess.std(ddof=1) * np.sqrt(periods_per_year))


def sortino_ratio(returns: pd.Series, risk_free: pd.Series | float, periods_per_year: int) -> float:
    """Annualized mean excess return over the downside deviation of excess returns."""
    excess = _excess(returns, risk_free).dropna()
    downside = np.sqrt(np.mean(np.minimum(excess, 0.0) ** 2))
    return float(excess.mean() / downside * np.sqrt(periods_per_year))


def drawdown(returns: pd.Series) -> pd.Series:
    """Fall of wealth below its running peak at each date (0 at a new high, else < 0)."""
    wealth = (1.0 + returns.fillna(0.0)).cumprod()
    peak = np.maximum(wealth.cummax(), 1.0)
    return wealth / peak - 1.0


def max_drawdown(returns: pd.Series) -> float:
    """Worst peak-to-trough fall of wealth, a number in [-1, 0]."""
    return float(drawdown(returns).min())


def calmar_ratio(returns: pd.Series, periods_per_year: int) -> float:
    """Annualized return over the absolute maximum drawdown."""
    worst = max_drawdown(returns)
    return float(annualized_return(returns, periods_per_year) / -worst) if worst < 0 else np.nan


def performance_table(
    returns: pd.DataFrame, risk_free: pd.Series | float, periods_per_year: int
) -> pd.DataFrame:
    """The standard metrics for each strategy (a column of ``returns``).

    Parameters
    ----------
    returns : DataFrame of shape (n_periods, n_strategies)
        Simple returns per period.
    risk_free : Series or float
        Risk-free return per period, aligned with ``returns``.
    periods_per_year : int
        252 for daily, 12 for monthly.

    Returns
    -------
    DataFrame of shape (n_strategies, 7)
        Columns ``ann_return``, ``ann_volatility``, ``sharpe``, ``sortino``,
        ``max_drawdown``, ``calmar``, ``n_periods``; index: the strategy names.
    """
    rows = {}
    for name, series in returns.items():
        rows[name] = {
            "ann_return": annualized_return(series, periods_per_year),
            "ann_volatility": annualized_volatility(series, periods_per_year),
            "sharpe": sharpe_ratio(series, risk_free, periods_per_year),
            "sortino": sortino_ratio(series, risk_free, periods_per_year),
            "max_drawdown": max_drawdown(series),
            "calmar": calmar_ratio(series, periods_per_year),
            "n_periods": int(series.notna().sum()),
        }
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "strategy"
    return table
