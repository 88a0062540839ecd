"""Full-sample and rolling beta: direct statsmodels fits, known truth, timing, bad input."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from portflow.errors import DataError
from portflow.quant.hedge.backtest import hedge_backtest
from portflow.quant.hedge.beta import hedge_regression, hedged_returns, rolling_beta
from portflow.quant.hedge.volume_basket import basket_returns, volume_weights
from portflow.quant.prices import price_panel
from portflow.quant.returns import daily_returns
from portflow.sources.synthetic import generate


def _basket(seed: int, n_days: int = 750, daily: pd.DataFrame | None = None):
    """Synthetic 5-stock volume-weighted basket vs BENCH: (basket_returns, weights, truth)."""
    market, truth = generate(seed=seed, n_assets=5, n_days=n_days, start=dt.date(2010, 1, 4))
    daily = market.daily if daily is None else daily
    weights = volume_weights(daily, volume_window=30, benchmark="BENCH")
    basket = basket_returns(daily_returns(price_panel(daily)), weights, benchmark="BENCH")
    return basket, weights, truth


@pytest.fixture(scope="module")
def synthetic():
    return _basket(seed=7, n_days=1500)


@pytest.mark.parametrize("hac_lags", [None, 5, "auto"])
def test_regression_equals_a_direct_statsmodels_fit(synthetic, hac_lags):
    basket = synthetic[0]
    table = hedge_regression(basket, hac_lags=hac_lags)
    x = sm.add_constant(basket["benchmark"].to_numpy())
    model = sm.OLS(basket["basket"].to_numpy(), x)
    if hac_lags == "auto":  # Newey-West (1994): floor(4 (T/100)^(2/9)), T = 1,470 here
        assert len(basket) == 1470
        hac_lags = int(np.floor(4 * (1470 / 100) ** (2 / 9)))
        assert hac_lags == 7
    kwargs = {} if hac_lags is None else {"cov_type": "HAC", "cov_kwds": {"maxlags": hac_lags}}
    fit = model.fit(**kwargs)
    row = table.loc["basket"]
    got = row[["alpha", "beta", "alpha_se", "beta_se", "alpha_t", "beta_t", "alpha_p", "beta_p"]]
    want = [*fit.params, *fit.bse, *fit.tvalues, *fit.pvalues]
    np.testing.assert_allclose(got.to_numpy(dtype=float), want, rtol=0, atol=1e-10)
    assert row["r_squared"] == pytest.approx(fit.rsquared, abs=1e-10)
    assert row["n_obs"] == len(basket)
    assert row["cov_type"] == ("nonrobust" if hac_lags is None else f"HAC({hac_lags})")


def test_hedged_series_has_zero_beta_in_sample_and_the_basket_alpha(synthetic):
    basket = synthetic[0]
    table = hedge_regression(basket)
    beta = table.loc["basket", "beta"]
    hedged = hedged_returns(basket, beta)
    np.testing.assert_allclose(hedged, basket["basket"] - beta * basket["benchmark"], rtol=1e-15)
    assert abs(table.loc["hedged", "beta"]) < 1e-12
    assert table.loc["hedged", "r_squared"] < 1e-12
    assert table.loc["hedged", "alpha"] == pytest.approx(table.loc["basket", "alpha"], abs=1e-15)


def test_estimated_beta_is_within_its_standard_error_of_the_truth(synthetic):
    """The basket's true beta on day t is sum_i w_it beta_i (truth.betas[:, 0]).

    The weights move a little from day to day, so the estimand of the full-sample slope is
    their average over the sample (weights are independent of the benchmark's returns).
    With a correct standard error, |z| = |beta_hat - beta| / se exceeds 3 with probability
    0.27% for one draw: 3 SE is a tolerance that catches a wrong estimator or a wrong SE
    scale (say, a window off by a day, or a lagged benchmark) without being fragile. The
    seeded draw here has z = -0.67 (beta 1.161, truth 1.171, se 0.015).
    """
    basket, weights, truth = synthetic
    true_beta = float((weights.loc[basket.index].to_numpy() @ truth.betas[:, 0]).mean())
    row = hedge_regression(basket).loc["basket"]
    assert abs(row["beta"] - true_beta) < 3 * row["beta_se"]
    assert row["beta_se"] < 0.02  # the test has power: 3 SE is a band of +-0.05


def test_standard_error_is_calibrated_across_seeds():
    """z = (beta_hat - beta) / se over 30 independent draws should look standard normal.

    Measured: 28 of 30 (93%) within 2 SE, sd(z) 1.17, mean 0.04. The bounds (>= 80% within
    2 SE, sd in [0.7, 1.5]) fail if the SE is off by a factor of about 1.5 either way.
    """
    z = []
    for seed in range(100, 130):
        basket, weights, truth = _basket(seed=seed, n_days=500)
        true_beta = float((weights.loc[basket.index].to_numpy() @ truth.betas[:, 0]).mean())
        row = hedge_regression(basket).loc["basket"]
        z.append((row["beta"] - true_beta) / row["beta_se"])
    z = np.asarray(z)
    assert np.mean(np.abs(z) < 2) >= 0.8
    assert 0.7 <= z.std() <= 1.5


def test_rolling_beta_equals_ols_on_each_trailing_window_ending_at_the_decision(synthetic):
    basket = synthetic[0]
    betas = rolling_beta(basket, beta_window=120, rebalance_every=25)
    dates = basket.index
    first = dates.get_loc(betas.index[0])
    assert first == 119  # the first full window ends on row 119
    positions = [dates.get_loc(d) for d in betas.index]
    assert np.all(np.diff(positions) == 25)
    assert positions[-1] + 25 >= len(dates)  # no decision date is left out at the end
    for date, row in betas.iterrows():
        window = basket.loc[row["window_start"] : date]
        assert len(window) == 120 and window.index[-1] == date
        fit = sm.OLS(window["basket"], sm.add_constant(window["benchmark"])).fit()
        assert row["beta"] == pytest.approx(fit.params["benchmark"], abs=1e-10)
        assert row["beta_se"] == pytest.approx(fit.bse["benchmark"], abs=1e-10)
        assert row["alpha"] == pytest.approx(fit.params["const"], abs=1e-10)


def test_decision_reads_no_data_after_the_rebalance_date():
    """Perturb every price and volume after a rebalance date d, end to end from market data.

    At d's close the book decides the basket weights held from d+1 (volume up to d) and the
    beta (returns up to d). Both, and the book's state at d's close, must not move; the
    decisions after d must (the perturbation reaches the stages).
    """
    market, _ = generate(seed=11, n_assets=5, n_days=400, start=dt.date(2010, 1, 4))
    daily = market.daily
    basket, weights, _ = _basket(seed=11, n_days=400)
    betas = rolling_beta(basket, beta_window=120, rebalance_every=20)
    decision = betas.index[3]
    after = daily["date"] > decision
    rng = np.random.default_rng(1)
    perturbed = daily.copy()
    for field in ("close", "adj_close"):
        perturbed.loc[after, field] *= np.exp(rng.normal(0, 0.05, after.sum()))
    perturbed.loc[after, "volume"] *= rng.uniform(0.1, 10, after.sum())
    basket2, weights2, _ = _basket(seed=11, n_days=400, daily=perturbed)
    betas2 = rolling_beta(basket2, beta_window=120, rebalance_every=20)

    next_day = weights.index[weights.index.get_loc(decision) + 1]
    pd.testing.assert_frame_equal(weights2.loc[:next_day], weights.loc[:next_day])
    pd.testing.assert_frame_equal(betas2.loc[:decision], betas.loc[:decision])
    rf = pd.DataFrame({"rf": rng.uniform(0, 2e-4, len(basket))}, index=basket.index)
    rf2 = rf.copy()
    rf2.loc[rf.index > decision, "rf"] += 1e-3
    book = hedge_backtest(basket, betas, rf, borrow_fee=0.01)
    book2 = hedge_backtest(basket2, betas2, rf2, borrow_fee=0.01)
    pd.testing.assert_frame_equal(book2.loc[:decision], book.loc[:decision])
    assert not np.allclose(weights2.loc[next_day:].iloc[1:], weights.loc[next_day:].iloc[1:])
    assert not np.allclose(betas2["beta"].iloc[4:], betas["beta"].iloc[4:])


def test_the_decision_date_return_is_in_its_window(synthetic):
    """The window ends at d inclusive: d's own return (known at d's close) moves beta(d)."""
    basket = synthetic[0]
    betas = rolling_beta(basket, beta_window=120, rebalance_every=25)
    decision = betas.index[2]
    bumped = basket.copy()
    bumped.loc[decision, "basket"] += 0.05
    betas2 = rolling_beta(bumped, beta_window=120, rebalance_every=25)
    assert betas2.loc[decision, "beta"] != pytest.approx(betas.loc[decision, "beta"], abs=1e-6)
    pd.testing.assert_frame_equal(betas2.iloc[:2], betas.iloc[:2])


def test_rebalance_period_longer_than_the_sample_is_a_named_error(synthetic):
    basket = synthetic[0].iloc[:300]
    with pytest.raises(DataError) as info:
        rolling_beta(basket, beta_window=252, rebalance_every=60)
    error = info.value
    assert (error.stage, error.field) == ("hedge_rolling_beta", "hedge.rebalance_every")
    assert "only 48 days of returns follow the first beta window" in error.problem
    assert "between 1 and 48" in error.fix
    rolling_beta(basket, beta_window=252, rebalance_every=48)  # the largest period that works


def test_beta_window_longer_than_the_sample_is_a_named_error(synthetic):
    with pytest.raises(DataError, match=r"\[hedge_rolling_beta\] hedge.beta_window: 2000"):
        rolling_beta(synthetic[0], beta_window=2000, rebalance_every=20)


def test_missing_returns_are_a_named_error(synthetic):
    basket = synthetic[0].copy()
    basket.iloc[5, 0] = np.nan
    with pytest.raises(DataError, match=r"\[hedge_regression\] basket_returns: 1 dates"):
        hedge_regression(basket)
