"""Return stages: daily simple returns, monthly compounding and monthly realized variance.

Conventions
-----------
Returns are simple decimal returns. Monthly series are indexed by the calendar
month-end (e.g. 2018-11-30), whatever the last trading day was.

A month is *complete* when the data covers all of it: the sample's first month is
incomplete unless the first price is dated in the month before (the return from the
previous month-end close to the first day is unknown), and the sample's last month is
incomplete unless the data reaches its last business day (``pandas.offsets.BMonthEnd``;
this conservatively drops a month whose last weekday was an exchange holiday).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from portflow.errors import DataError


def daily_returns(prices: pd.DataFrame) -> pd.DataFrame:
    """Simple daily returns ``P_t / P_{t-1} - 1`` of a price panel.

    Parameters
    ----------
    prices : DataFrame of shape (n_dates, n_tickers)
        Positive prices, NaN where a ticker is not listed.

    Returns
    -------
    DataFrame of shape (n_dates, n_tickers)
        Same index as ``prices``: the first date is kept with NaN returns so that the
        trading calendar, and with it the completeness of the first month, is preserved.
        A ticker's return is NaN on its first listed day and wherever a price is missing.
    """
    returns = prices / prices.shift(1) - 1.0
    returns.index.name = "date"
    return returns


def _month_end(index: pd.DatetimeIndex) -> pd.DatetimeIndex:
    return (index + pd.offsets.MonthEnd(0)).normalize()


def _last_complete_month(daily_index: pd.DatetimeIndex) -> pd.Timestamp:
    """Month-end of the last month the data covers up to its last business day."""
    last_date = daily_index.max()
    month_end = _month_end(pd.DatetimeIndex([last_date]))[0]
    if last_date.normalize() >= last_date + pd.offsets.BMonthEnd(0):
        return month_end
    return month_end - pd.offsets.MonthEnd(1)


def monthly_returns(daily_returns: pd.DataFrame) -> pd.DataFrame:
    """Compound daily returns into calendar-month returns: ``prod(1 + r_d) - 1``.

    Parameters
    ----------
    daily_returns : DataFrame of shape (n_dates, n_tickers)
        Output of :func:`daily_returns` (first date NaN).

    Returns
    -------
    DataFrame of shape (n_months, n_tickers)
        Indexed by calendar month-end. A ticker's month is defined only when it has a
        return on *every* trading day of that month in the panel, so a month in which
        it listed or has a missing price is NaN rather than a partial compounding. The
        exception is the month a ticker leaves the panel before its end (a delisting):
        its return compounds every trading day from the month's first to the ticker's
        last (CRSP's monthly convention; the last day carries any delisting return), so
        whoever held it earns what it returned until it left. Months where no ticker is
        defined, and an incomplete last month, are dropped.
    """
    monthly = _period_returns(daily_returns, _month_end(daily_returns.index))
    monthly = monthly.loc[: _last_complete_month(daily_returns.index)]
    monthly.index.name = "date"
    return monthly


def _period_returns(daily_returns: pd.DataFrame, periods: pd.DatetimeIndex) -> pd.DataFrame:
    """Compound daily returns over consecutive periods (``periods`` labels each day, sorted).

    A ticker's period is defined when it has a return on every trading day of the period,
    or, in the period it leaves the panel, on every day from the period's first to its last
    (see :func:`monthly_returns`); periods where no ticker is defined are dropped.
    """
    compounded = (1.0 + daily_returns).groupby(periods).prod(min_count=1) - 1.0
    grouped = daily_returns.groupby(periods)
    count = grouped.count()
    expected = np.repeat(grouped.size().to_numpy()[:, None], count.shape[1], axis=1)
    # Tickers whose last return is before the panel's last day: their last period counts
    # the trading days from the period's first to that last return.
    valid = daily_returns.notna().to_numpy()
    last = len(valid) - 1 - valid[::-1].argmax(axis=0)
    left = np.flatnonzero(valid.any(axis=0) & (last < len(valid) - 1))
    period_of_day, _ = pd.factorize(periods)
    period_start = np.searchsorted(period_of_day, np.arange(count.shape[0]))
    period_left = period_of_day[last[left]]
    expected[period_left, left] = last[left] - period_start[period_left] + 1
    full = count.to_numpy() == expected
    return compounded.where(full).dropna(how="all")


def holding_returns(daily_returns: pd.DataFrame, *, rebalance_day: str = "last") -> pd.DataFrame:
    """Returns of the monthly holding periods that start at each monthly rebalance.

    Weights decided at month-end t (with data up to t) are traded on the last trading day
    of month t (``rebalance_day="last"``) or on the first trading day of month t+1
    (``"first"``), and held until the next rebalance. Either way the period they are held
    over is labeled t+1.

    Parameters
    ----------
    daily_returns : DataFrame of shape (n_dates, n_tickers)
        Output of :func:`daily_returns`; its dates are the trading days.
    rebalance_day : {"last", "first"}
        ``last``: the periods are calendar months, exactly :func:`monthly_returns`.
        ``first``: the period labeled M runs from the close of the first trading day of
        month M (excluded) to the close of the first trading day of month M+1 (included).

    Returns
    -------
    DataFrame of shape (n_periods, n_tickers)
        Compounded returns by label (calendar month-end), with the rules of
        :func:`monthly_returns` (a ticker's period is defined when it has every daily
        return, or every one up to its last in the period it leaves). The periods labeled
        with the data's first and last months are dropped: the data may not hold the
        first trading day they start or end on.
    """
    if rebalance_day == "last":
        return monthly_returns(daily_returns)
    index = daily_returns.index
    months = _month_end(index)
    first_day = pd.Series(index, index=index).groupby(months).transform("min").to_numpy()
    labels = months.where(index != first_day, months - pd.offsets.MonthEnd(1))
    periods = _period_returns(daily_returns, pd.DatetimeIndex(labels))
    # The first and last months' periods may start before the data or end after it.
    periods = periods.loc[(periods.index > months[0]) & (periods.index < months[-1])]
    periods.index.name = "date"
    return periods


def monthly_variance(daily_returns: pd.DataFrame, *, min_days: int = 15) -> pd.DataFrame:
    """Realized variance of daily returns within each calendar month.

    Parameters
    ----------
    daily_returns : DataFrame of shape (n_dates, n_tickers)
        Output of :func:`daily_returns`, benchmark included as a column.
    min_days : int
        Fewest daily returns a (month, ticker) needs; with fewer the variance is NaN
        (documented policy: too few observations give no estimate rather than a noisy one).

    Returns
    -------
    DataFrame of shape (n_months, n_tickers)
        Sample variance with ``ddof=1``, in units of squared *daily* returns, indexed by
        calendar month-end. Months where no ticker has ``min_days`` returns, and an
        incomplete last month, are dropped.
    """
    if min_days < 2:
        raise DataError(
            "monthly_variance",
            "monthly.min_days",
            f"{min_days} is below 2",
            "a ddof=1 variance needs at least 2 returns: set monthly.min_days >= 2",
        )
    grouped = daily_returns.groupby(_month_end(daily_returns.index))
    variance = grouped.var(ddof=1).where(grouped.count() >= min_days).dropna(how="all")
    variance = variance.loc[: _last_complete_month(daily_returns.index)]
    variance.index.name = "date"
    return variance
