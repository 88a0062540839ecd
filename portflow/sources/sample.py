"""Real market data bundled inside PyPI packages, read as files: works offline.

The files are located with ``importlib.util.find_spec(NAME).submodule_search_locations``,
which finds a package's folder without importing it (so neither scikit-learn nor
statsmodels is loaded), and each file's sha256 is checked against :data:`SAMPLE_FILES` on
every read. Install the pinned versions with ``pip install -e '.[sample]'``.

Universes (:data:`UNIVERSES`), daily:

- ``sp500_20``: 20 S&P 500 stocks from skfolio, 1990-01-02 to 2022-12-28, dividend- and
  split-adjusted close only (field ``adj_close``; no volume, so no ``volume`` column),
  against ``SP500``, the S&P 500 *price* index (it excludes dividends), as ``adj_close``.
- ``tech4``: AAPL GOOG IBM MSFT from bokeh-sampledata (Yahoo Finance), 2000-03-01 to
  2013-03-01 (GOOG from 2004-08-19), fields open high low close adj_close volume, against
  ``NASDAQ``, the NASDAQ Composite index from arch, over the same dates. Open, high, low,
  close and volume are *not* split-adjusted; ``adj_close`` is adjusted for splits and
  dividends, so returns must come from ``adj_close`` (close x volume, dollar volume, is
  split-invariant).

- ``multi_asset``: USMV and MTUM (factor ETFs, skfolio), WTI crude oil spot and the VIX
  index (arch; the VIX is not investable), against ``SP500`` (arch, with volume), on the
  NYSE calendar, 2014-01-03 to 2018-12-31. No package ships bond prices, so the minimum
  volatility ETF stands in for the defensive sleeve and WTI for commodities.

The risk-free rate of every universe is the monthly one-month T-bill return ``RF`` of the
Fama-French factors from the Kenneth R. French Data Library (as shipped by arch), which
ends in 2018-11.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from portflow.config import SampleData
from portflow.errors import DataError, preview
from portflow.quant.industries import industry_names
from portflow.sources.base import MarketData
from portflow.sources.reads import reading
from portflow.sources.tidy import YAHOO_COLUMNS, filter_dates, month_end, risk_free_for, tidy

PINNED = {
    "skfolio": "skfolio==1.12.2",
    "arch": "arch==8.0.0",
    "linearmodels": "linearmodels==7.1",
    "bokeh_sampledata": "bokeh-sampledata==2026.1",
}
"""Importable package name -> the pip requirement whose files are pinned below."""


@dataclass(frozen=True)
class SampleFile:
    """A data file inside an installed package, with the sha256 of the pinned version."""

    package: str
    path: str
    sha256: str


SAMPLE_FILES = {
    "sp500_stocks": SampleFile(
        "skfolio",
        "datasets/data/sp500_dataset.csv.gz",
        "ee21cac28befb1d0a739a9ceb22184f995394726aa0cfde9a21941d1ac04ac0d",
    ),
    "sp500_index": SampleFile(
        "skfolio",
        "datasets/data/sp500_index.csv.gz",
        "894c34431c284f86aa64a467e176e2a3c9b697c857eb9ab35006c2dd55d3fdf2",
    ),
    "tech_stocks": SampleFile(
        "bokeh_sampledata",
        "_data/stocks.csv.gz",
        "5abadf99b2d394f920120a27de6f0df129859d71d4cfb0bf661bcc99446ab1fd",
    ),
    "nasdaq": SampleFile(
        "arch",
        "data/nasdaq/nasdaq.csv.gz",
        "b2009535343ebb14e0aa11ed086788d2997a416ffe4f9450eed9a561ae30ac59",
    ),
    "factor_etfs": SampleFile(
        "skfolio",
        "datasets/data/factors_dataset.csv.gz",
        "6eb089953db90c9a38d3283582751701a90db6f59965847fd64b0578de497161",
    ),
    "sp500_ohlcv": SampleFile(
        "arch",
        "data/sp500/sp500.csv.gz",
        "1e028cbb9c400cc018c816ccc439b33c919387e726c3ed5ca2c05c82746059de",
    ),
    "wti": SampleFile(
        "arch",
        "data/wti/wti.csv.gz",
        "b83498894138a65cdc14a67fc1716aa90b3cfda274f976bd3692cc3f1500084d",
    ),
    "vix": SampleFile(
        "arch",
        "data/vix/vix.csv.gz",
        "410bd07360dc798f7206d681b8347c6150e7fbd8b05fb1ae29bbe2c9985d66ef",
    ),
    "french_factors": SampleFile(
        "arch",
        "data/frenchdata/frenchdata.csv.gz",
        "f23436727b01d879e1372e3ee277514b0962a23d2b158f1aee6a402a90994f52",
    ),
    "french_industries": SampleFile(
        "linearmodels",
        "datasets/french/french.csv.bz2",
        "fab6482f4f011a2fcec2fd087d740eef3c5bcc24a39459569a4224516fca1b6e",
    ),
}
"""Every sample file used, by name. A changed sha256 means a different package version."""

INDUSTRIES = industry_names("ff12")
"""The Ken French 12 industry portfolios, in the library's order."""

