"""Volatility-managed signals and returns against a hand-computed example.

Market M and a basket of three assets A, B, C weighted 0.5 / 0.25 / 0.25; six months of
realized variance and returns (January to June 2020); risk-free 0.001 every month.
Variances are chosen as 1/s so the inverse variances s are round numbers:

    s = 1 / variance   Jan  Feb  Mar  Apr  May  Jun
    M                  100  200  300  400   50  100
    A                  200  100  300  400  100  200
    B                  100  100  100   50  300  100
    C                  400  200  600  800  400  200

The exposure of month t uses the variance of month t-1, so exposures run from February
(signal date January) to July (signal date June; no return yet: next month's position).
Training window: February to April (3 months); test: May onward.

k = 1 / mean(s over the signal dates Jan, Feb, Mar):
    k_M = 1 / mean(100, 200, 300) = 1/200
    k_A = 1 / mean(200, 100, 300) = 1/200
    k_B = 1 / mean(100, 100, 100) = 1/100
    k_C = 1 / mean(400, 200, 600) = 1/400

Exposure e_t = k * s_{t-1}:
    month   Feb   Mar   Apr   May   Jun   Jul
    M       0.5   1.0   1.5   2.0   0.25  0.5
    A       1.0   0.5   1.5   2.0   0.5   1.0
    B       1.0   1.0   1.0   0.5   3.0   1.0
    C       1.0   0.5   1.5   2.0   1.0   0.5
Each training mean (Feb..Apr) is (0.5 + 1 + 1.5) / 3 = 1, (1 + 0.5 + 1.5) / 3 = 1, 1, 1.
"""

import numpy as np
import pandas as pd
import pytest

from portflow.quant.vol_managed.signals import vol_signals
from portflow.quant.vol_managed.strategy_returns import vol_strategy_returns

MONTHS = pd.date_range("2020-01-31", periods=6, freq="ME", name="date")
INVERSE = {
    "M": [100, 200, 300, 400, 50, 100],
    "A": [200, 100, 300, 400, 100, 200],
    "B": [100, 100, 100, 50, 300, 100],
    "C": [400, 200, 600, 800, 400, 200],
}
RF = 0.001
# Excess returns of February..June (January's return is never used: no exposure yet).
EXCESS = {
    "M": [0.02, -0.02, 0.03, 0.01, -0.01],
    "A": [0.04, -0.02, 0.02, 0.00, 0.02],
    "B": [0.00, 0.04, -0.04, 0.02, 0.01],
    "C": [-0.02, 0.00, 0.04, 0.04, -0.04],
}
WEIGHTS = {"A": 0.5, "B": 0.25, "C": 0.25}
WINDOW = dict(train_start="2020-02-01", train_end="2020-04-30", min_months=3)


@pytest.fixture
def variance() -> pd.DataFrame:
    return 1.0 / pd.DataFrame(INVERSE, index=MONTHS, dtype=float)


@pytest.fixture
def returns() -> pd.DataFrame:
    excess = pd.DataFrame(EXCESS, index=MONTHS[1:])
    january = pd.DataFrame({t: [0.05] for t in EXCESS}, index=MONTHS[:1])
    return pd.concat([january, excess + RF])


@pytest.fixture
def risk_free() -> pd.DataFrame:
    return pd.DataFrame({"rf": RF}, index=MONTHS)


def signals_for(variance, **kwargs):
    params = {**WINDOW, "market": "M", "assets": ("A", "B", "C"), **kwargs}
    params["train_start"] = pd.Timestamp(params["train_start"]).date()
    params["train_end"] = pd.Timestamp(params["train_end"]).date()
    return vol_signals(variance, **params)


def exposures(signals: pd.DataFrame) -> pd.DataFrame:
    return signals.pivot(index="month", columns="asset", values="exposure")[["M", "A", "B", "C"]]


def test_k_is_one_over_the_training_mean_of_inverse_variance(variance):
    signals = signals_for(variance)
    k = signals.groupby("asset")["k"].agg(["first", "nunique"])
    assert (k["nunique"] == 1).all()  # one k per signal
    assert k["first"].to_dict() == pytest.approx(
        {"M": 1 / 200, "A": 1 / 200, "B": 1 / 100, "C": 1 / 400}
    )
    assert signals.loc[signals["asset"] == "M", "signal"].unique().tolist() == ["common"]
    assert set(signals.loc[signals["asset"] != "M", "signal"]) == {"per_asset"}


def test_exposures_and_their_dates(variance):
    signals = signals_for(variance)
    expected = pd.DataFrame(
        {
            "M": [0.5, 1.0, 1.5, 2.0, 0.25, 0.5],
            "A": [1.0, 0.5, 1.5, 2.0, 0.5, 1.0],
            "B": [1.0, 1.0, 1.0, 0.5, 3.0, 1.0],
            "C": [1.0, 0.5, 1.5, 2.0, 1.0, 0.5],
        },
        index=pd.date_range("2020-02-29", periods=6, freq="ME"),
    )
    np.testing.assert_allclose(exposures(signals).to_numpy(), expected.to_numpy(), rtol=1e-12)
    market = signals[signals["asset"] == "M"]
    # The signal measured over month t-1 is held through month t.
    assert list(market["signal_date"]) == list(MONTHS)
    assert list(market["month"]) == list(expected.index)
    assert list(market["period"]) == ["train"] * 3 + ["test"] * 3
    np.testing.assert_allclose(market["inverse_variance"], INVERSE["M"], rtol=1e-12)
    train = signals[signals["period"] == "train"]
    np.testing.assert_allclose(train.groupby("asset")["exposure"].mean(), 1.0, rtol=1e-12)


