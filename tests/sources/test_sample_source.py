"""The bundled real data: pinned files, universes, known values, subsets and errors."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import importlib.metadata

import pandas as pd
import pytest

from portflow.config import SampleData
from portflow.errors import DataError
from portflow.sources.sample import (
    INDUSTRIES,
    PINNED,
    SAMPLE_FILES,
    SAMPLE_SIC,
    SP500_20,
    SampleFile,
    SampleSource,
    french_factors,
    french_industries,
    read_sample,
    sample_path,
)


@pytest.fixture(scope="module")
def sp500():
    return SampleSource(SampleData()).load()


@pytest.fixture(scope="module")
def tech4():
    return SampleSource(SampleData(universe="tech4")).load()


@pytest.mark.parametrize("name", sorted(SAMPLE_FILES))
def test_sample_file_has_pinned_sha256(name):
    file = SAMPLE_FILES[name]
    assert hashlib.sha256(sample_path(name).read_bytes()).hexdigest() == file.sha256


@pytest.mark.parametrize("package", sorted(PINNED))
def test_pinned_package_version_is_installed(package):
    distribution, version = PINNED[package].split("==")
    assert importlib.metadata.version(distribution) == version


def test_changed_file_names_it_and_the_pinned_version(monkeypatch):
    file = SAMPLE_FILES["french_factors"]
    monkeypatch.setitem(SAMPLE_FILES, "french_factors", dataclasses.replace(file, sha256="0" * 64))
    with pytest.raises(DataError) as err:
        french_factors()
    assert err.value.stage == "ingest"
    assert err.value.field == str(sample_path("french_factors"))
    assert "pip install --force-reinstall 'arch==8.0.0'" in err.value.fix


def test_missing_package_says_what_to_install(monkeypatch):
    monkeypatch.setitem(SAMPLE_FILES, "nasdaq", SampleFile("no_such_pkg_xyz", "a.csv", ""))
    monkeypatch.setitem(PINNED, "no_such_pkg_xyz", "no-such-pkg-xyz==1.0")
    with pytest.raises(DataError, match="no_such_pkg_xyz.*not installed") as err:
        sample_path("nasdaq")
    assert "no-such-pkg-xyz==1.0" in err.value.fix


def test_sp500_20_universe(sp500, assert_tidy):
    daily = sp500.daily
    assert_tidy(daily)
    assert list(daily.columns) == ["date", "ticker", "adj_close", "sic"]  # no volume column
    assert sorted(daily["ticker"].unique()) == sorted([*SP500_20, "SP500"])
    sic = daily.groupby("ticker")["sic"].agg(["min", "max"])
    assert sic.loc[list(SP500_20), "min"].eq(sic.loc[list(SP500_20), "max"]).all()  # constant
    assert sic.loc[list(SP500_20), "min"].to_dict() == {t: SAMPLE_SIC[t] for t in SP500_20}
    assert daily.loc[daily["ticker"] == "SP500", "sic"].isna().all()  # an index has no SIC
    assert sp500.benchmark == "SP500"
    assert daily["date"].min() == pd.Timestamp("1990-01-02")
    assert daily["date"].max() == pd.Timestamp("2022-12-28")
    assert len(daily) == 8313 * 21
    assert not daily["adj_close"].isna().any()


def test_sp500_20_values_match_the_package_files(sp500):
    index = pd.read_csv(sample_path("sp500_index"))
    stocks = pd.read_csv(sample_path("sp500_stocks"))
    bench = sp500.daily[sp500.daily["ticker"] == "SP500"]["adj_close"].to_numpy()
    assert bench[0] == index["SP500"].iloc[0] == 359.69
    assert bench[-1] == index["SP500"].iloc[-1] == 3783.22
    msft = sp500.daily[sp500.daily["ticker"] == "MSFT"]["adj_close"].to_numpy()
    assert (msft == stocks["MSFT"].to_numpy()).all()


def test_risk_free_is_ken_french_monthly_over_the_months_of_the_data(sp500):
    rf = sp500.risk_free
    assert sp500.risk_free_frequency == "monthly"
    assert rf.name == "rf" and rf.index.name == "date" and rf.index.is_month_end.all()
    assert rf.index[0] == pd.Timestamp("1990-01-31")  # the first month of the prices
    assert rf.index[-1] == pd.Timestamp("2018-11-30")  # the last month of the library's file
    assert rf.loc["2018-11-30"] == pytest.approx(0.0018)
    raw = pd.read_csv(sample_path("french_factors"))
    percent = raw.loc[raw["Date"] >= 199001, "RF"].to_numpy()
    assert rf.to_numpy() == pytest.approx(percent / 100)


def test_tech4_universe(tech4, assert_tidy):
    daily = tech4.daily
    assert_tidy(daily)
    fields = ["open", "high", "low", "close", "adj_close", "volume"]
    assert list(daily.columns) == ["date", "ticker", *fields, "sic"]
    assert sorted(daily["ticker"].unique()) == ["AAPL", "GOOG", "IBM", "MSFT", "NASDAQ"]
    assert tech4.benchmark == "NASDAQ"
    first = daily.groupby("ticker")["date"].min()
    assert first["GOOG"] == pd.Timestamp("2004-08-19")
    assert first["NASDAQ"] == first["AAPL"] == pd.Timestamp("2000-03-01")
    dates = daily.groupby("ticker")["date"].apply(set)
    assert dates["NASDAQ"] == dates["AAPL"]  # the same trading calendar
    assert not daily[fields].isna().any().any()


def test_tech4_values_match_the_package_files(tech4):
    rows = tech4.daily.set_index(["date", "ticker"])
    aapl = rows.loc[(pd.Timestamp("2000-03-01"), "AAPL")]
    stocks = pd.read_csv(sample_path("tech_stocks"))
    first = stocks[stocks["Ticker"] == "AAPL"].iloc[0]
    assert (aapl["close"], aapl["adj_close"], aapl["volume"]) == (
        first["Close"],
        first["Adj Close"],
        first["Volume"],
    )
    assert aapl["close"] == 130.31  # not split-adjusted, unlike adj_close
    nasdaq = pd.read_csv(sample_path("nasdaq"))
    last = nasdaq[nasdaq["Date"] == "3/1/2013"].iloc[0]
    bench = rows.loc[(pd.Timestamp("2013-03-01"), "NASDAQ")]
    assert bench["adj_close"] == last["Adj Close"] and bench["volume"] == last["Volume"]


def test_french_factors():
    factors = french_factors()
    raw = pd.read_csv(sample_path("french_factors"))
    assert list(factors.columns) == ["Mkt-RF", "SMB", "HML", "RF"]
    assert factors.index.name == "date"
    assert factors.index[0] == pd.Timestamp("1926-07-31")
    assert factors.index[-1] == pd.Timestamp("2018-11-30")
    assert factors.to_numpy() == pytest.approx(raw.drop(columns="Date").to_numpy() / 100)


def test_french_industries():
    industries = french_industries()
    raw = pd.read_csv(sample_path("french_industries"))
    assert list(industries.columns) == list(INDUSTRIES)
    assert industries.shape == (819, 12)
    assert industries.index[0] == pd.Timestamp("1949-01-31")
    assert industries.index[-1] == pd.Timestamp("2017-03-31")
    assert industries.index.is_month_end.all()
    assert (industries.to_numpy() == raw[list(INDUSTRIES)].to_numpy()).all()


def test_subset_and_inclusive_dates(assert_tidy):
    config = SampleData(
        universe="tech4",
        tickers=("MSFT", "AAPL"),
        start=dt.date(2000, 3, 1),
        end=dt.date(2000, 3, 31),
    )
    data = SampleSource(config).load()
    assert_tidy(data.daily)
    assert sorted(data.daily["ticker"].unique()) == ["AAPL", "MSFT", "NASDAQ"]
    assert data.daily["date"].min() == pd.Timestamp("2000-03-01")
    assert data.daily["date"].max() == pd.Timestamp("2000-03-31")
    assert list(data.risk_free.index) == [pd.Timestamp("2000-03-31")]


def test_unknown_ticker_lists_it_and_the_valid_ones():
    with pytest.raises(DataError) as err:
        SampleSource(SampleData(tickers=("AAPL", "TSLA"))).load()
    assert err.value.field == "data.tickers"
    assert "TSLA" in err.value.problem and "AAPL" not in err.value.problem
    assert " ".join(SP500_20) in err.value.fix


def test_empty_date_range_says_what_the_universe_covers():
    config = SampleData(universe="tech4", start=dt.date(2015, 1, 1), end=dt.date(2016, 1, 1))
    with pytest.raises(DataError, match="covers 2000-03-01 to 2013-03-01"):
        SampleSource(config).load()


def test_multi_asset_universe_is_on_the_nyse_calendar(assert_tidy):
    data = SampleSource(SampleData(universe="multi_asset")).load()
    assert_tidy(data.daily)
    assert data.benchmark == "SP500"
    wide = data.daily.pivot(index="date", columns="ticker", values="adj_close")
    assert sorted(wide.columns) == ["MTUM", "SP500", "USMV", "VIX", "WTI"]
    assert wide.notna().all().all()
    assert wide.index[0] == pd.Timestamp("2014-01-03")
    assert wide.index[-1] == pd.Timestamp("2018-12-31")
    # Independent read of the package files: the S&P 500 index sets the calendar, and a
    # VIX close on an NYSE day is the file's own value.
    index = read_sample("sp500_ohlcv")
    nyse = pd.to_datetime(index["Date"], format="%m/%d/%Y")
    assert set(wide.index) <= set(nyse)
    vix = read_sample("vix").set_index("Date")["vix"]
    assert wide.loc["2018-02-05", "VIX"] == float(vix["2/5/2018"]) == 37.32
    assert "volume" in data.daily.columns  # the benchmark carries volume, the others NaN