# fmt: off
SP500_20 = (
    "AAPL", "AMD", "BAC", "BBY", "CVX", "GE", "HD", "JNJ", "JPM", "KO",
    "LLY", "MRK", "MSFT", "PEP", "PFE", "PG", "RRC", "UNH", "WMT", "XOM",
)
"""The 20 stocks of the skfolio S&P 500 dataset."""
# fmt: on

SAMPLE_SIC: dict[str, int] = {
    "AAPL": 3571,  # electronic computers
    "AMD": 3674,  # semiconductors and related devices
    "BAC": 6021,  # national commercial banks
    "BBY": 5731,  # radio, TV and consumer electronics stores
    "CVX": 2911,  # petroleum refining
    "GE": 3600,  # electronic and other electrical equipment (no computer equipment)
    "HD": 5211,  # lumber and other building materials dealers
    "JNJ": 2834,  # pharmaceutical preparations
    "JPM": 6021,  # national commercial banks
    "KO": 2080,  # beverages
    "LLY": 2834,
    "MRK": 2834,
    "MSFT": 7372,  # prepackaged software
    "PEP": 2080,  # beverages
    "PFE": 2834,
    "PG": 2840,  # soap, detergents, cleaning preparations, perfumes, cosmetics
    "RRC": 1311,  # crude petroleum and natural gas
    "UNH": 6324,  # hospital and medical service plans
    "WMT": 5331,  # variety stores
    "XOM": 2911,  # petroleum refining
    "GOOG": 7370,  # computer programming, data processing (Alphabet)
    "IBM": 3570,  # computer and office equipment
}
"""SIC code of every stock of ``sp500_20`` and ``tech4``: each company's primary four-digit
code as SEC EDGAR lists it today (company submissions, field ``sic``). EDGAR keeps no
history, so these current codes stand for the whole sample period; a CRSP extract carries
the historical ``siccd`` of each date instead, which may differ (CRSP has used 2086 for
soft-drink makers where EDGAR says 2080, which moves KO and PEP from ``Beer`` to ``Soda``
among the 49 industries; both are ``NoDur`` among the 12). The sample source gives each of
these stocks a constant ``sic`` column; the benchmarks, ETFs and commodities have none."""


def with_sample_sic(daily: pd.DataFrame) -> pd.DataFrame:
    """A tidy table with the ``sic`` column of :data:`SAMPLE_SIC` (missing for others)."""
    sic = daily["ticker"].map(SAMPLE_SIC).astype("Int64")
    return tidy(daily.assign(sic=sic)) if sic.notna().any() else daily


_COMPRESSION = {".gz": "gzip", ".bz2": "bz2"}


def sample_path(name: str) -> Path:
    """Path of sample file ``name`` (a key of :data:`SAMPLE_FILES`), without importing its package.

    Raises
    ------
    DataError
        If the package is not installed.
    """
    file = SAMPLE_FILES[name]
    spec = importlib.util.find_spec(file.package)
    if spec is None or not spec.submodule_search_locations:
        raise DataError(
            "ingest",
            "data.source",
            f"the sample data needs the package {file.package}, which is not installed",
            f"pip install '{PINNED[file.package]}' (or pip install -e '.[sample]')",
        )
    return Path(spec.submodule_search_locations[0]) / file.path


