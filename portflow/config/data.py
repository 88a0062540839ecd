"""Data-source sections: which provider, which tickers, which dates."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, PositiveInt, Tag, model_validator

from portflow.config.base import Frozen

SAMPLE_UNIVERSES = ("sp500_20", "tech4", "multi_asset")
"""Daily universes bundled with the ``sample`` source (see ``portflow.sources.sample``)."""


class _DateRange(Frozen):
    start: dt.date | None = Field(None, description="First date to load (inclusive).")
    end: dt.date | None = Field(None, description="Last date to load (inclusive); null = latest.")

    @model_validator(mode="after")
    def _ordered(self):
        if self.start and self.end and self.start >= self.end:
            raise ValueError(f"start {self.start} must be before end {self.end}")
        return self


class SampleData(_DateRange):
    """Real market data bundled inside PyPI packages; works offline."""

    source: Literal["sample"] = "sample"
    universe: Literal["sp500_20", "tech4", "multi_asset"] = Field(
        "sp500_20",
        description="sp500_20: 20 S&P 500 stocks vs the S&P 500 index (1990-2022); "
        "tech4: AAPL GOOG IBM MSFT with volume vs the NASDAQ Composite (2000-2013); "
        "multi_asset: USMV MTUM WTI VIX vs the S&P 500 index (2014-2018).",
    )
    tickers: tuple[str, ...] | None = Field(
        None, description="Subset of the universe's stocks; null = all of them."
    )


class YFinanceData(_DateRange):
    """Live daily data from Yahoo Finance, downloaded once per request and as-of date."""

    source: Literal["yfinance"] = "yfinance"
    tickers: tuple[str, ...] = Field(min_length=1, description="Stock tickers to download.")
    benchmark: str = Field(description="Benchmark ticker, downloaded with the stocks.")
    risk_free: str = Field(
        "^IRX", description="Yahoo ticker of an annualized T-bill yield in percent."
    )
    as_of: dt.date | None = Field(
        None, description="Date of the download; null = today. Same request + as_of = no download."
    )
    sic_codes: dict[str, Annotated[int, Field(ge=0, le=9999)]] = Field(
        default_factory=dict,
        description="Ticker -> four-digit SIC code (Yahoo has none; e.g. SEC EDGAR's), for "
        "the industries of the optimization's sector rotation.",
    )
    retries: int = Field(3, ge=0, le=10, description="Retries on transient download errors.")
    backoff_seconds: float = Field(2.0, gt=0, description="First retry delay; doubles each time.")

    @model_validator(mode="after")
    def _has_start(self):
        if self.start is None:
            raise ValueError("start is required for yfinance")
        return self


class FilesData(_DateRange):
    """A user-supplied daily panel (CSV or parquet), e.g. a CRSP extract."""

    source: Literal["files"] = "files"
    path: str = Field(description="CSV or parquet file with one row per (date, ticker).")
    columns: dict[str, str] = Field(
        default_factory=dict,
        description="Map from portflow field (date, ticker, close, adj_close, ret, volume, "
        "shares_outstanding, sic) to the file's column name, e.g. {ticker: permno}.",
    )
    benchmark: str | None = Field(None, description="Ticker in the panel used as benchmark.")
    risk_free_path: str | None = Field(
        None,
        description="CSV with columns date, rf (decimal per period); "
        "null = Ken French monthly risk-free rate from the sample data.",
    )
    risk_free_frequency: Literal["daily", "monthly"] = "monthly"


class SyntheticData(Frozen):
    """Seeded data from a known factor model; ground truth for tests and demos."""

    source: Literal["synthetic"] = "synthetic"
    seed: int = 0
    n_assets: PositiveInt = 10
    n_days: PositiveInt = 1000
    start: dt.date = dt.date(2010, 1, 4)


def _data_source(value: Any) -> str:
    """The tag of a data section; ``source`` may be omitted and defaults to ``sample``."""
    if isinstance(value, dict):
        return value.get("source", "sample")
    return getattr(value, "source", "sample")


DataConfig = Annotated[
    Annotated[SampleData, Tag("sample")]
    | Annotated[YFinanceData, Tag("yfinance")]
    | Annotated[FilesData, Tag("files")]
    | Annotated[SyntheticData, Tag("synthetic")],
    Discriminator(_data_source),
]
