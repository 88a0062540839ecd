"""The registry: every data config maps to its source class."""

from __future__ import annotations

import pytest

from portflow import sources
from portflow.config import FilesData, SampleData, SyntheticData, YFinanceData
from portflow.sources.base import MarketData


def test_registry_covers_every_data_config():
    configs = (SampleData, YFinanceData, FilesData, SyntheticData)
    assert set(sources.SOURCES) == {c.model_fields["source"].default for c in configs}
    assert sources.MarketData is MarketData


@pytest.mark.parametrize(
    ("config", "cls"),
    [
        (SampleData(), sources.SampleSource),
        (YFinanceData(tickers=("AAPL",), benchmark="QQQ", start="2024-01-02"), sources.YahooSource),
        (FilesData(path="panel.csv"), sources.FilesSource),
        (SyntheticData(), sources.SyntheticSource),
    ],
)
def test_make_source_picks_the_class(config, cls):
    source = sources.make_source(config)
    assert type(source) is cls and source.config is config


def test_made_source_loads(assert_tidy):
    data = sources.make_source(SyntheticData(n_assets=2, n_days=5)).load()
    assert_tidy(data.daily)
    assert data.daily.shape == (15, 6)