def read_sample(name: str, **read_csv) -> pd.DataFrame:
    """Read sample file ``name`` with ``pandas.read_csv`` after checking its sha256.

    Raises
    ------
    DataError
        If the file's sha256 is not the pinned one (another package version).
    """
    file = SAMPLE_FILES[name]
    path = reading(sample_path(name))
    content = path.read_bytes()
    digest = hashlib.sha256(content).hexdigest()
    if digest != file.sha256:
        raise DataError(
            "ingest",
            str(path),
            f"sha256 {digest} differs from the pinned {file.sha256}, "
            f"so this is not the data of {PINNED[file.package]}",
            f"reinstall the pinned version: pip install --force-reinstall '{PINNED[file.package]}'",
        )
    return pd.read_csv(io.BytesIO(content), compression=_COMPRESSION[path.suffix], **read_csv)


def french_factors() -> pd.DataFrame:
    """Monthly Fama-French factors, from the Kenneth R. French Data Library (via arch).

    Returns
    -------
    DataFrame of shape (1109, 4)
        Columns ``Mkt-RF``, ``SMB``, ``HML`` and ``RF`` (one-month T-bill), simple decimal
        returns per month (the file's percents / 100), indexed by calendar month-end
        (``date``), 1926-07-31 to 2018-11-30.
    """
    raw = read_sample("french_factors")
    factors = raw.drop(columns="Date") / 100
    factors.index = month_end(pd.to_datetime(raw["Date"].astype(str), format="%Y%m")).rename("date")
    return factors


def french_industries() -> pd.DataFrame:
    """Monthly returns of the 12 Ken French industry portfolios (via linearmodels).

    Data from the Kenneth R. French Data Library.

    Returns
    -------
    DataFrame of shape (819, 12)
        Columns :data:`INDUSTRIES` (``NoDur`` ... ``Other``), simple decimal returns per
        month, indexed by calendar month-end (``date``; the file dates the first of the
        month), 1949-01-31 to 2017-03-31.
    """
    raw = read_sample("french_industries", usecols=["dates", *INDUSTRIES])
    industries = raw[list(INDUSTRIES)]
    industries.index = month_end(pd.to_datetime(raw["dates"], format="%Y-%m-%d")).rename("date")
    return industries


def _sp500_20(stocks: tuple[str, ...]) -> pd.DataFrame:
    """Adjusted closes of ``stocks`` and the S&P 500 price index ``SP500``, tidy."""
    prices = read_sample("sp500_stocks", index_col="Date", parse_dates=["Date"])
    index = read_sample("sp500_index", index_col="Date", parse_dates=["Date"])
    wide = pd.concat([prices[list(stocks)], index["SP500"]], axis=1)
    long = wide.melt(ignore_index=False, var_name="ticker", value_name="adj_close")
    return tidy(long.rename_axis("date").reset_index())


def _tech4(stocks: tuple[str, ...]) -> pd.DataFrame:
    """OHLC, adjusted close and volume of ``stocks`` and the NASDAQ Composite ``NASDAQ``, tidy.

    The NASDAQ series is cut to the dates the four stocks span (2000-03-01 to 2013-03-01).
    """
    quotes = read_sample("tech_stocks", parse_dates=["Date"])
    quotes = quotes[quotes["Ticker"].isin(UNIVERSES["tech4"].stocks)]
    nasdaq = read_sample("nasdaq")
    nasdaq["Date"] = pd.to_datetime(nasdaq["Date"], format="%m/%d/%Y")
    nasdaq = nasdaq[nasdaq["Date"].between(quotes["Date"].min(), quotes["Date"].max())]
    long = pd.concat(
        [quotes[quotes["Ticker"].isin(stocks)], nasdaq.assign(Ticker="NASDAQ")],
        ignore_index=True,
    )
    return tidy(long.rename(columns=YAHOO_COLUMNS))


MULTI_ASSET_CARRY_LIMIT = 3
"""Days a WTI or VIX quote is carried onto NYSE trading days that lack one."""