def test_leverage_cap_applies_after_calibration(variance):
    capped = signals_for(variance, leverage_cap=1.5)
    # k is the uncapped one; only M's May (2.0), A's and C's May (2.0), B's June (3.0) bind.
    assert capped.groupby("asset")["k"].first()["B"] == pytest.approx(1 / 100)
    expected = {
        "M": [0.5, 1.0, 1.5, 1.5, 0.25, 0.5],
        "A": [1.0, 0.5, 1.5, 1.5, 0.5, 1.0],
        "B": [1.0, 1.0, 1.0, 0.5, 1.5, 1.0],
        "C": [1.0, 0.5, 1.5, 1.5, 1.0, 0.5],
    }
    np.testing.assert_allclose(
        exposures(capped).to_numpy(), pd.DataFrame(expected).to_numpy(), rtol=1e-12
    )


def test_strategy_returns_hand_computed(variance, returns, risk_free):
    table = vol_strategy_returns(
        returns, risk_free, signals_for(variance), market="M", weights=WEIGHTS
    )
    wide = table.pivot(index="month", columns="strategy", values="excess_return")
    # July has an exposure but no return yet: the strategy runs February..June.
    assert list(wide.index) == list(MONTHS[1:])
    expected = {
        # basket b = 0.5 A + 0.25 B + 0.25 C, e.g. Feb 0.5*0.04 + 0 + 0.25*(-0.02) = 0.015
        "basket": [0.015, 0.0, 0.01, 0.015, 0.0025],
        # market x: the excess returns of M
        "market": EXCESS["M"],
        # e_M * x: Feb 0.5*0.02, Mar 1*(-0.02), Apr 1.5*0.03, May 2*0.01, Jun 0.25*(-0.01)
        "market_managed": [0.01, -0.02, 0.045, 0.02, -0.0025],
        # e_M * b: 0.5*0.015, 1*0, 1.5*0.01, 2*0.015, 0.25*0.0025
        "basket_common": [0.0075, 0.0, 0.015, 0.03, 0.000625],
        # sum_i w_i e_i (r_i - rf):
        #   Feb 0.5*1*0.04    + 0.25*1*0.00    + 0.25*1*(-0.02)   = 0.015
        #   Mar 0.5*0.5*(-0.02) + 0.25*1*0.04  + 0.25*0.5*0.00    = 0.005
        #   Apr 0.5*1.5*0.02  + 0.25*1*(-0.04) + 0.25*1.5*0.04    = 0.02
        #   May 0.5*2*0.00    + 0.25*0.5*0.02  + 0.25*2*0.04      = 0.0225
        #   Jun 0.5*0.5*0.02  + 0.25*3*0.01    + 0.25*1*(-0.04)   = 0.0025
        "basket_per_asset": [0.015, 0.005, 0.02, 0.0225, 0.0025],
    }
    for strategy, values in expected.items():
        np.testing.assert_allclose(wide[strategy], values, atol=1e-15, err_msg=strategy)
    total = table.pivot(index="month", columns="strategy", values="total_return")
    np.testing.assert_allclose(total - wide, RF, atol=1e-15)  # totals add rf back
    assert (table["rf"] == RF).all()
    assert table.set_index("strategy")["unmanaged"].to_dict() == {
        "market": "market",
        "market_managed": "market",
        "basket": "basket",
        "basket_common": "basket",
        "basket_per_asset": "basket",
    }


def test_exposure_and_turnover_hand_computed(variance, returns, risk_free):
    table = vol_strategy_returns(
        returns, risk_free, signals_for(variance), market="M", weights=WEIGHTS
    )
    exposure = table.pivot(index="month", columns="strategy", values="exposure")
    turnover = table.pivot(index="month", columns="strategy", values="turnover")
    np.testing.assert_allclose(exposure["market_managed"], [0.5, 1.0, 1.5, 2.0, 0.25])
    # sum_i w_i e_i: Mar 0.5*0.5 + 0.25*1 + 0.25*0.5 = 0.625, ...
    np.testing.assert_allclose(exposure["basket_per_asset"], [1.0, 0.625, 1.375, 1.625, 1.25])
    # |e_t - e_{t-1}| with e = 1 before the start: Feb |0.5 - 1|, ..., Jun |0.25 - 2|
    np.testing.assert_allclose(turnover["market_managed"], [0.5, 0.5, 0.5, 0.5, 1.75])
    np.testing.assert_allclose(turnover["basket_common"], turnover["market_managed"])
    # sum_i w_i |e_i,t - e_i,t-1|:
    #   Feb 0 (all exposures 1), Mar 0.5*0.5 + 0 + 0.25*0.5 = 0.375,
    #   Apr 0.5*1 + 0 + 0.25*1 = 0.75, May 0.5*0.5 + 0.25*0.5 + 0.25*0.5 = 0.5,
    #   Jun 0.5*1.5 + 0.25*2.5 + 0.25*1 = 1.625
    np.testing.assert_allclose(turnover["basket_per_asset"], [0.0, 0.375, 0.75, 0.5, 1.625])
    assert (exposure[["market", "basket"]] == 1.0).all().all()
    assert (turnover[["market", "basket"]] == 0.0).all().all()
    # Two-way adds the cash leg |exposure_t - exposure_t-1|: a single signal trades one way,
    # so it doubles; in May the per-asset basket buys A and C (0.25 + 0.125) and sells B
    # (0.125) and cash (1.625 - 1.375 = 0.25): 0.375 + 0.375 = 0.75.
    two_way = table.pivot(index="month", columns="strategy", values="turnover_two_way")
    np.testing.assert_allclose(two_way["market_managed"], [1.0, 1.0, 1.0, 1.0, 3.5])
    np.testing.assert_allclose(two_way["basket_per_asset"], [0.0, 0.75, 1.5, 0.75, 2.0])
    assert (two_way[["market", "basket"]] == 0.0).all().all()
