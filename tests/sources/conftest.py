"""Shared checks for the source tests."""

from __future__ import annotations

import pandas as pd
import pytest

from portflow.sources.base import EXTRA_FIELDS, TIDY_FIELDS


def _assert_tidy(daily: pd.DataFrame) -> None:
    """Assert the tidy contract of ``MarketData.daily`` (see portflow/sources/base.py)."""
    assert list(daily.columns[:2]) == ["date", "ticker"]
    fields = list(daily.columns[2:])
    assert fields == [f for f in (*TIDY_FIELDS, *EXTRA_FIELDS) if f in fields]
    assert str(daily["date"].dtype) in ("datetime64[ns]", "datetime64[us]")
    assert (daily["date"] == daily["date"].dt.normalize()).all()
    assert pd.api.types.is_string_dtype(daily["ticker"])
    assert isinstance(daily.index, pd.RangeIndex) and daily.index.start == 0
    keys = daily[["date", "ticker"]]
    assert not keys.duplicated().any()
    assert keys.equals(keys.sort_values(["date", "ticker"], ignore_index=True))
    assert not daily[fields].isna().all().any(), "a field column is entirely NaN"


@pytest.fixture
def assert_tidy():
    """The tidy-contract assertion, as a function of a daily table."""
    return _assert_tidy
