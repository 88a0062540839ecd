"""Rebuild the recorded yfinance frames in this folder (run by hand, offline).

The machines that made them have no internet, so the per-ticker histories that Yahoo
would send are replaced: AAPL, IBM and MSFT are the real daily quotes of 2012-10-01 to
2012-11-30 from bokeh-sampledata (Yahoo Finance data), ^IXIC is the real NASDAQ Composite
from arch, and ^IRX is an illustrative 13-week T-bill yield in percent (0.05-0.11, with no
quote on Columbus Day and Veterans Day, when the bond market is closed and the NYSE open).
Everything after the per-ticker history - the concatenation, reindexing, column order,
timezone handling and error logging - is yfinance 1.7's own ``yf.download``, so the
saved frames are in its exact output format.

    .venv/bin/python tests/data/sources/make_yahoo_fixtures.py
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import yfinance as yf
import yfinance.multi
from yfinance.exceptions import YFRateLimitError, YFTzMissingError

from portflow.sources.sample import read_sample

HERE = Path(__file__).parent
START, END = "2012-10-01", "2012-12-01"  # yfinance's end is exclusive
BOND_HOLIDAYS = ["2012-10-08", "2012-11-12"]


def _histories() -> dict[str, pd.DataFrame]:
    """Per-ticker frames as ``Ticker.history(auto_adjust=False, actions=False)`` returns them."""
    columns = ["Open", "High", "Low", "Close", "Adj Close", "Volume"]
    stocks = read_sample("tech_stocks", parse_dates=["Date"])
    nasdaq = read_sample("nasdaq")
    nasdaq["Date"] = pd.to_datetime(nasdaq["Date"], format="%m/%d/%Y")
    frames = {t: g.set_index("Date")[columns] for t, g in stocks.groupby("Ticker")}
    frames["^IXIC"] = nasdaq.set_index("Date")[columns]
    window = {t: f.loc[START:"2012-11-30"] for t, f in frames.items() if t != "FB"}
    days = window["AAPL"].index.drop(pd.DatetimeIndex(BOND_HOLIDAYS))
    irx = np.round(0.08 + 0.03 * np.sin(np.arange(len(days)) / 5), 3)
    window["^IRX"] = pd.DataFrame(
        {"Open": irx, "High": irx, "Low": irx, "Close": irx, "Adj Close": irx, "Volume": 0},
        index=days,
    )
    for frame in window.values():
        frame.index = pd.to_datetime(frame.index.date).tz_localize("America/New_York")
        frame.index.name = "Date"
        frame["Volume"] = frame["Volume"].astype(np.int64)
    return window


def _record(name: str, tickers: list[str], failures: dict[str, Exception]) -> None:
    """Run ``yf.download`` with history patched; save its frame and its error log lines."""
    histories = _histories()

    class RecordedTicker:
        def __init__(self, ticker):
            self.ticker = ticker
            self._price_history = None

        def history(self, **kwargs):
            if self.ticker in failures:
                raise failures[self.ticker]
            return histories[self.ticker].copy()

    messages: list[str] = []
    handler = logging.Handler(logging.ERROR)
    handler.emit = lambda record: messages.append(record.getMessage().strip())
    logging.getLogger("yfinance").addHandler(handler)
    yfinance.multi.Ticker = RecordedTicker
    frame = yf.download(
        tickers, start=START, end=END, auto_adjust=False, actions=False, progress=False,
        threads=False,
    )  # fmt: skip
    logging.getLogger("yfinance").removeHandler(handler)
    frame.to_csv(HERE / f"{name}.csv")
    (HERE / f"{name}.log").write_text("".join(f"{m}\n" for m in messages))


if __name__ == "__main__":
    everyone = ["AAPL", "IBM", "MSFT", "^IXIC", "^IRX"]
    _record("yf_download_ok", everyone, {})
    _record(
        "yf_download_partial",
        [*everyone, "NOSUCH"],
        {"IBM": YFRateLimitError(), "NOSUCH": YFTzMissingError("NOSUCH")},
    )
    _record("yf_download_empty", everyone, dict.fromkeys(everyone, YFRateLimitError()))
