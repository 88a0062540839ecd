"""Rebuild ``yf_shares_full.csv``: recorded ``Ticker.get_shares_full`` results (offline).

The machines that made it have no internet, so the JSON that Yahoo's fundamentals
time-series endpoint sends is replaced by a hand-written one with illustrative share
counts close to the companies' 2012 10-Q / 10-K cover pages (AAPL about 937 and 939
million, MSFT about 8.38 and 8.40 billion); IBM has none (Yahoo's answer has no
``shares_out``, so yfinance returns None). Everything after the HTTP call - building the
Series, localizing it to the exchange timezone, sorting - is yfinance 1.7's own
``get_shares_full``, so the saved Series are in its exact output format: float share
counts indexed by tz-aware (America/New_York) timestamps, with a repeated timestamp as
Yahoo sometimes sends. AAPL has a count from before the price window (2012-07-20); MSFT's
first count is inside it (2012-10-18), so earlier days have no count.

    .venv/bin/python tests/data/sources/make_shares_fixture.py
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import yfinance as yf

HERE = Path(__file__).parent
START, END = "2011-04-02", "2012-12-01"  # what YahooSource asks: 548 days before the start

ANSWERS = {  # ticker -> (epoch seconds, shares) as Yahoo's JSON lists them
    "AAPL": [
        (pd.Timestamp("2012-07-20 13:30").value // 10**9, 937_406_000.0),
        (pd.Timestamp("2012-10-26 14:00").value // 10**9, 939_208_000.0),
        (pd.Timestamp("2012-10-26 14:00").value // 10**9, 939_208_000.0),
        (pd.Timestamp("2012-11-20 00:00").value // 10**9, 939_380_000.0),
    ],
    "MSFT": [
        (pd.Timestamp("2012-10-18 12:00").value // 10**9, 8_381_000_000.0),
        (pd.Timestamp("2012-11-15 12:00").value // 10**9, 8_403_000_000.0),
    ],
    "IBM": None,
}


class _Response:
    def __init__(self, payload):
        self.payload = payload

    def json(self):
        return self.payload


class _Data:
    def __init__(self, answer):
        self.answer = answer

    def cache_get(self, url, **kwargs):
        result = {"meta": {"type": ["shares_out"]}}
        if self.answer is not None:
            result |= {
                "timestamp": [t for t, _ in self.answer],
                "shares_out": [s for _, s in self.answer],
            }
        return _Response({"timeseries": {"result": [result], "error": None}})


def record(ticker: str) -> pd.Series | None:
    """``yf.Ticker(ticker).get_shares_full(start=START, end=END)`` on the hand-written JSON."""
    stock = yf.Ticker(ticker)
    stock._tz = "America/New_York"
    stock._data = _Data(ANSWERS[ticker])
    return stock.get_shares_full(start=START, end=END)


if __name__ == "__main__":
    rows = []
    for ticker in ANSWERS:
        series = record(ticker)
        if series is not None:
            rows.append(
                series.rename("shares").rename_axis("Date").reset_index().assign(ticker=ticker)
            )
    pd.concat(rows)[["ticker", "Date", "shares"]].to_csv(HERE / "yf_shares_full.csv", index=False)