def _multi_asset(assets: tuple[str, ...]) -> pd.DataFrame:
    """Factor ETFs, crude oil and the VIX on the NYSE calendar of the ``SP500`` benchmark.

    ``USMV`` and ``MTUM`` (iShares minimum-volatility and momentum ETFs, adjusted closes,
    skfolio), ``WTI`` (West Texas Intermediate spot, USD per barrel, arch) and ``VIX``
    (the CBOE volatility index level, arch: an index, *not investable*), against ``SP500``
    (the S&P 500 price index with volume, arch), 2014-01-03 to 2018-12-31. Days the NYSE
    is closed are dropped; a WTI or VIX quote missing on an NYSE day (an oil-market
    holiday) carries the previous quote at most :data:`MULTI_ASSET_CARRY_LIMIT` days.
    """
    index = read_sample("sp500_ohlcv")
    index["Date"] = pd.to_datetime(index["Date"], format="%m/%d/%Y")
    etfs = read_sample("factor_etfs", index_col="Date", parse_dates=["Date"])
    quotes = {}
    for name, column in (("wti", "DCOILWTICO"), ("vix", "vix")):
        raw = read_sample(name, na_values=["."])
        quotes[name.upper()] = raw.set_index(pd.to_datetime(raw["Date"], format="%m/%d/%Y"))[column]
    wide = pd.concat([etfs[["USMV", "MTUM"]], pd.DataFrame(quotes)], axis=1, sort=True)
    calendar = pd.DatetimeIndex(index["Date"])
    wide = wide.ffill(limit=MULTI_ASSET_CARRY_LIMIT).reindex(calendar).dropna(how="any")
    long = wide[list(assets)].melt(ignore_index=False, var_name="ticker", value_name="adj_close")
    long = long.rename_axis("date").reset_index()
    benchmark = index[index["Date"].between(wide.index.min(), wide.index.max())]
    benchmark = benchmark.assign(Ticker="SP500").rename(columns=YAHOO_COLUMNS)
    return tidy(pd.concat([long, benchmark], ignore_index=True))


@dataclass(frozen=True)
class Universe:
    """A sample universe: its stocks, its benchmark, the reader of both and its files."""

    stocks: tuple[str, ...]
    benchmark: str
    read: Callable[[tuple[str, ...]], pd.DataFrame]
    """Reads the given stocks and the benchmark as a tidy daily table."""
    files: tuple[str, ...]
    """The :data:`SAMPLE_FILES` that ``read`` reads."""


UNIVERSES = {
    "sp500_20": Universe(
        stocks=SP500_20,
        benchmark="SP500",
        read=_sp500_20,
        files=("sp500_stocks", "sp500_index"),
    ),
    "tech4": Universe(
        stocks=("AAPL", "GOOG", "IBM", "MSFT"),
        benchmark="NASDAQ",
        read=_tech4,
        files=("tech_stocks", "nasdaq"),
    ),
    "multi_asset": Universe(
        stocks=("USMV", "MTUM", "WTI", "VIX"),
        benchmark="SP500",
        read=_multi_asset,
        files=("sp500_ohlcv", "factor_etfs", "wti", "vix"),
    ),
}


class SampleSource:
    """Source of the bundled real data; see the module docstring for the universes.

    Parameters
    ----------
    config : SampleData
        ``universe``; ``tickers`` selects a subset of its stocks (the benchmark is always
        included); ``start`` / ``end`` cut the dates, both inclusive.
    """

    def __init__(self, config: SampleData) -> None:
        self.config = config

    def load(self) -> MarketData:
        """Read, check and cut the universe; the risk-free rate is Ken French's monthly RF.

        Raises
        ------
        DataError
            On an unknown or empty ``data.tickers``, a date range with no data, or a
            sample file that is missing or not the pinned version.
        """
        name = self.config.universe
        universe = UNIVERSES[name]
        start, end = self.config.start, self.config.end
        daily = filter_dates(
            with_sample_sic(universe.read(self._stocks(universe))),
            start,
            end,
            what=f"universe {name}",
        )
        risk_free = risk_free_for(french_factors()["RF"].rename("rf"), daily, "monthly")
        return MarketData(daily, universe.benchmark, risk_free, "monthly")

    def files(self) -> list[Path]:
        """The files :meth:`load` reads: the universe's and the risk-free rate's (found,
        not read; DataError if a package is missing)."""
        names = [*UNIVERSES[self.config.universe].files, "french_factors"]
        return [sample_path(name) for name in names]

    def _stocks(self, universe: Universe) -> tuple[str, ...]:
        """The universe's stocks that ``config.tickers`` selects, in universe order."""
        tickers = self.config.tickers
        if tickers is None:
            return universe.stocks
        unknown = [t for t in tickers if t not in universe.stocks]
        if unknown or not tickers:
            raise DataError(
                "ingest",
                "data.tickers",
                f"{preview(unknown)} not in universe {self.config.universe}"
                if unknown
                else "the list is empty",
                f"choose from {' '.join(universe.stocks)} (the benchmark {universe.benchmark} "
                "is always included), or set data.tickers to null for all of them",
            )
        return tuple(t for t in universe.stocks if t in tickers)
