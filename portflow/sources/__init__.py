"""Data providers behind one interface: a typed data config in, :class:`MarketData` out.

>>> from portflow.config import SyntheticData
>>> make_source(SyntheticData(n_assets=2, n_days=5)).load().daily.shape
(15, 5)
"""

from __future__ import annotations

from portflow.config import DataConfig
from portflow.sources.base import MarketData, Source
from portflow.sources.files import FilesSource
from portflow.sources.sample import SampleSource
from portflow.sources.synthetic import SyntheticSource
from portflow.sources.yahoo import YahooSource

SOURCES = {
    "sample": SampleSource,
    "yfinance": YahooSource,
    "files": FilesSource,
    "synthetic": SyntheticSource,
}
"""``config.source`` -> the class that reads it."""


def make_source(config: DataConfig) -> Source:
    """The source for a data config (its ``source`` field picks the class)."""
    return SOURCES[config.source](config)


__all__ = [
    "SOURCES",
    "FilesSource",
    "MarketData",
    "SampleSource",
    "Source",
    "SyntheticSource",
    "YahooSource",
    "make_source",
]
