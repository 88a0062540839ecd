"""Daily returns, monthly compounding and realized variance against hand-worked numbers."""

import numpy as np
import pandas as pd
import pytest

from portflow.errors import DataError
from portflow.quant.returns import (
    daily_returns,
    holding_returns,
    monthly_returns,
    monthly_variance,
)

DATES = pd.to_datetime(
    ["2020-01-31", "2020-02-10", "2020-02-20", "2020-02-28", "2020-03-10", "2020-03-31"]
)


@pytest.fixture
def prices() -> pd.DataFrame:
    """A listed all along; B lists on 2020-02-20 (so its February is partial)."""
    return pd.DataFrame(
        {
            "A": [100.0, 110.0, 99.0, 108.9, 100.0, 120.0],
            "B": [np.nan, np.nan, 50.0, 55.0, 44.0, 44.0],
        },
        index=pd.DatetimeIndex(DATES, name="date"),
    )


def test_daily_returns_keep_the_calendar(prices):
    returns = daily_returns(prices)
    assert returns.index.equals(prices.index)
    np.testing.assert_allclose(returns["A"].iloc[1:4], [0.10, -0.10, 0.10], rtol=1e-12)
    assert returns["A"].iloc[0] != returns["A"].iloc[0]  # NaN: no previous price
    np.testing.assert_allclose(returns["B"].iloc[3:], [0.10, -0.20, 0.0], rtol=1e-12)


def test_monthly_compounding_hand_worked(prices):
    monthly = monthly_returns(daily_returns(prices))
    # January holds only the first price: no return from the December close, so dropped.
    assert list(monthly.index) == list(pd.to_datetime(["2020-02-29", "2020-03-31"]))
    assert monthly.loc["2020-02-29", "A"] == pytest.approx(1.1 * 0.9 * 1.1 - 1, abs=1e-15)
    assert monthly.loc["2020-03-31", "A"] == pytest.approx(120.0 / 108.9 - 1, abs=1e-15)
    assert np.isnan(monthly.loc["2020-02-29", "B"])  # listed mid-month: no partial month
    assert monthly.loc["2020-03-31", "B"] == pytest.approx(0.8 * 1.0 - 1, abs=1e-15)


def test_incomplete_last_month_is_dropped(prices):
    cut = prices.loc[:"2020-03-10"]
    assert monthly_returns(daily_returns(cut)).index[-1] == pd.Timestamp("2020-02-29")
    assert monthly_variance(daily_returns(cut), min_days=2).index[-1] == pd.Timestamp("2020-02-29")


def test_realized_variance_hand_worked(prices):
    variance = monthly_variance(daily_returns(prices), min_days=2)
    assert list(variance.index) == list(pd.to_datetime(["2020-02-29", "2020-03-31"]))
    # February A: returns 0.1, -0.1, 0.1; mean 0.1/3; squared deviations sum 0.24/9; ddof=1.
    assert variance.loc["2020-02-29", "A"] == pytest.approx(0.24 / 9 / 2, rel=1e-12)
    march = [100 / 108.9 - 1, 0.2]
    assert variance.loc["2020-03-31", "A"] == pytest.approx(
        (march[0] - march[1]) ** 2 / 2, rel=1e-12
    )
    assert np.isnan(variance.loc["2020-02-29", "B"])  # one return < min_days
    assert variance.loc["2020-03-31", "B"] == pytest.approx(0.02, rel=1e-12)


def test_variance_needs_min_days_of_two_or_more(prices):
    with pytest.raises(DataError, match=r"\[monthly_variance\] monthly.min_days"):
        monthly_variance(daily_returns(prices), min_days=1)


def test_monthly_returns_equal_month_end_price_ratios_on_real_data():
    """Independent check on the bundled S&P data: compounding = month-end price ratio."""
    from portflow.config import SampleData
    from portflow.quant.prices import price_panel
    from portflow.sources.sample import SampleSource

    data = SampleSource(
        SampleData(universe="sp500_20", start="2005-01-01", end="2007-12-31")
    ).load()
    prices = price_panel(data.daily)
    monthly = monthly_returns(daily_returns(prices))
    month_end_prices = prices.groupby(prices.index + pd.offsets.MonthEnd(0)).last()
    expected = (month_end_prices / month_end_prices.shift(1) - 1).loc[monthly.index]
    pd.testing.assert_frame_equal(monthly, expected, check_names=False, atol=1e-12, rtol=0)
    variance = monthly_variance(daily_returns(prices), min_days=15)
    june = daily_returns(prices).loc["2006-06", "AAPL"].to_numpy()
    assert variance.loc["2006-06-30", "AAPL"] == pytest.approx(np.var(june, ddof=1), rel=1e-12)


def test_the_month_a_ticker_leaves_compounds_its_returns_up_to_its_last_day(prices):
    """C delists on 2020-03-10: its March is its returns from March 1 to the 10th (the last
    one carries its delisting return); A, still listed, needs every day of March."""
    prices["C"] = [10.0, 11.0, 11.0, 12.1, 6.05, np.nan]
    monthly = monthly_returns(daily_returns(prices))
    assert monthly.loc["2020-02-29", "C"] == pytest.approx(12.1 / 10.0 - 1, abs=1e-15)
    assert monthly.loc["2020-03-31", "C"] == pytest.approx(-0.5, abs=1e-15)
    assert monthly.loc["2020-03-31", "A"] == pytest.approx(120.0 / 108.9 - 1, abs=1e-15)
    prices.loc["2020-02-20", "C"] = np.nan  # a gap in a month before its last one
    with_gap = monthly_returns(daily_returns(prices))
    assert np.isnan(with_gap.loc["2020-02-29", "C"])
    assert with_gap.loc["2020-03-31", "C"] == pytest.approx(-0.5, abs=1e-15)


def test_holding_periods_from_first_trading_day_to_first_trading_day():
    """Traded on each month's first trading day: the period labeled M runs from the close of
    M's first trading day to the close of M+1's first; on the last day, calendar months."""
    days = pd.to_datetime(
        ["2020-01-31", "2020-02-03", "2020-02-14", "2020-02-28", "2020-03-02", "2020-03-16",
         "2020-03-31", "2020-04-01", "2020-04-15"]
    )  # fmt: skip
    prices = pd.DataFrame(
        {"A": [100, 101, 103, 102, 105, 99, 98, 100, 110.0]}, index=pd.DatetimeIndex(days)
    )
    returns = daily_returns(prices)
    first = holding_returns(returns, rebalance_day="first")
    # February's period: after the close of 02-03 to the close of 03-02; March's: to 04-01.
    # January's (to 02-03) and April's are cut by the data.
    assert list(first.index) == list(pd.to_datetime(["2020-02-29", "2020-03-31"]))
    assert first.loc["2020-02-29", "A"] == pytest.approx(105 / 101 - 1, abs=1e-15)
    assert first.loc["2020-03-31", "A"] == pytest.approx(100 / 105 - 1, abs=1e-15)
    pd.testing.assert_frame_equal(
        holding_returns(returns, rebalance_day="last"), monthly_returns(returns)
    )
