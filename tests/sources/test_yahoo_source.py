"""Yahoo Finance source on recorded yfinance 1.7 frames; never touches the network."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from portflow.config import YFinanceData
from portflow.errors import DataError
from portflow.sources.yahoo import YahooSource

FIXTURES = Path(__file__).parents[1] / "data" / "sources"
SYMBOLS = ["AAPL", "IBM", "MSFT", "^IXIC", "^IRX"]


def recorded(name: str) -> tuple[pd.DataFrame, list[str]]:
    """A recorded ``yf.download`` frame and the error lines yfinance logged with it."""
    frame = pd.read_csv(FIXTURES / f"{name}.csv", header=[0, 1], index_col=0, parse_dates=True)
    return frame, (FIXTURES / f"{name}.log").read_text().splitlines()


class FakeDownload:
    """Stands in for ``yfinance.download``: replays recordings or raises, one per call."""

    def __init__(self, *outcomes: str | Exception) -> None:
        self.outcomes = list(outcomes)
        self.calls: list[tuple[list[str], dict]] = []

    def __call__(self, tickers, **kwargs):
        self.calls.append((tickers, kwargs))
        outcome = self.outcomes[min(len(self.calls), len(self.outcomes)) - 1]
        if isinstance(outcome, Exception):
            raise outcome
        frame, errors = recorded(outcome)
        for line in errors:
            logging.getLogger("yfinance").error(line)
        return frame


def source(*outcomes, tickers=("AAPL", "IBM", "MSFT"), retries=3, **config):
    """A YahooSource on the recorded window, with fake download and recorded sleeps."""
    sleeps: list[float] = []
    fake = FakeDownload(*outcomes)
    settings = {"start": dt.date(2012, 10, 1), "end": dt.date(2012, 11, 30)} | config
    yahoo = YahooSource(
        YFinanceData(tickers=tickers, benchmark="^IXIC", retries=retries, **settings),
        download=fake,
        sleep=sleeps.append,
        today=dt.date(2024, 5, 6),
    )
    return yahoo, fake, sleeps


def test_recordings_are_in_yfinance_format():
    frame, _ = recorded("yf_download_ok")
    assert frame.columns.names == ["Price", "Ticker"]
    assert frame.index.name == "Date"
    assert list(frame.columns.get_level_values("Price").unique()) == [
        "Adj Close",
        "Close",
        "High",
        "Low",
        "Open",
        "Volume",
    ]


def test_request_resolves_end_and_as_of():
    yahoo, _, _ = source(tickers=("aapl", "MSFT"), end=None)
    assert yahoo.request() == {
        "tickers": ["AAPL", "MSFT"],
        "benchmark": "^IXIC",
        "risk_free": "^IRX",
        "start": "2012-10-01",
        "end": "2024-05-06",
        "as_of": "2024-05-06",
    }
    yahoo, _, _ = source(end=None, as_of=dt.date(2020, 1, 3))
    assert (yahoo.request()["end"], yahoo.request()["as_of"]) == ("2020-01-03", "2020-01-03")
    yahoo, _, _ = source()
    assert (yahoo.request()["end"], yahoo.request()["as_of"]) == ("2012-11-30", "2024-05-06")


def test_one_batched_call_with_unadjusted_prices():
    yahoo, fake, sleeps = source("yf_download_ok")
    yahoo.download()
    assert fake.calls == [
        (
            SYMBOLS,
            {
                "start": "2012-10-01",
                "end": "2012-12-01",  # yfinance's end is exclusive
                "auto_adjust": False,
                "actions": False,
                "progress": False,
            },
        )
    ]
    assert sleeps == []


def test_download_is_a_tidy_long_table(assert_tidy):
    yahoo, _, _ = source("yf_download_ok")
    raw = yahoo.download()
    assert_tidy(raw)
    assert list(raw.columns) == [
        "date",
        "ticker",
        "open",
        "high",
        "low",
        "close",
        "adj_close",
        "volume",
    ]
    assert sorted(raw["ticker"].unique()) == sorted(SYMBOLS)
    frame, _ = recorded("yf_download_ok")
    rows = raw.set_index(["date", "ticker"])
    day = pd.Timestamp("2012-10-01")
    for field, price in [("close", "Close"), ("adj_close", "Adj Close"), ("volume", "Volume")]:
        assert rows.loc[(day, "AAPL"), field] == frame.loc[day, (price, "AAPL")]
    assert rows.loc[(day, "AAPL"), "close"] == 659.39  # the real quote
    holidays = raw[raw["ticker"] == "^IRX"]["date"]
    assert pd.Timestamp("2012-10-08") not in set(holidays)  # no row for a day without a quote


def test_parse_splits_prices_and_risk_free(assert_tidy):
    yahoo, _, _ = source("yf_download_ok")
    data = yahoo.parse(yahoo.download())
    assert_tidy(data.daily)
    assert sorted(data.daily["ticker"].unique()) == ["AAPL", "IBM", "MSFT", "^IXIC"]
    assert data.benchmark == "^IXIC"
    assert data.risk_free_frequency == "daily"
    assert data.risk_free.name == "rf" and data.risk_free.index.name == "date"

    frame, _ = recorded("yf_download_ok")
    percent = frame[("Close", "^IRX")].dropna()  # no quote on bond-market holidays
    # Day t earns the yield quoted at the previous quote's close: no look-ahead into t.
    assert list(data.risk_free.index) == list(percent.index[1:])
    assert pd.Timestamp("2012-10-08") not in data.risk_free.index
    yields = percent.to_numpy()[:-1]
    expected = np.expm1(np.log1p(yields / 100) / 252)  # (1 + y/100)^(1/252) - 1
    assert data.risk_free.to_numpy() == pytest.approx(expected, rel=1e-12)
    assert data.risk_free.loc["2012-10-02"] == pytest.approx(1.0008 ** (1 / 252) - 1, rel=1e-12)


def test_load_is_parse_of_download():
    yahoo, _, _ = source("yf_download_ok")
    loaded = yahoo.load()
    parsed = yahoo.parse(yahoo.download())
    pd.testing.assert_frame_equal(loaded.daily, parsed.daily)
    pd.testing.assert_series_equal(loaded.risk_free, parsed.risk_free)


def test_transient_failures_are_retried_with_exponential_backoff():
    yahoo, fake, sleeps = source(
        ConnectionError("network down"), "yf_download_empty", "yf_download_ok", backoff_seconds=1.5
    )
    raw = yahoo.download()
    assert len(fake.calls) == 3
    assert sleeps == [1.5, 3.0]
    assert sorted(raw["ticker"].unique()) == sorted(SYMBOLS)


def test_tickers_still_missing_after_retries_are_listed_exactly():
    yahoo, fake, sleeps = source(
        "yf_download_partial", tickers=("AAPL", "IBM", "MSFT", "NOSUCH"), retries=2
    )
    with pytest.raises(DataError) as err:
        yahoo.download()
    assert err.value.stage == "ingest"
    assert err.value.field == "IBM, NOSUCH"
    assert "after 3 attempt(s)" in err.value.problem
    assert "['IBM']: YFRateLimitError(" in err.value.problem
    assert "['NOSUCH']: YFTzMissingError('possibly delisted" in err.value.problem
    assert "data.tickers" in err.value.fix
    assert (len(fake.calls), sleeps) == (3, [2.0, 4.0])


def test_exceptions_on_every_attempt_name_every_ticker():
    yahoo, _, sleeps = source(ConnectionError("network down"), retries=1)
    with pytest.raises(DataError, match="network down") as err:
        yahoo.download()
    assert err.value.field == ", ".join(SYMBOLS)
    assert sleeps == [2.0]
