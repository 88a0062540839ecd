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
from portflow.quant.optimization.benchmark_weights import benchmark_weights
from portflow.sources.yahoo import YahooSource, point_in_time_shares

pytestmark = pytest.mark.filterwarnings("ignore:Yahoo Finance has no shares outstanding")

FIXTURES = Path(__file__).parents[1] / "data" / "sources"
SYMBOLS = ["AAPL", "IBM", "MSFT", "^IXIC", "^IRX"]


def recorded(name: str) -> tuple[pd.DataFrame, list[str]]:
    """A recorded ``yf.download`` frame and the error lines yfinance logged with it."""
    frame = pd.read_csv(FIXTURES / f"{name}.csv", header=[0, 1], index_col=0, parse_dates=True)
    return frame, (FIXTURES / f"{name}.log").read_text().splitlines()


def recorded_shares() -> dict[str, pd.Series]:
    """Recorded ``Ticker.get_shares_full`` Series (tz-aware New York timestamps) by ticker."""
    table = pd.read_csv(FIXTURES / "yf_shares_full.csv")
    stamps = pd.to_datetime(table["Date"], utc=True).dt.tz_convert("America/New_York")
    return {
        ticker: pd.Series(rows["shares"].to_numpy(), index=pd.DatetimeIndex(stamps[rows.index]))
        for ticker, rows in table.groupby("ticker")
    }


class FakeShares:
    """Stands in for ``Ticker(t).get_shares_full``: recorded Series, None, or an exception."""

    def __init__(self, overrides=None) -> None:
        self.answers = {**recorded_shares(), **(overrides or {})}
        self.calls: list[tuple[str, dict]] = []

    def __call__(self, ticker, **kwargs):
        self.calls.append((ticker, kwargs))
        answer = self.answers.get(ticker)  # IBM: Yahoo has no counts, yfinance says None
        if isinstance(answer, list):  # one outcome per call
            answer = answer.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


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


