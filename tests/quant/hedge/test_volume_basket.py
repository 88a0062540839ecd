"""Volume weights and basket returns: hand-worked numbers, timing, splits and bad input."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from portflow.errors import DataError
from portflow.quant.hedge.volume_basket import basket_returns, volume_weights
from portflow.quant.prices import price_panel
from portflow.quant.returns import daily_returns
from portflow.sources.synthetic import generate

DATES = pd.bdate_range("2024-01-01", periods=5)


def _market(volumes: dict[str, list[float]], closes: dict[str, list[float]] | None = None):
    """Tidy table from per-ticker volume (and close) lists on DATES; NaN = no row."""
    rows = []
    for ticker, series in volumes.items():
        for i, (date, volume) in enumerate(zip(DATES, series, strict=True)):
            if np.isnan(volume):
                continue
            close = closes[ticker][i] if closes else 10.0
            rows.append({"date": date, "ticker": ticker, "close": close, "volume": volume})
    return pd.DataFrame(rows)


HAND = {
    "A": [100.0, 300.0, 200.0, 0.0, 400.0],
    "B": [100.0, 100.0, 200.0, 0.0, 0.0],
    "C": [np.nan, np.nan, 600.0, 600.0, 600.0],  # lists on the third day
    "BENCH": [5e6] * 5,
}


def test_share_volume_weights_hand_worked():
    """W = 2; the weight of day t uses volume of t-2 and t-1 only.

    day 3: A (100+300)/2 = 200, B (100+100)/2 = 100, C listed 1 day < W -> out: 2/3, 1/3, 0
    day 4: A (300+200)/2 = 250, B (100+200)/2 = 150, C listed 1 day by day 3 -> 0.625, 0.375, 0
    day 5: A (200+0)/2 = 100, B (200+0)/2 = 100, C (600+600)/2 = 600 -> 0.125, 0.125, 0.75
    Days 1-2 lack a full window and are not in the output; BENCH is not in the basket.
    """
    weights = volume_weights(_market(HAND), volume_window=2, benchmark="BENCH")
    assert list(weights.columns) == ["A", "B", "C"]
    assert list(weights.index) == list(DATES[2:])
    expected = [[2 / 3, 1 / 3, 0.0], [0.625, 0.375, 0.0], [0.125, 0.125, 0.75]]
    np.testing.assert_allclose(weights.to_numpy(), expected, rtol=0, atol=1e-15)


def test_dollar_volume_weights_hand_worked():
    """Close x volume, W = 1: day 2 uses day 1 only: A 100 x 10 = 1000, B 100 x 30 = 3000."""
    closes = {"A": [10.0] * 5, "B": [30.0] * 5, "BENCH": [1.0] * 5}
    market = _market({k: [100.0] * 5 for k in closes}, closes)
    weights = volume_weights(market, volume_window=1, dollar_volume=True, benchmark="BENCH")
    np.testing.assert_allclose(weights.iloc[0], [0.25, 0.75], atol=1e-15)
    shares = volume_weights(market, volume_window=1, dollar_volume=False, benchmark="BENCH")
    np.testing.assert_allclose(shares.iloc[0], [0.5, 0.5], atol=1e-15)


@pytest.fixture(scope="module")
def synthetic():
    market, _ = generate(seed=3, n_assets=4, n_days=200, start=dt.date(2015, 1, 5))
    return market.daily


def test_weights_do_not_read_the_day_they_are_used_or_later(synthetic):
    weights = volume_weights(synthetic, volume_window=20, benchmark="BENCH")
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, rtol=1e-14)
    day = weights.index[50]
    future = synthetic["date"] >= day
    rng = np.random.default_rng(0)
    perturbed = synthetic.copy()
    perturbed.loc[future, "volume"] *= rng.uniform(0.1, 10.0, future.sum())
    perturbed.loc[future, "close"] *= rng.uniform(0.5, 2.0, future.sum())
    for dollar in (False, True):
        before = volume_weights(
            synthetic, volume_window=20, dollar_volume=dollar, benchmark="BENCH"
        )
        after = volume_weights(perturbed, volume_window=20, dollar_volume=dollar, benchmark="BENCH")
        pd.testing.assert_frame_equal(after.loc[:day], before.loc[:day])
        assert not np.allclose(after.loc[day:].iloc[1:], before.loc[day:].iloc[1:])


def test_dollar_volume_is_split_invariant_share_volume_is_not(synthetic):
    """A 2:1 split of A0 (close / 2, volume x 2, adjusted close unchanged) mid-sample."""
    split_day = synthetic["date"].unique()[100]
    split = synthetic.copy()
    rows = (split["ticker"] == "A0") & (split["date"] >= split_day)
    split.loc[rows, "close"] /= 2
    split.loc[rows, "volume"] *= 2
    kwargs = {"volume_window": 20, "benchmark": "BENCH"}
    dollar = volume_weights(synthetic, dollar_volume=True, **kwargs)
    pd.testing.assert_frame_equal(
        volume_weights(split, dollar_volume=True, **kwargs), dollar, rtol=1e-12
    )
    shares, shares_split = (volume_weights(m, **kwargs) for m in (synthetic, split))
    pd.testing.assert_frame_equal(shares_split.loc[:split_day], shares.loc[:split_day])
    assert (
        shares_split.loc[split_day:, "A0"].iloc[21:] > shares.loc[split_day:, "A0"].iloc[21:]
    ).all()


def test_basket_returns_and_turnover_hand_worked():
    """Day 1: w = (0.6, 0.4), r = (+10%, -5%) -> r_p = 0.06 - 0.02 = 0.04.

    Drifted: (0.66, 0.38) / 1.04; re-weighting to day 2's (0.5, 0.5) trades
    |0.5 - 0.66/1.04| + |0.5 - 0.38/1.04| = 0.28 / 1.04 at day 1's close.
    Day 2: w = (0.5, 0.5), r = (0%, +2%) -> r_p = 0.01; no next weights: NaN.
    """
    index = pd.DatetimeIndex(DATES[:3], name="date")
    returns = pd.DataFrame(
        {"A": [np.nan, 0.10, 0.0], "B": [np.nan, -0.05, 0.02], "BENCH": [np.nan, 0.03, -0.01]},
        index=index,
    )
    weights = pd.DataFrame({"A": [0.6, 0.5], "B": [0.4, 0.5]}, index=index[1:])
    basket = basket_returns(returns, weights, benchmark="BENCH")
    np.testing.assert_allclose(basket["basket"], [0.04, 0.01], atol=1e-15)
    np.testing.assert_allclose(basket["benchmark"], [0.03, -0.01], atol=1e-15)
    assert basket["basket_turnover"].iloc[0] == pytest.approx(0.28 / 1.04, abs=1e-15)
    assert np.isnan(basket["basket_turnover"].iloc[1])


def test_basket_returns_match_weights_times_returns_on_synthetic(synthetic):
    returns = daily_returns(price_panel(synthetic))
    weights = volume_weights(synthetic, volume_window=20, benchmark="BENCH")
    basket = basket_returns(returns, weights, benchmark="BENCH")
    assert basket.index.equals(weights.index)
    expected = (weights * returns[weights.columns].loc[weights.index]).sum(axis=1)
    np.testing.assert_allclose(basket["basket"], expected, rtol=1e-14)
    pd.testing.assert_series_equal(
        basket["benchmark"], returns.loc[weights.index, "BENCH"], check_names=False
    )


def test_benchmark_missing_is_a_named_error(synthetic):
    with pytest.raises(
        DataError, match=r"\[volume_weights\] QQQ: the benchmark is not in the data"
    ):
        volume_weights(synthetic, benchmark="QQQ")
    returns = daily_returns(price_panel(synthetic))
    weights = volume_weights(synthetic, volume_window=20, benchmark="BENCH")
    with pytest.raises(DataError, match=r"\[basket_returns\] QQQ"):
        basket_returns(returns, weights, benchmark="QQQ")


def test_zero_volume_for_every_name_in_a_window_is_a_named_error():
    volumes = {"A": [100.0, 0.0, 0.0, 50.0, 50.0], "B": [10.0, 0.0, 0.0, 0.0, 0.0], "X": [1.0] * 5}
    with pytest.raises(DataError) as info:
        volume_weights(_market(volumes), volume_window=2, benchmark="X")
    error = info.value
    assert (error.stage, error.field) == ("volume_weights", "volume")
    assert "zero or no volume in the 2-day window before 1 dates: 2024-01-04" in error.problem
    assert "hedge.volume_window" in error.fix


def test_no_volume_column_window_too_long_and_no_close_are_named_errors():
    market = _market(HAND)
    with pytest.raises(
        DataError,
        match=r"\[volume_weights\] volume: the source has no volume.*"
        r"sp500_20 has no volume",
    ):
        volume_weights(market.drop(columns="volume"), benchmark="BENCH")
    with pytest.raises(DataError, match=r"\[volume_weights\] close: .*hedge.dollar_volume"):
        volume_weights(market.drop(columns="close"), dollar_volume=True, benchmark="BENCH")
    with pytest.raises(DataError, match=r"\[volume_weights\] hedge.volume_window: 5 trading days"):
        volume_weights(market, volume_window=5, benchmark="BENCH")


def test_weighted_name_without_a_return_is_a_named_error():
    index = pd.DatetimeIndex(DATES[:2], name="date")
    returns = pd.DataFrame({"A": [np.nan, np.nan], "B": [np.nan, 0.01], "X": [np.nan, 0.0]}, index)
    weights = pd.DataFrame({"A": [0.5], "B": [0.5]}, index=index[1:])
    with pytest.raises(DataError, match=r"\[basket_returns\] daily_returns: 1 weighted .*A 2024"):
        basket_returns(returns, weights, benchmark="X")
