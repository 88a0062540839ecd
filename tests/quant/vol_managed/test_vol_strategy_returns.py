"""vol_strategy_returns: timing, default weights, and the errors users can cause."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from portflow.errors import DataError
from portflow.quant.vol_managed.signals import vol_signals
from portflow.quant.vol_managed.strategy_returns import vol_strategy_returns

TICKERS = ("M", "A", "B", "C")
WINDOW = dict(train_start=dt.date(2010, 1, 1), train_end=dt.date(2012, 12, 31))


def random_data(seed: int = 0, months: int = 72):
    """Monthly variance, returns and risk-free rate, month-ends from 2009-12."""
    rng = np.random.default_rng(seed)
    index = pd.date_range("2009-12-31", periods=months, freq="ME", name="date")
    variance = pd.DataFrame(
        np.exp(rng.normal(np.log(1e-4), 0.6, (months, 4))), index=index, columns=TICKERS
    )
    returns = pd.DataFrame(rng.normal(0.008, 0.05, (months, 4)), index=index, columns=TICKERS)
    rf = pd.DataFrame({"rf": rng.uniform(0.0, 0.004, months)}, index=index)
    return variance, returns, rf


def strategy(variance, returns, rf, weights=None):
    signals = vol_signals(variance, market="M", **WINDOW)
    return vol_strategy_returns(returns, rf, signals, market="M", weights=weights)


def wide(table: pd.DataFrame, column: str) -> pd.DataFrame:
    return table.pivot(index="month", columns="strategy", values=column)


def test_month_t_return_uses_the_exposure_decided_at_t_minus_1():
    """Perturb variances and returns from month t on: months before t are unchanged, and
    month t's exposure and turnover too (only its return changes)."""
    variance, returns, rf = random_data()
    t = pd.Timestamp("2014-05-31")
    rng = np.random.default_rng(7)
    future = variance.index >= t
    variance2, returns2 = variance.copy(), returns.copy()
    variance2.loc[future] *= rng.uniform(0.1, 10.0, (int(future.sum()), 4))
    returns2.loc[future] = rng.normal(0.0, 0.1, (int(future.sum()), 4))

    base, other = strategy(variance, returns, rf), strategy(variance2, returns2, rf)
    before = base["month"] < t
    assert other[before].equals(base[before])
    at_t = base["month"] == t
    columns = ["exposure", "turnover"]
    assert other.loc[at_t, columns].equals(base.loc[at_t, columns])
    assert not np.allclose(other.loc[at_t, "excess_return"], base.loc[at_t, "excess_return"])


def test_default_weights_are_equal_over_every_ticker_but_the_market():
    variance, returns, rf = random_data()
    table = strategy(variance, returns, rf)
    excess = returns.sub(rf["rf"], axis=0)
    expected = excess[["A", "B", "C"]].mean(axis=1).loc[wide(table, "excess_return").index]
    np.testing.assert_allclose(wide(table, "excess_return")["basket"], expected, rtol=1e-12)
    configured = strategy(variance, returns, rf, weights={"A": 1 / 3, "B": 1 / 3, "C": 1 / 3})
    np.testing.assert_allclose(
        wide(configured, "excess_return"), wide(table, "excess_return"), rtol=1e-12
    )


def test_managed_market_is_exposure_times_market_excess():
    variance, returns, rf = random_data()
    table = strategy(variance, returns, rf)
    excess, exposure = wide(table, "excess_return"), wide(table, "exposure")
    signals = vol_signals(variance, market="M", **WINDOW)
    common = signals[signals["signal"] == "common"].set_index("month")["exposure"]
    np.testing.assert_allclose(exposure["market_managed"], common.loc[excess.index])
    np.testing.assert_allclose(
        excess["market_managed"], common.loc[excess.index] * excess["market"], rtol=1e-12
    )
    assert set(table["period"]) == {"train", "test"}
    train = table[table["period"] == "train"]
    assert train["month"].max() == pd.Timestamp("2012-12-31")


def test_missing_risk_free_month_is_an_error():
    variance, returns, rf = random_data()
    rf = rf.drop(pd.Timestamp("2013-03-31"))
    with pytest.raises(DataError) as caught:
        strategy(variance, returns, rf)
    message = str(caught.value)
    assert message.startswith("[vol_strategy_returns] risk_free_monthly.rf: no risk-free rate")
    assert "2013-03" in message and "Fix: supply a risk-free series" in message


def test_missing_return_of_a_basket_asset_is_an_error():
    variance, returns, rf = random_data()
    returns.loc["2011-07-31", "B"] = np.nan
    with pytest.raises(
        DataError, match=r"\[vol_strategy_returns\] monthly_returns: 1 missing.*B 2011-07"
    ):
        strategy(variance, returns, rf)
    # A ticker outside the configured basket may have gaps.
    strategy(variance, returns, rf, weights={"A": 0.5, "C": 0.5})


def test_unknown_tickers_are_named():
    variance, returns, rf = random_data()
    signals = vol_signals(variance, market="M", **WINDOW)
    with pytest.raises(DataError, match=r"\[vol_strategy_returns\] market: SPX not in"):
        vol_strategy_returns(returns, rf, signals, market="SPX")
    with pytest.raises(DataError, match=r"vol_managed.weights: ZZZ not in monthly_returns"):
        vol_strategy_returns(returns, rf, signals, market="M", weights={"A": 0.5, "ZZZ": 0.5})
    only_a = vol_signals(variance, market="M", assets=("A",), **WINDOW)
    with pytest.raises(DataError, match=r"vol_managed.weights: no per-asset signal for B, C"):
        vol_strategy_returns(returns, rf, only_a, market="M")
