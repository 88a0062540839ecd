"""Helpers every source shares: shaping a tidy daily table and cutting it to a date range."""

from __future__ import annotations

import datetime as dt
from typing import Literal

import pandas as pd

from portflow.errors import DataError
from portflow.sources.base import EXTRA_FIELDS, TIDY_FIELDS

YAHOO_COLUMNS = {
    "Date": "date",
    "Ticker": "ticker",
    "Open": "open",
    "High": "high",
    "Low": "low",
    "Close": "close",
    "Adj Close": "adj_close",
    "Volume": "volume",
}
"""Yahoo Finance column names (yfinance and the Yahoo-sourced sample files) -> portflow fields."""

DATE_DTYPE = "datetime64[ns]"
"""One date resolution for every source, so the same data hashes to the same version
whatever pandas version or provider produced it."""


def naive_dates(dates: pd.Series) -> pd.Series:
    """Datetimes as tz-naive (wall-clock time kept), normalized ``datetime64[ns]`` dates."""
    if dates.dt.tz is not None:
        dates = dates.dt.tz_localize(None)
    return dates.dt.normalize().astype(DATE_DTYPE)


def tidy(frame: pd.DataFrame) -> pd.DataFrame:
    """Put a long table into the tidy contract of :class:`~portflow.sources.base.MarketData`.

    Parameters
    ----------
    frame : DataFrame of shape (n_rows, n_columns)
        One row per (date, ticker), with columns ``date``, ``ticker`` and any of
        :data:`TIDY_FIELDS` / :data:`EXTRA_FIELDS`; other columns are dropped.

    Returns
    -------
    DataFrame
        Columns ``date`` (tz-naive, normalized, ``datetime64[ns]``), ``ticker`` (str), then
        the fields present in contract order: prices, volume and shares as float64, ``sic``
        as nullable Int64. Sorted by (date, ticker), default RangeIndex.
    """
    fields = [f for f in (*TIDY_FIELDS, *EXTRA_FIELDS) if f in frame.columns]
    out = pd.DataFrame(
        {"date": naive_dates(pd.to_datetime(frame["date"])), "ticker": frame["ticker"].astype(str)}
    )
    for field in fields:
        out[field] = frame[field].astype("Int64" if field == "sic" else "float64")
    return out.sort_values(["date", "ticker"], ignore_index=True)


def filter_dates(
    daily: pd.DataFrame, start: dt.date | None, end: dt.date | None, *, what: str
) -> pd.DataFrame:
    """Keep the rows of a tidy table with ``start <= date <= end`` (either bound optional).

    Raises
    ------
    DataError
        When no row is left; the message says which dates ``what`` covers.
    """
    dates = daily["date"]
    first, last = dates.min(), dates.max()
    keep = dates.between(pd.Timestamp(start or first), pd.Timestamp(end or last))
    if not keep.any():
        raise DataError(
            "ingest",
            "data.start, data.end",
            f"no data between {start or 'the beginning'} and {end or 'the end'}; "
            f"{what} covers {first:%Y-%m-%d} to {last:%Y-%m-%d}",
            "choose start and end inside that range",
        )
    return daily[keep].reset_index(drop=True)


def month_end(dates) -> pd.DatetimeIndex:
    """Calendar month-end of each date (``2018-11-01`` and ``2018-11-30`` -> ``2018-11-30``)."""
    return (pd.DatetimeIndex(dates).normalize() + pd.offsets.MonthEnd(0)).astype(DATE_DTYPE)


def risk_free_for(
    rf: pd.Series, daily: pd.DataFrame, frequency: Literal["daily", "monthly"]
) -> pd.Series:
    """Keep the risk-free periods that overlap the dates of the tidy table ``daily``.

    A monthly series (indexed by month-end) keeps the months from the one containing the
    first date to the one containing the last; a daily series keeps the dates in between.
    """
    first, last = daily["date"].min(), daily["date"].max()
    if frequency == "monthly":
        first, last = (d + pd.offsets.MonthEnd(0) for d in (first, last))
    return rf.loc[first:last]
