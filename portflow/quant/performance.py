"""Tear-sheet analytics of one return series against a benchmark.

The numbers behind the report's tear sheets (the union of what quantstats' full report
and pyfolio's returns tear sheet show): drawdown periods with their recovery, rolling
Sharpe ratio, volatility and beta, calendar-month and calendar-year returns, and a table
of summary statistics.

Conventions (those of :mod:`portflow.quant.metrics`, plus)
---------------------------------------------------------
- Returns are simple decimal returns per period, indexed by date; ``periods_per_year`` is
  252 for daily and 12 for monthly series.
- Wealth starts at 1 before the first period; a drawdown is the fall of wealth below its
  running peak, the initial wealth included (:func:`portflow.quant.metrics.drawdown`).
- Calendar-period returns compound the returns inside each calendar month or year:
  ``prod(1 + r) - 1``. A month or year the series only partly covers is compounded over
  the periods it has.
- Rolling statistics use the trailing ``window`` periods ending at each date (the date
  included) and are NaN until the window is full.
- Beta and alpha come from the regression of excess returns on benchmark excess returns:
  ``beta = cov(r - rf, b - rf) / var(b - rf)``, alpha is the mean residual per period
  times ``periods_per_year`` (arithmetic annualization).
- Value at risk is historical: the 5% quantile of the period returns (linear
  interpolation, ``numpy.quantile``); conditional VaR (expected shortfall) is the mean of
  the returns at or below it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from portflow.quant.metrics import (
    annualized_return,
    annualized_volatility,
    calmar_ratio,
    drawdown,
    max_drawdown,
    sharpe_ratio,
    sortino_ratio,
)

VAR_LEVEL = 0.05
"""Tail probability of the value at risk and expected shortfall."""


def wealth(returns: pd.Series) -> pd.Series:
    """Growth of 1 invested before the first period: ``cumprod(1 + r)``; NaN counts as 0."""
    return (1.0 + returns.fillna(0.0)).cumprod()


def drawdown_periods(returns: pd.Series) -> pd.DataFrame:
    """Every drawdown episode: a maximal run of periods with wealth below its running peak.

    Parameters
    ----------
    returns : Series of shape (n_periods,)
        Simple returns per period, indexed by date (sorted).

    Returns
    -------
    DataFrame of shape (n_episodes, 7)
        In time order. ``peak``: the last date at the running high before the episode
        (NaT when the high is the initial wealth, i.e. the episode starts at the first
        period); ``start``: the first date under water; ``valley``: the date of the lowest
        wealth (the first, on ties); ``recovery``: the first date wealth is back at the
        peak (NaT while still under water at the last date); ``depth``: the drawdown at
        the valley (a negative decimal); ``periods``: the number of periods under water
        (from ``start`` to the period before ``recovery``, or to the last date);
        ``recovered``: whether ``recovery`` is a date.
    """
    underwater = drawdown(returns)
    below = (underwater < 0).to_numpy()
    dates = underwater.index
    episodes = []
    n = len(below)
    i = 0
    while i < n:
        if not below[i]:
            i += 1
            continue
        j = i
        while j < n and below[j]:
            j += 1
        segment = underwater.iloc[i:j]
        episodes.append(
            {
                "peak": dates[i - 1] if i > 0 else pd.NaT,
                "start": dates[i],
                "valley": segment.idxmin(),
                "recovery": dates[j] if j < n else pd.NaT,
                "depth": float(segment.min()),
                "periods": j - i,
                "recovered": j < n,
            }
        )
        i = j
    columns = ["peak", "start", "valley", "recovery", "depth", "periods", "recovered"]
    table = pd.DataFrame(episodes, columns=columns)
    for column in ("peak", "start", "valley", "recovery"):
        table[column] = pd.to_datetime(table[column])
    return table.astype({"depth": float, "periods": int, "recovered": bool})


def worst_drawdowns(returns: pd.Series, n: int = 5) -> pd.DataFrame:
    """The ``n`` deepest drawdown episodes of :func:`drawdown_periods`, deepest first.

    Returns
    -------
    DataFrame of shape (min(n, n_episodes), 7)
        Indexed 1..n by rank; the columns of :func:`drawdown_periods`.
    """
    episodes = drawdown_periods(returns)
    worst = episodes.sort_values(["depth", "start"], kind="stable").head(n)
    return worst.set_index(pd.RangeIndex(1, len(worst) + 1, name="rank"))


def rolling_volatility(returns: pd.Series, window: int, periods_per_year: int) -> pd.Series:
    """Trailing standard deviation (ddof=1) times ``sqrt(periods_per_year)``."""
    return returns.rolling(window).std(ddof=1) * np.sqrt(periods_per_year)


def rolling_sharpe(
    returns: pd.Series, risk_free: pd.Series | float, window: int, periods_per_year: int
) -> pd.Series:
    """Trailing mean excess return over its standard deviation (ddof=1), annualized.

    Parameters
    ----------
    returns : Series of shape (n_periods,)
    risk_free : Series of shape (n_periods,) or float
        Risk-free return of the same period (decimal, not annualized).
    window : int
        Periods in each window.
    periods_per_year : int
        252 for daily, 12 for monthly.
    """
    excess = _excess(returns, risk_free)
    rolling = excess.rolling(window)
    return rolling.mean() / rolling.std(ddof=1) * np.sqrt(periods_per_year)


def rolling_beta(returns: pd.Series, benchmark: pd.Series, window: int) -> pd.Series:
    """Trailing OLS slope of ``returns`` on ``benchmark``: ``cov / var`` over each window.

    Both series are aligned on their common dates first. (With a risk-free rate constant
    inside the window, the slope on excess returns is the same.)
    """
    frame = pd.concat({"r": returns, "b": benchmark}, axis=1, join="inner")
    market = frame["b"].rolling(window)
    return (frame["r"].rolling(window).cov(frame["b"]) / market.var()).rename(returns.name)


def calendar_returns(returns: pd.Series, period: str) -> pd.Series:
    """Returns compounded per calendar month (``"month"``) or year (``"year"``).

    Returns
    -------
    Series
        Indexed by the period's last calendar day (month-end or year-end), only periods
        with at least one return.
    """
    frequency = {"month": "M", "year": "Y"}[period]
    clean = returns.dropna()
    grouped = (1.0 + clean).groupby(clean.index.to_period(frequency)).prod() - 1.0
    grouped.index = grouped.index.to_timestamp(how="end").normalize()
    return grouped.rename(returns.name)


def monthly_return_table(returns: pd.Series) -> pd.DataFrame:
    """Calendar-month returns as a year x month grid, with the compounded year.

    Returns
    -------
    DataFrame of shape (n_years, 13)
        Index: calendar years; columns 1..12 (months, NaN where the series has no return)
        and ``"year"``: the calendar-year return.
    """
    monthly = calendar_returns(returns, "month")
    grid = pd.DataFrame(
        {"year": monthly.index.year, "month": monthly.index.month, "value": monthly.values}
    ).pivot(index="year", columns="month", values="value")
    grid = grid.reindex(columns=range(1, 13))
    yearly = calendar_returns(returns, "year")
    grid["year"] = pd.Series(yearly.values, index=yearly.index.year)
    grid.index.name = "year"
    grid.columns.name = None
    return grid


def _excess(returns: pd.Series, risk_free: pd.Series | float) -> pd.Series:
    if isinstance(risk_free, pd.Series):
        aligned = risk_free.reindex(returns.index)
        if aligned[returns.notna()].isna().any():
            raise ValueError("risk_free must cover every date of returns")
        return returns - aligned
    return returns - risk_free


def value_at_risk(returns: pd.Series, level: float = VAR_LEVEL) -> float:
    """Historical value at risk: the ``level`` quantile of period returns (negative = loss)."""
    return float(np.quantile(returns.dropna(), level))


def expected_shortfall(returns: pd.Series, level: float = VAR_LEVEL) -> float:
    """Conditional VaR: the mean of the period returns at or below :func:`value_at_risk`."""
    clean = returns.dropna()
    return float(clean[clean <= value_at_risk(clean, level)].mean())


def longest_drawdown(returns: pd.Series) -> int:
    """Most periods spent under water in one drawdown episode (0 without a drawdown)."""
    episodes = drawdown_periods(returns)
    return int(episodes["periods"].max()) if len(episodes) else 0


def regression_on_benchmark(
    returns: pd.Series, benchmark: pd.Series, risk_free: pd.Series | float, periods_per_year: int
) -> dict[str, float]:
    """Beta, annualized alpha and correlation of excess returns on benchmark excess returns.

    Returns
    -------
    dict
        ``beta``: ``cov / var`` (ddof=1); ``alpha``: ``(mean(r - rf) - beta mean(b - rf))
        * periods_per_year``; ``correlation``: Pearson correlation of the excess returns.
    """
    excess = _excess(returns, risk_free)
    market = _excess(benchmark.reindex(returns.index), risk_free)
    frame = pd.concat({"r": excess, "b": market}, axis=1).dropna()
    beta = frame["r"].cov(frame["b"]) / frame["b"].var()
    alpha = (frame["r"].mean() - beta * frame["b"].mean()) * periods_per_year
    return {
        "beta": float(beta),
        "alpha": float(alpha),
        "correlation": float(frame["r"].corr(frame["b"])),
    }


def summary_statistics(
    returns: pd.Series,
    benchmark: pd.Series | None,
    risk_free: pd.Series | float,
    periods_per_year: int,
) -> pd.Series:
    """The tear sheet's statistics of ``returns`` (relative ones against ``benchmark``).

    Parameters
    ----------
    returns : Series of shape (n_periods,)
        Simple returns per period.
    benchmark : Series of shape (n_periods,) or None
        The benchmark's returns, reindexed to ``returns``; None leaves out the statistics
        relative to a benchmark. Pass the benchmark as ``returns`` too to get its own column.
    risk_free : Series of shape (n_periods,) or float
        Risk-free return per period (decimal, not annualized).
    periods_per_year : int
        252 for daily, 12 for monthly.

    Returns
    -------
    Series
        ``start``, ``end`` (dates), ``n_periods``; ``cumulative_return``, ``ann_return``
        (geometric), ``ann_volatility``, ``sharpe``, ``sortino`` (excess of ``risk_free``),
        ``max_drawdown``, ``longest_drawdown`` (periods), ``calmar``; ``skew``,
        ``excess_kurtosis`` (pandas' bias-corrected estimators); ``value_at_risk``,
        ``expected_shortfall`` (one period, historical, 5%), ``tail_ratio`` (|95% quantile|
        over |5% quantile|); ``best_period``, ``worst_period``, ``best_month``,
        ``worst_month``, ``best_year``, ``worst_year`` (calendar compounding);
        ``positive_periods``, ``positive_months`` (shares); against the benchmark:
        ``beta``, ``alpha`` (annualized), ``correlation``, ``tracking_error``
        (annualized std of ``returns - benchmark``), ``information_ratio`` (annualized
        mean active return over the tracking error; NaN when the tracking error is 0).
    """
    clean = returns.dropna()
    months = calendar_returns(clean, "month")
    years = calendar_returns(clean, "year")
    upper, lower = np.quantile(clean, [1 - VAR_LEVEL, VAR_LEVEL])
    statistics = pd.Series(
        {
            "start": clean.index[0],
            "end": clean.index[-1],
            "n_periods": len(clean),
            "cumulative_return": float(wealth(clean).iloc[-1] - 1.0),
            "ann_return": annualized_return(clean, periods_per_year),
            "ann_volatility": annualized_volatility(clean, periods_per_year),
            "sharpe": sharpe_ratio(clean, risk_free, periods_per_year),
            "sortino": sortino_ratio(clean, risk_free, periods_per_year),
            "max_drawdown": max_drawdown(clean),
            "longest_drawdown": longest_drawdown(clean),
            "calmar": calmar_ratio(clean, periods_per_year),
            "skew": float(clean.skew()),
            "excess_kurtosis": float(clean.kurt()),
            "value_at_risk": value_at_risk(clean),
            "expected_shortfall": expected_shortfall(clean),
            "tail_ratio": float(abs(upper) / abs(lower)) if lower != 0 else np.nan,
            "best_period": float(clean.max()),
            "worst_period": float(clean.min()),
            "best_month": float(months.max()),
            "worst_month": float(months.min()),
            "best_year": float(years.max()),
            "worst_year": float(years.min()),
            "positive_periods": float((clean > 0).mean()),
            "positive_months": float((months > 0).mean()),
        },
        dtype=object,
    )
    if benchmark is None:
        return statistics
    bench = benchmark.reindex(clean.index)
    active = (clean - bench).dropna()
    tracking_error = float(active.std(ddof=1) * np.sqrt(periods_per_year))
    relative = {
        **regression_on_benchmark(clean, bench, risk_free, periods_per_year),
        "tracking_error": tracking_error,
        "information_ratio": float(active.mean() * periods_per_year) / tracking_error
        if tracking_error > 0
        else np.nan,
    }
    return pd.concat([statistics, pd.Series(relative, dtype=object)])
