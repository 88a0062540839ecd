"""Risk-free stages: the source's risk-free series on the pipeline's monthly and daily calendars.

The source gives a rate per period, either monthly (Ken French ``RF``) or daily (from a
T-bill yield). Both calendars are derived here, so every strategy uses the same rates.
The trading days of a month the data only partly covers come from the exchange calendar
of ``exchange_calendars`` (:data:`EXCHANGE`).
"""

from __future__ import annotations

import warnings
from functools import cache

import pandas as pd

from portflow.errors import DataError, preview

DAILY_CARRY_LIMIT = 5
"""Days a daily quote is carried forward onto stock trading days it lacks (e.g. bond-market
holidays such as Columbus Day, when stock exchanges are open)."""


EXCHANGE = "XNYS"
"""The New York Stock Exchange: the calendar of the sample data and of US listings (NASDAQ
closes on the same days)."""


@cache
def exchange_sessions(month_end: pd.Timestamp) -> frozenset[pd.Timestamp]:
    """The :data:`EXCHANGE`'s trading days in the month ending ``month_end``."""
    import exchange_calendars  # here, not at import: a warm re-run computes no calendar

    first = month_end - pd.offsets.MonthBegin(1)
    with warnings.catch_warnings():  # exchange_calendars 4.13 on pandas 3: a deprecation
        warnings.filterwarnings("ignore", message="Series.values returning an ndarray")
        calendar = exchange_calendars.get_calendar(EXCHANGE, start=first, end=month_end)
    return frozenset(pd.DatetimeIndex(calendar.sessions).as_unit("ns"))


def trading_days_in_month(days: pd.DatetimeIndex, month_end: pd.Timestamp) -> int:
    """Trading days of a month of which the calendar may hold only ``days``.

    The exchange's sessions of that month when ``days`` are all sessions (the calendar is
    the exchange's), else the month's weekdays (holidays unknown).
    """
    sessions = exchange_sessions(pd.Timestamp(month_end).normalize())
    if set(pd.DatetimeIndex(days).as_unit("ns")) <= sessions:
        return len(sessions)
    return len(pd.bdate_range(month_end - pd.offsets.MonthBegin(1), month_end))


def _source_series(risk_free_source: pd.DataFrame) -> tuple[pd.Series, str]:
    (column,) = risk_free_source.columns
    frequency = column.removeprefix("rf_")
    if frequency not in ("daily", "monthly"):
        raise ValueError(f"risk-free column must be rf_daily or rf_monthly, got {column!r}")
    return risk_free_source[column].astype(float), frequency


def _require(rates: pd.Series, stage: str, labels_format: str) -> pd.Series:
    missing = rates.index[rates.isna()]
    if len(missing):
        covered = rates.dropna()
        span = (
            f"; the series covers {covered.index.min():%Y-%m-%d} to {covered.index.max():%Y-%m-%d}"
            if len(covered)
            else ""
        )
        raise DataError(
            stage,
            "risk_free",
            f"no risk-free rate for {len(missing)} periods: "
            f"{preview(d.strftime(labels_format) for d in missing)}{span}",
            "move data.start/data.end inside the risk-free coverage, or supply a risk-free "
            "series that covers the sample",
        )
    return rates


def _daily_on_calendar(rates: pd.Series, calendar: pd.DatetimeIndex) -> pd.Series:
    union = rates.index.union(calendar)
    return rates.reindex(union).ffill(limit=DAILY_CARRY_LIMIT).reindex(calendar)


def monthly_risk_free(
    risk_free_source: pd.DataFrame, monthly_returns: pd.DataFrame
) -> pd.DataFrame:
    """Risk-free return of each month in the monthly return calendar.

    Parameters
    ----------
    risk_free_source : DataFrame
        One column ``rf_monthly`` (indexed by month-end) or ``rf_daily`` (indexed by
        date), simple decimal return per period.
    monthly_returns : DataFrame
        Only its index (calendar month-ends) is used.

    Returns
    -------
    DataFrame of shape (n_months, 1)
        Column ``rf``: decimal return per month. From a daily source, the daily rates of
        the month's trading days compounded, ``prod(1 + rf_d) - 1``.

    Raises
    ------
    DataError
        When any month of the calendar has no rate.
    """
    rates, frequency = _source_series(risk_free_source)
    months = monthly_returns.index
    if frequency == "daily":
        calendar = pd.bdate_range(months.min() - pd.offsets.MonthBegin(1), months.max())
        daily = _require(_daily_on_calendar(rates, calendar), "risk_free_monthly", "%Y-%m-%d")
        rates = (1.0 + daily).groupby(daily.index + pd.offsets.MonthEnd(0)).prod() - 1.0
    monthly = _require(rates.reindex(months), "risk_free_monthly", "%Y-%m")
    return monthly.rename("rf").to_frame().rename_axis("date")


def daily_risk_free(risk_free_source: pd.DataFrame, daily_returns: pd.DataFrame) -> pd.DataFrame:
    """Risk-free return of each trading day in the daily return calendar.

    Parameters
    ----------
    risk_free_source : DataFrame
        As in :func:`monthly_risk_free`.
    daily_returns : DataFrame
        Only its index (trading days) is used.

    Returns
    -------
    DataFrame of shape (n_dates, 1)
        Column ``rf``: decimal return per trading day. From a monthly source, each month's
        rate is spread evenly over its trading days in geometric terms,
        ``(1 + rf_m) ** (1 / n_m) - 1``, so the days of a month compound exactly to
        ``rf_m``. ``n_m`` is the month's number of trading days in the calendar, except in
        the calendar's first and last months, which may be cut short: there ``n_m`` is the
        month's number of trading days on the exchange (:func:`trading_days_in_month`), so
        a complete edge month also compounds exactly to ``rf_m`` and a cut one to its
        share of it. Where the calendar is not the exchange's (a date that is not one of
        its sessions), ``n_m`` is the month's number of weekdays. From a daily source,
        quotes are carried forward at most :data:`DAILY_CARRY_LIMIT` days onto trading
        days that lack one.
    """
    rates, frequency = _source_series(risk_free_source)
    calendar = daily_returns.index
    if frequency == "daily":
        daily = _require(_daily_on_calendar(rates, calendar), "risk_free_daily", "%Y-%m-%d")
        return daily.rename("rf").to_frame().rename_axis("date")
    months = calendar + pd.offsets.MonthEnd(0)
    monthly = _require(rates.reindex(months.unique()), "risk_free_daily", "%Y-%m")
    days = pd.Series(1, index=calendar).groupby(months).transform("size")
    for edge in (months[0], months[-1]):
        days[months == edge] = trading_days_in_month(calendar[months == edge], edge)
    exponent = 1.0 / days.to_numpy()
    daily = (1.0 + monthly.reindex(months).to_numpy()) ** exponent - 1.0
    return pd.DataFrame({"rf": daily}, index=calendar.rename("date"))
