"""Experiment configuration: frozen pydantic models loaded from YAML.

One YAML file in ``configs/`` describes one experiment. Every section is a frozen model
that forbids unknown keys, and each stage receives only its own section (its *slice*),
whose field names are the keyword arguments of the stage's function in ``portflow.quant``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PositiveInt,
    Tag,
    ValidationError,
    model_validator,
)

SAMPLE_UNIVERSES = ("sp500_20", "tech4")
"""Daily universes bundled with the ``sample`` source (see ``portflow.sources.sample``)."""


class Frozen(BaseModel):
    """Base of every config model: immutable, unknown keys are errors."""

    model_config = ConfigDict(frozen=True, extra="forbid")


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
    universe: Literal["sp500_20", "tech4"] = Field(
        "sp500_20",
        description="sp500_20: 20 S&P 500 stocks vs the S&P 500 index (1990-2022); "
        "tech4: AAPL GOOG IBM MSFT with volume vs the NASDAQ Composite (2000-2013).",
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


class PricesConfig(Frozen):
    """Slice of the ``prices`` stage: validation and the missing-data policy."""

    missing: Literal["error", "drop_dates", "ffill"] = Field(
        "error",
        description="Interior gaps in a ticker's prices: error, drop the dates where any "
        "ticker is missing, or carry the last price forward (at most ffill_limit days).",
    )
    ffill_limit: PositiveInt = Field(5, description="Longest gap (days) that ffill may fill.")


class MonthlyConfig(Frozen):
    """Slice of the monthly stages (returns and realized variance)."""

    min_days: PositiveInt = Field(
        15, description="Fewest daily returns a month needs for a realized variance."
    )


class StoreConfig(Frozen):
    """Where artifacts live: a local path or an fsspec URL (memory://, s3://…)."""

    root: str = "artifacts"


class PipelineConfig(Frozen):
    """A whole experiment: data source, stage settings and the artifact store."""

    name: str = Field(description="Experiment name, shown in runs and reports.")
    description: str = ""
    store: StoreConfig = StoreConfig()
    data: DataConfig = SampleData()
    prices: PricesConfig = PricesConfig()
    monthly: MonthlyConfig = MonthlyConfig()


class ConfigError(Exception):
    """A config file failed validation; ``issues`` holds every (yaml path, message) pair."""

    def __init__(self, path: str, issues: list[tuple[str, str]]) -> None:
        self.path = path
        self.issues = issues
        lines = "\n".join(f"  {loc}: {msg}" for loc, msg in issues)
        super().__init__(f"[config] {path}: {len(issues)} error(s). Fix each field below.\n{lines}")


_UNION_TAGS = {"sample", "yfinance", "files", "synthetic"}


def _yaml_path(loc: tuple[Any, ...]) -> str:
    """Turn a pydantic error location into a YAML path, dropping union tags."""
    parts = [str(p) for i, p in enumerate(loc) if not (i == 1 and p in _UNION_TAGS)]
    return ".".join(parts) or "(top level)"


def parse_config(raw: Any, path: str = "<config>") -> PipelineConfig:
    """Validate a mapping (as read from YAML) into a :class:`PipelineConfig`.

    Raises
    ------
    ConfigError
        With every validation error at once, each with its YAML path.
    """
    if not isinstance(raw, dict):
        raise ConfigError(path, [("(top level)", "the file must hold a YAML mapping")])
    try:
        return PipelineConfig.model_validate(raw)
    except ValidationError as exc:
        issues = []
        for err in exc.errors():
            msg = err["msg"]
            if err["type"] == "extra_forbidden":
                msg = "unknown key (check the spelling; allowed keys are in the schema)"
            issues.append((_yaml_path(err["loc"]), msg))
        raise ConfigError(path, issues) from None


def load_config(path: str | Path) -> PipelineConfig:
    """Read a YAML config with ``yaml.safe_load`` and validate it."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(str(path), [("(file)", "no such config file")])
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(str(path), [("(file)", f"not valid YAML: {exc}")]) from None
    return parse_config(raw, str(path))
