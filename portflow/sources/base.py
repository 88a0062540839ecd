"""The one interface every data provider implements.

A source turns a typed data config into :class:`MarketData`: a tidy daily table and a
risk-free series. Sources know nothing about the artifact store or Prefect.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

import pandas as pd

TIDY_FIELDS = ("open", "high", "low", "close", "adj_close", "volume")
"""Price fields a tidy table may hold, besides ``date`` and ``ticker``. A field the
provider does not have is absent from the table, never filled with zeros."""

EXTRA_FIELDS = ("shares_outstanding", "sic")
"""Optional per-(date, ticker) attributes some panels carry (e.g. CRSP shrout, siccd)."""


@dataclass(frozen=True)
class MarketData:
    """What a source returns.

    Attributes
    ----------
    daily : DataFrame
        Tidy table, one row per (date, ticker), sorted by (date, ticker), default
        RangeIndex. Columns: ``date`` (datetime64, tz-naive, normalized), ``ticker``
        (str), then any of :data:`TIDY_FIELDS` and :data:`EXTRA_FIELDS` the provider has.
        Prices in the quote currency; ``adj_close`` adjusted for splits and dividends;
        ``volume`` in shares.
    benchmark : str or None
        Ticker in ``daily`` that is the benchmark (an index or ETF), if any.
    risk_free : Series
        Risk-free rate, simple decimal return *per period* (not annualized), indexed by
        date (daily) or by calendar month-end (monthly), named ``"rf"``.
    risk_free_frequency : {"daily", "monthly"}
        Period of ``risk_free``.
    """

    daily: pd.DataFrame
    benchmark: str | None
    risk_free: pd.Series
    risk_free_frequency: Literal["daily", "monthly"]


class Source(Protocol):
    """A data provider: ``load`` returns the market data its config asks for."""

    def files(self) -> list[Path] | None:
        """The files ``load`` reads, found without reading them (``[]``: none, the data
        comes from the config); None for a download. Lets a re-run tell that the data did
        not change without reading it (:mod:`portflow.sources.reads`)."""
        ...

    def load(self) -> MarketData:
        """Fetch or read the data. Raises ``portflow.errors.DataError`` on bad input."""
        ...
