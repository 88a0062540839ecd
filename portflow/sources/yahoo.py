"""Live daily prices from Yahoo Finance, through one batched ``yfinance.download`` call,
and the stocks' point-in-time shares outstanding (``yfinance.Ticker.get_shares_full``).

The work is split so that the caller can keep the raw download as an artifact:
:meth:`YahooSource.request` says what a download is (its cache key),
:meth:`YahooSource.download` fetches it as a tidy long table, and
:meth:`YahooSource.parse` turns that table into :class:`MarketData`.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from portflow.config import YFinanceData
from portflow.errors import DataError, preview
from portflow.sources.base import TIDY_FIELDS, MarketData
from portflow.sources.tidy import YAHOO_COLUMNS, tidy

TRADING_DAYS = 252
"""Trading days per year, to turn an annual yield into a rate per trading day."""

SHARES_LOOKBACK_DAYS = 548
"""Days before ``start`` from which shares outstanding are asked for (yfinance's own
default span, 18 months), so that the count in force on the first day is known."""


def _yfinance_download(tickers: list[str], **kwargs: Any) -> pd.DataFrame:
    """``yfinance.download``, imported on first use: only live runs need yfinance."""
    import yfinance

    return yfinance.download(tickers, **kwargs)


def _yfinance_shares(ticker: str, *, start: str, end: str) -> pd.Series | None:
    """``yfinance.Ticker(ticker).get_shares_full(start=start, end=end)``, imported on first use.

    yfinance 1.7 returns a Series of share counts indexed by the (tz-aware, exchange
    timezone) timestamps Yahoo reported them at, sorted, possibly with repeated
    timestamps; or None when Yahoo has no counts or the request failed (it logs why).
    """
    import yfinance

    return yfinance.Ticker(ticker).get_shares_full(start=start, end=end)


class _ErrorLog(logging.Handler):
    """Collects the error messages yfinance logs: it reports failed tickers there, not by raising.

    yfinance 1.7 logs one line per error, like ``['IBM']: YFRateLimitError('Too Many
    Requests...')``; its ``shared._ERRORS`` is no longer filled.
    """

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage().strip())


def _long(wide: pd.DataFrame | None) -> pd.DataFrame:
    """yfinance's frame (columns (Price, Ticker), index Date) -> tidy long table.

    Rows where every field is NaN (a ticker without a quote that day) are dropped, so a
    ticker that failed to download is absent.
    """
    if wide is None or wide.empty:
        return tidy(pd.DataFrame({"date": pd.to_datetime([]), "ticker": []}))
    if "Ticker" not in wide.columns.names:
        raise DataError(
            "ingest",
            "data.source",
            f"yfinance returned columns without the (Price, Ticker) levels portflow reads: "
            f"levels {list(wide.columns.names)}, columns {preview(wide.columns)}",
            "install the yfinance that portflow's pyproject.toml asks for (make setup)",
        )
    long = wide.rename_axis("Date").stack(level="Ticker", future_stack=True).reset_index()
    long = long.rename(columns=YAHOO_COLUMNS)
    return tidy(long.dropna(how="all", subset=[f for f in TIDY_FIELDS if f in long.columns]))


def point_in_time_shares(counts: pd.Series, dates: pd.Series) -> np.ndarray:
    """Shares outstanding as known on each date: the last count reported on or before it.

    Parameters
    ----------
    counts : Series
        Share counts (number of shares) indexed by the timestamps Yahoo reported them at,
        tz-aware or naive; a timestamp stands for its calendar day in its own timezone.
        Several counts on one day: the one with the latest timestamp is kept (the last
        of exact repeats, after a stable sort).
    dates : Series of datetime64
        Trading days (tz-naive, normalized), in any order.

    Returns
    -------
    ndarray of shape (n_dates,)
        The count in force on each date, carried forward from the last report; NaN
        before the first report. Never filled backward: a date never sees a count
        reported after it.
    """
    counts = counts.dropna()
    stamps = pd.DatetimeIndex(counts.index)
    if stamps.tz is not None:
        stamps = stamps.tz_localize(None)  # the wall-clock day in the exchange's timezone
    days = pd.Series(counts.to_numpy(dtype="float64"), index=stamps).sort_index(kind="stable")
    known = days.groupby(days.index.normalize()).last()
    return known.reindex(pd.DatetimeIndex(dates), method="ffill").to_numpy()


class YahooSource:
    """Source of live daily data from Yahoo Finance.

    Parameters
    ----------
    config : YFinanceData
        Tickers, benchmark, risk-free ticker, dates, as-of date and retry policy.
    download : callable, optional
        Replacement for ``yfinance.download`` with the same signature and output (tests
        pass one that returns recorded frames).
    shares : callable, optional
        ``shares(ticker, start=..., end=...)`` replacing ``yfinance.Ticker(ticker)
        .get_shares_full`` (same output: a Series of counts by timestamp, or None).
    sleep : callable, default ``time.sleep``
        Called with the seconds to wait between retries.
    today : date, optional
        The date a null ``as_of`` resolves to; default the current date.
    """

    def __init__(
        self,
        config: YFinanceData,
        *,
        download: Callable[..., pd.DataFrame] | None = None,
        shares: Callable[..., pd.Series | None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        today: dt.date | None = None,
    ) -> None:
        self.config = config
        self._download = download or _yfinance_download
        self._shares = shares or _yfinance_shares
        self._sleep = sleep
        self._today = today

    def files(self) -> None:
        """None: a download, cached in the store per request and as-of date instead."""
        return None

    def request(self) -> dict[str, Any]:
        """The JSON-able identity of a download, to key a cache on.

        Returns
        -------
        dict
            ``tickers`` (list), ``benchmark``, ``risk_free`` (Yahoo symbols, upper case as
            yfinance returns them), ``start``, ``end`` and ``as_of`` (ISO dates; a null
            ``as_of`` is today, a null ``end`` is ``as_of``; both inclusive), and
            ``shares_outstanding: True`` (the download holds the stocks' share counts, so
            a download cached before they were fetched is not reused).
        """
        as_of = self.config.as_of or self._today or dt.date.today()
        return {
            "tickers": [t.upper() for t in self.config.tickers],
            "benchmark": self.config.benchmark.upper(),
            "risk_free": self.config.risk_free.upper(),
            "start": self.config.start.isoformat(),
            "end": (self.config.end or as_of).isoformat(),
            "as_of": as_of.isoformat(),
            "shares_outstanding": True,
        }

    def download(self) -> pd.DataFrame:
        """Download the stocks, benchmark and risk-free ticker in one batched call, then the
        stocks' shares outstanding (:meth:`shares_outstanding`).

        An exception, or a result missing any ticker, counts as transient (yfinance does
        not raise on network errors): the call is retried ``config.retries`` times, waiting
        ``backoff_seconds``, then twice that, and so on.

        Returns
        -------
        DataFrame
            Tidy long table: ``date``, ``ticker``, ``open``, ``high``, ``low``, ``close``,
            ``adj_close`` (split- and dividend-adjusted) and ``volume``, as Yahoo quotes
            them (``auto_adjust=False``), and ``shares_outstanding`` (number of shares,
            point in time; NaN for the benchmark, the risk-free ticker and days before a
            stock's first count; absent when Yahoo has counts for no stock), sorted by
            (date, ticker).

        Raises
        ------
        DataError
            Listing the tickers still without data after the last attempt, with the errors
            yfinance logged in that attempt.
        """
        request = self.request()
        symbols = list(
            dict.fromkeys([*request["tickers"], request["benchmark"], request["risk_free"]])
        )
        end = dt.date.fromisoformat(request["end"]) + dt.timedelta(days=1)  # yfinance: exclusive
        attempts = self.config.retries + 1
        for attempt in range(attempts):
            if attempt:
                self._sleep(self.config.backoff_seconds * 2 ** (attempt - 1))
            log = _ErrorLog()
            logging.getLogger("yfinance").addHandler(log)
            try:
                wide = self._download(
                    symbols,
                    start=request["start"],
                    end=end.isoformat(),
                    auto_adjust=False,
                    actions=False,
                    progress=False,
                )
            except Exception as exc:  # any failure of the call itself is retried too
                wide = None
                log.messages.append(repr(exc))
            finally:
                logging.getLogger("yfinance").removeHandler(log)
            raw = _long(wide)
            missing = [s for s in symbols if s not in set(raw["ticker"])]
            if not missing:
                return self.shares_outstanding(raw)
        raise DataError(
            "ingest",
            ", ".join(missing),
            f"no data from Yahoo Finance between {request['start']} and {request['end']} "
            f"after {attempts} attempt(s)"
            + (f"; yfinance said: {' | '.join(log.messages)}" if log.messages else ""),
            "check these symbols on finance.yahoo.com and in data.tickers, data.benchmark and "
            "data.risk_free; if Yahoo rate-limited or the network failed, run again later",
        )

    def shares_outstanding(self, prices: pd.DataFrame) -> pd.DataFrame:
        """Add each stock's point-in-time shares outstanding to a tidy price table.

        Counts are asked for from :data:`SHARES_LOOKBACK_DAYS` before ``start`` to ``end``,
        one stock at a time, and carried forward by :func:`point_in_time_shares`. A call
        that raises or makes yfinance log an error is retried like the prices; a stock
        Yahoo still has no counts for keeps NaN, and those stocks are named in one
        ``UserWarning`` (cap weights then give them weight 0).

        Returns
        -------
        DataFrame
            ``prices`` with a ``shares_outstanding`` column (tidy order), or unchanged
            when no stock has counts.
        """
        request = self.request()
        start = dt.date.fromisoformat(request["start"]) - dt.timedelta(SHARES_LOOKBACK_DAYS)
        end = dt.date.fromisoformat(request["end"]) + dt.timedelta(days=1)
        others = {request["benchmark"], request["risk_free"]}
        shares = pd.Series(np.nan, index=prices.index)
        without: list[str] = []
        for ticker in [t for t in dict.fromkeys(request["tickers"]) if t not in others]:
            counts, messages = self._share_counts(ticker, start.isoformat(), end.isoformat())
            if counts is None or counts.dropna().empty:
                without.append(ticker + (f" ({' | '.join(messages)})" if messages else ""))
                continue
            rows = prices["ticker"] == ticker
            shares[rows] = point_in_time_shares(counts, prices.loc[rows, "date"])
        if without:
            warnings.warn(
                f"Yahoo Finance has no shares outstanding for {'; '.join(without)}: their "
                "shares_outstanding is missing, so cap-weighted benchmarks give them weight 0",
                UserWarning,
                stacklevel=3,  # the caller of download()
            )
        if shares.isna().all():
            return prices
        return tidy(prices.assign(shares_outstanding=shares))

    def _share_counts(
        self, ticker: str, start: str, end: str
    ) -> tuple[pd.Series | None, list[str]]:
        """One stock's counts with retries; also the errors yfinance logged last time."""
        log = _ErrorLog()
        for attempt in range(self.config.retries + 1):
            if attempt:
                self._sleep(self.config.backoff_seconds * 2 ** (attempt - 1))
            log = _ErrorLog()
            logging.getLogger("yfinance").addHandler(log)
            try:
                counts = self._shares(ticker, start=start, end=end)
            except Exception as exc:  # a failed call is retried like a logged error
                counts = None
                log.messages.append(repr(exc))
            finally:
                logging.getLogger("yfinance").removeHandler(log)
            if counts is not None or not log.messages:  # an answer, possibly "none"
                return counts, log.messages
        return None, log.messages

    def parse(self, raw: pd.DataFrame) -> MarketData:
        """Turn a :meth:`download` table into market data.

        The risk-free ticker (``^IRX``: the 13-week T-bill yield ``y``, annualized, in
        percent) becomes a simple return per trading day, ``(1 + y / 100) ** (1 / 252) - 1``.
        The return of day t is earned on a bill bought at the close of the previous quote
        day, so it uses the yield quoted then (no look-ahead into day t's close). Bond-market
        holidays on which stocks trade (e.g. Columbus Day) have no rate here; the
        risk-free stages carry the previous rate onto them.

        Yahoo has no SIC codes: ``config.sic_codes`` (ticker -> code) become a constant
        ``sic`` column of those stocks.

        Returns
        -------
        MarketData
            ``daily`` holds the stocks and the benchmark; ``risk_free`` is daily.
        """
        request = self.request()
        daily = raw[raw["ticker"].isin([*request["tickers"], request["benchmark"]])]
        daily = daily.reset_index(drop=True)
        if self.config.sic_codes:
            codes = {t.upper(): c for t, c in self.config.sic_codes.items()}
            daily = tidy(daily.assign(sic=daily["ticker"].map(codes).astype("Int64")))
        quotes = raw[raw["ticker"] == request["risk_free"]].set_index("date")["close"]
        risk_free = ((1 + quotes.shift(1) / 100) ** (1 / TRADING_DAYS) - 1).dropna().rename("rf")
        return MarketData(daily, request["benchmark"], risk_free, "daily")

    def load(self) -> MarketData:
        """Download and parse: ``parse(download())``."""
        return self.parse(self.download())