def source(*outcomes, tickers=("AAPL", "IBM", "MSFT"), retries=3, shares=None, **config):
    """A YahooSource on the recorded window, with fake download, shares and recorded sleeps."""
    sleeps: list[float] = []
    fake = FakeDownload(*outcomes)
    settings = {"start": dt.date(2012, 10, 1), "end": dt.date(2012, 11, 30)} | config
    yahoo = YahooSource(
        YFinanceData(tickers=tickers, benchmark="^IXIC", retries=retries, **settings),
        download=fake,
        shares=shares or FakeShares(),
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
        "shares_outstanding": True,
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
    with pytest.warns(UserWarning, match="no shares outstanding for IBM"):
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
        "shares_outstanding",
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


def test_sic_codes_of_the_config_become_a_constant_sic_column(assert_tidy):
    yahoo, _, _ = source("yf_download_ok", sic_codes={"aapl": 3571, "MSFT": 7372})
    daily = yahoo.parse(yahoo.download()).daily
    assert_tidy(daily)
    sic = daily.groupby("ticker")["sic"].agg(["min", "max", "count"])
    assert sic.loc["AAPL", "min"] == sic.loc["AAPL", "max"] == 3571
    assert sic.loc["MSFT", "min"] == 7372
    assert sic.loc[["IBM", "^IXIC"], "count"].eq(0).all()  # no code given: missing


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


def test_a_frame_without_the_price_ticker_levels_is_one_data_error():
    """yfinance with multi_level_index=False (or an old version) flattens the columns: a
    DataError that says so, not a KeyError from deep inside pandas."""

    class FlatDownload(FakeDownload):
        def __call__(self, tickers, **kwargs):
            frame = super().__call__(tickers, **kwargs)
            frame.columns = [f"{price} {ticker}" for price, ticker in frame.columns]
            return frame

    yahoo, _, _ = source()
    yahoo._download = FlatDownload("yf_download_ok")
    with pytest.raises(DataError, match=r"without the \(Price, Ticker\) levels") as err:
        yahoo.download()
    assert (err.value.stage, err.value.field) == ("ingest", "data.source")
    assert "Adj Close AAPL" in err.value.problem


# Shares outstanding ---------------------------------------------------------------------


def as_of(counts: pd.Series, day: pd.Timestamp) -> float:
    """The oracle: the last count whose New York calendar day is on or before ``day``."""
    days = pd.DatetimeIndex(counts.index).tz_localize(None).normalize()
    known = counts[days <= day]
    return float(known.iloc[-1]) if len(known) else np.nan


def test_recorded_shares_are_in_get_shares_full_format():
    shares = recorded_shares()
    assert sorted(shares) == ["AAPL", "MSFT"]  # IBM: yfinance returned None
    aapl = shares["AAPL"]
    assert str(aapl.index.tz) == "America/New_York"
    assert aapl.index.is_monotonic_increasing and aapl.index.has_duplicates


def test_shares_are_asked_for_the_stocks_only_with_a_lookback():
    fake = FakeShares()
    yahoo, _, _ = source("yf_download_ok", shares=fake)
    yahoo.download()
    # 548 days before 2012-10-01 so the count in force on the first day is known; end exclusive
    window = {"start": "2011-04-02", "end": "2012-12-01"}
    assert fake.calls == [("AAPL", window), ("IBM", window), ("MSFT", window)]


def test_shares_outstanding_is_the_last_count_known_on_each_day(assert_tidy):
    yahoo, _, _ = source("yf_download_ok")
    with pytest.warns(UserWarning, match=r"no shares outstanding for IBM: ") as caught:
        raw = yahoo.download()
    assert len(caught) == 1
    data = yahoo.parse(raw)
    assert_tidy(data.daily)
    shares = data.daily.set_index(["date", "ticker"])["shares_outstanding"]
    recorded = recorded_shares()
    for ticker in ("AAPL", "MSFT"):
        got = shares.xs(ticker, level="ticker")
        expected = [as_of(recorded[ticker], day) for day in got.index]
        np.testing.assert_array_equal(got.to_numpy(), expected)
    aapl = shares.xs("AAPL", level="ticker")
    assert aapl.loc["2012-10-01"] == 937_406_000  # reported 2012-07-20, before the window
    assert aapl.loc["2012-10-25"] == 937_406_000  # the new count is not known yet
    assert aapl.loc["2012-10-26"] == 939_208_000  # reported that day (twice)
    assert aapl.loc["2012-11-30"] == 939_380_000
    msft = shares.xs("MSFT", level="ticker")
    assert msft.loc[:"2012-10-17"].isna().all()  # no count before the first: never back-filled
    assert msft.loc["2012-10-18"] == 8_381_000_000
    assert shares.xs("IBM", level="ticker").isna().all()
    assert shares.xs("^IXIC", level="ticker").isna().all()  # the benchmark has no shares


def test_a_count_reported_later_does_not_change_earlier_days():
    base, _, _ = source("yf_download_ok")
    later = recorded_shares()["AAPL"]
    revised = pd.concat(
        [later, pd.Series([1.0], index=pd.DatetimeIndex(["2012-11-01 09:00"], tz=later.index.tz))]
    ).sort_index()
    perturbed, _, _ = source("yf_download_ok", shares=FakeShares({"AAPL": revised}))
    before = base.download().set_index(["date", "ticker"])["shares_outstanding"]
    after = perturbed.download().set_index(["date", "ticker"])["shares_outstanding"]
    cut = pd.Timestamp("2012-10-31")
    dates = before.index.get_level_values("date")
    pd.testing.assert_series_equal(before[dates <= cut], after[dates <= cut])
    assert after.loc[(pd.Timestamp("2012-11-01"), "AAPL")] == 1.0


def test_point_in_time_shares_keeps_the_last_count_of_a_day_and_never_fills_backward():
    counts = pd.Series(
        [5.0, 6.0, 7.0, np.nan],
        index=pd.DatetimeIndex(
            ["2020-01-03 16:00", "2020-01-03 09:00", "2020-01-08 00:00", "2020-01-09"],
            tz="America/New_York",
        ),
    )
    days = pd.Series(pd.to_datetime(["2020-01-09", "2020-01-02", "2020-01-03", "2020-01-07"]))
    got = point_in_time_shares(counts, days)
    np.testing.assert_array_equal(got, [7.0, np.nan, 5.0, 5.0])  # 16:00 is later than 09:00


def test_share_failures_are_retried_then_left_missing_with_a_warning():
    fake = FakeShares(
        {"AAPL": [ConnectionError("reset"), recorded_shares()["AAPL"]], "MSFT": OSError("down")}
    )
    yahoo, _, sleeps = source("yf_download_ok", shares=fake, retries=2, backoff_seconds=1.0)
    with pytest.warns(UserWarning) as caught:
        raw = yahoo.download()
    message = str(caught[0].message)
    assert "IBM; MSFT (OSError('down'))" in message and "AAPL" not in message
    assert [t for t, _ in fake.calls] == ["AAPL", "AAPL", "IBM", "MSFT", "MSFT", "MSFT"]
    assert sleeps == [1.0, 1.0, 2.0]  # AAPL once; IBM's None is an answer, not retried
    per_ticker = raw.groupby("ticker")["shares_outstanding"].count()
    assert per_ticker["AAPL"] > 0 and per_ticker["MSFT"] == 0


def test_without_any_counts_the_column_is_absent_and_benchmark_is_equal_weight():
    fake = FakeShares({"AAPL": None, "MSFT": None})
    yahoo, _, _ = source("yf_download_ok", shares=fake)
    with pytest.warns(UserWarning, match="AAPL; IBM; MSFT"):
        data = yahoo.load()
    assert "shares_outstanding" not in data.daily.columns
    loadings = pd.DataFrame(
        {"date": pd.Timestamp("2012-10-31"), "ticker": ["AAPL", "MSFT"], "tradable": True}
    )
    weights = benchmark_weights(loadings, data.daily, scheme="auto")
    assert (weights["scheme"] == "equal_weight").all()


def test_yahoo_caps_give_cap_weights():
    yahoo, _, _ = source("yf_download_ok")
    data = yahoo.parse(yahoo.download())
    months = pd.to_datetime(["2012-10-31", "2012-11-30"])
    loadings = pd.DataFrame(
        [(m, t, True) for m in months for t in ("AAPL", "IBM", "MSFT")],
        columns=["date", "ticker", "tradable"],
    )
    # auto: IBM has no share count, so cap weights would silently drop it: equal weights,
    # named as such, on those dates. An explicit scheme: cap weights IBM at 0.
    auto = benchmark_weights(loadings, data.daily, scheme="auto")
    assert (auto["scheme"] == "equal_weight").all()
    assert auto["weight"].tolist() == pytest.approx([1 / 3] * 6)
    weights = benchmark_weights(loadings, data.daily, scheme="cap").set_index(["date", "ticker"])
    assert (weights["scheme"] == "cap_weight").all()
    covered = loadings[loadings["ticker"] != "IBM"]
    assert (benchmark_weights(covered, data.daily, scheme="auto")["scheme"] == "cap_weight").all()
    frame, _ = recorded("yf_download_ok")
    shares = recorded_shares()
    for month in months:
        last_day = frame.index[frame.index <= month].max()  # last trading day of the month
        caps = {
            t: frame.loc[last_day, ("Close", t)] * as_of(shares[t], last_day)
            for t in ("AAPL", "MSFT")
        }
        total = sum(caps.values())
        for ticker, cap in caps.items():
            assert weights.loc[(month, ticker), "cap"] == pytest.approx(cap, rel=1e-12)
            assert weights.loc[(month, ticker), "weight"] == pytest.approx(cap / total, rel=1e-12)
        assert weights.loc[(month, "IBM"), "weight"] == 0.0  # no count from Yahoo
    oct_aapl = weights.loc[(months[0], "AAPL"), "cap"]
    assert oct_aapl == pytest.approx(frame.loc["2012-10-31", ("Close", "AAPL")] * 939_208_000)
