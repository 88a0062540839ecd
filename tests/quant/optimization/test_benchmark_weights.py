"""Benchmark weights: month-end caps from a daily panel, equal weights otherwise."""

import numpy as np
import pandas as pd
import pytest

from portflow.errors import DataError
from portflow.quant.optimization.benchmark_weights import benchmark_weights, month_end_caps

MONTHS = pd.to_datetime(["2020-01-31", "2020-02-29"])


def loadings(tradable: dict) -> pd.DataFrame:
    rows = [
        {"date": date, "ticker": ticker, "tradable": flag}
        for date in MONTHS
        for ticker, flag in tradable.items()
    ]
    return pd.DataFrame(rows)


def daily_panel() -> pd.DataFrame:
    """A and B on three days a month; B's shares change on the last day of February."""
    days = pd.to_datetime(
        ["2020-01-29", "2020-01-30", "2020-01-31", "2020-02-26", "2020-02-27", "2020-02-28"]
    )
    frame = pd.DataFrame(
        {
            "date": np.repeat(days, 2),
            "ticker": ["A", "B"] * 6,
            "close": [10, 20, 11, 21, 12, 22, 13, 23, 14, 24, 15, 25],
            "adj_close": 1.0,
            "shares_outstanding": [100, 50] * 5 + [100, 80],
        }
    )
    return frame.astype({"close": float, "shares_outstanding": float})


def test_caps_are_close_times_shares_on_the_last_day_of_the_month():
    caps = month_end_caps(daily_panel())
    assert caps.loc["2020-01-31", "A"] == 12 * 100 and caps.loc["2020-01-31", "B"] == 22 * 50
    assert caps.loc["2020-02-29", "B"] == 25 * 80


def test_cap_weights_over_the_tradable_stocks():
    weights = benchmark_weights(loadings({"A": True, "B": True}), daily_panel(), scheme="auto")
    feb = weights[weights["date"] == MONTHS[1]].set_index("ticker")
    assert feb.loc["A", "weight"] == pytest.approx(1500 / (1500 + 2000))
    assert (weights["scheme"] == "cap_weight").all()
    np.testing.assert_allclose(weights.groupby("date")["weight"].sum(), 1.0)
    only_a = benchmark_weights(loadings({"A": True, "B": False}), daily_panel(), scheme="cap")
    assert only_a["ticker"].unique().tolist() == ["A"] and (only_a["weight"] == 1.0).all()


def test_equal_weights_without_caps_and_the_choice_is_named():
    no_caps = daily_panel().drop(columns=["close", "shares_outstanding"])
    weights = benchmark_weights(loadings({"A": True, "B": True, "C": True}), no_caps, scheme="auto")
    np.testing.assert_allclose(weights["weight"], 1 / 3)
    assert weights["cap"].isna().all() and len(weights) == 6
    assert (weights["scheme"] == "equal_weight").all()
    forced = benchmark_weights(loadings({"A": True, "B": True}), daily_panel(), scheme="equal")
    assert (forced["weight"] == 0.5).all()


def test_cap_scheme_without_caps_is_a_named_error():
    no_caps = daily_panel().drop(columns=["shares_outstanding"])
    with pytest.raises(DataError, match=r"\[benchmark_weights\] optimization.benchmark.scheme"):
        benchmark_weights(loadings({"A": True}), no_caps, scheme="cap")
    with pytest.raises(DataError, match="no tradable stock has a market cap"):
        benchmark_weights(loadings({"C": True}), daily_panel(), scheme="cap")


def test_auto_falls_back_to_equal_weights_on_dates_with_a_missing_cap():
    """Two stocks with caps in January; in February B's share count is unknown."""
    market = pd.DataFrame(
        {
            "date": pd.to_datetime(["2020-01-31", "2020-01-31", "2020-02-28", "2020-02-28"]),
            "ticker": ["A", "B", "A", "B"],
            "close": [10.0, 20.0, 11.0, 21.0],
            "shares_outstanding": [100.0, 150.0, 100.0, np.nan],
        }
    )
    tradable = pd.DataFrame(
        {
            "date": pd.to_datetime(["2020-01-31", "2020-01-31", "2020-02-29", "2020-02-29"]),
            "ticker": ["A", "B", "A", "B"],
            "tradable": True,
        }
    )
    weights = benchmark_weights(tradable, market, scheme="auto").set_index(["date", "ticker"])
    january, february = pd.Timestamp("2020-01-31"), pd.Timestamp("2020-02-29")
    assert weights.loc[(january, "A"), "weight"] == pytest.approx(1000 / 4000)
    assert weights.loc[(january, "A"), "scheme"] == "cap_weight"
    assert weights.loc[(february, "A"), "weight"] == weights.loc[(february, "B"), "weight"] == 0.5
    assert weights.loc[(february, "B"), "scheme"] == "equal_weight"
