"""The prices stage: validation errors and the missing-data policies."""

import numpy as np
import pandas as pd
import pytest

from portflow.errors import DataError
from portflow.quant.prices import price_panel


def tidy(rows):
    return pd.DataFrame(rows, columns=["date", "ticker", "adj_close"]).assign(
        date=lambda f: pd.to_datetime(f["date"])
    )


DAYS = ["2021-01-04", "2021-01-05", "2021-01-06", "2021-01-07"]


def test_pivots_sorted_unique_panel():
    frame = tidy([(d, t, 10.0 + i) for i, d in enumerate(DAYS) for t in ("MSFT", "AAPL")][::-1])
    panel = price_panel(frame)
    assert list(panel.columns) == ["AAPL", "MSFT"]
    assert panel.index.is_monotonic_increasing and panel.index.is_unique
    assert panel.loc["2021-01-06", "AAPL"] == 12.0


def test_duplicate_dates_are_named():
    frame = tidy([(DAYS[0], "A", 1.0), (DAYS[0], "A", 1.1), (DAYS[1], "A", 1.2)])
    with pytest.raises(DataError, match=r"\[prices\] date: duplicate dates .*A 2021-01-04.*Fix"):
        price_panel(frame)


@pytest.mark.parametrize("bad", [0.0, -3.0, np.inf])
def test_non_positive_prices_are_named(bad):
    frame = tidy([(DAYS[0], "A", 1.0), (DAYS[1], "A", bad), (DAYS[2], "A", 1.2)])
    with pytest.raises(DataError, match=r"\[prices\] adj_close: 1 non-positive .*A 2021-01-05"):
        price_panel(frame)


def gappy():
    """B is missing on 01-05 (interior gap); C lists on 01-06 (leading gap, allowed)."""
    rows = [(d, "A", 10.0 + i) for i, d in enumerate(DAYS)]
    rows += [(DAYS[0], "B", 20.0), (DAYS[2], "B", 22.0), (DAYS[3], "B", 23.0)]
    rows += [(DAYS[2], "C", 5.0), (DAYS[3], "C", 6.0)]
    return tidy(rows)


def test_nan_price_counts_as_missing():
    frame = tidy([(DAYS[0], "A", 1.0), (DAYS[1], "A", np.nan), (DAYS[2], "A", 1.2)])
    with pytest.raises(DataError, match=r"prices.missing: 1 missing prices .*A 2021-01-05"):
        price_panel(frame, missing="error")


def test_missing_policy_error_names_the_gap_and_the_fix():
    with pytest.raises(DataError, match=r"B 2021-01-05.*Fix: set prices.missing"):
        price_panel(gappy(), missing="error")


def test_missing_policy_drop_dates_keeps_leading_gaps():
    panel = price_panel(gappy(), missing="drop_dates")
    assert list(panel.index.strftime("%m-%d")) == ["01-04", "01-06", "01-07"]
    assert panel["C"].isna().tolist() == [True, False, False]


def test_missing_policy_ffill_respects_its_limit():
    panel = price_panel(gappy(), missing="ffill", ffill_limit=1)
    assert panel.loc["2021-01-05", "B"] == 20.0
    assert np.isnan(panel.loc["2021-01-05", "C"])  # leading gap: not listed yet
    rows = [(d, "A", 1.0) for d in DAYS] + [(DAYS[0], "B", 2.0), (DAYS[3], "B", 2.0)]
    with pytest.raises(DataError, match="raise prices.ffill_limit"):
        price_panel(tidy(rows), missing="ffill", ffill_limit=1)


def test_keep_leaves_interior_gaps_missing():
    market = pd.DataFrame(
        {
            "date": pd.to_datetime(["2020-01-02", "2020-01-03", "2020-01-06"] * 2),
            "ticker": ["A"] * 3 + ["B"] * 3,
            "adj_close": [10.0, None, 11.0, 5.0, 5.5, 6.0],
        }
    )
    panel = price_panel(market, missing="keep")
    assert panel["A"].isna().tolist() == [False, True, False]
    assert panel["B"].tolist() == [5.0, 5.5, 6.0]
