"""Synthetic data: deterministic, and its known parameters are recoverable."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from portflow.config import SyntheticData
from portflow.sources.synthetic import BENCHMARK, SIC_CODES, SyntheticSource, generate

START = dt.date(2010, 1, 4)


@pytest.fixture(scope="module")
def draw():
    return generate(seed=7, n_assets=8, n_days=3000, start=START)


def returns(market):
    """Wide daily simple returns (n_days - 1, n_assets + 1) from the adjusted closes."""
    prices = market.daily.pivot(index="date", columns="ticker", values="adj_close")
    return prices.pct_change().iloc[1:]


def test_same_seed_same_data_other_seed_other_data():
    first, truth = generate(seed=3, n_assets=4, n_days=50, start=START)
    again, truth_again = generate(seed=3, n_assets=4, n_days=50, start=START)
    pd.testing.assert_frame_equal(first.daily, again.daily)
    pd.testing.assert_frame_equal(truth.factor_returns, truth_again.factor_returns)
    assert (truth.betas == truth_again.betas).all()
    other, _ = generate(seed=4, n_assets=4, n_days=50, start=START)
    assert not np.allclose(first.daily["adj_close"], other.daily["adj_close"])


def test_layout(draw, assert_tidy):
    market, truth = draw
    assert_tidy(market.daily)
    assert list(market.daily.columns) == ["date", "ticker", "close", "adj_close", "volume", "sic"]
    sic = market.daily.drop_duplicates("ticker").set_index("ticker")["sic"]
    assert list(sic.iloc[:8]) == list(SIC_CODES[:8]) and pd.isna(sic[BENCHMARK])
    assert sorted(market.daily["ticker"].unique()) == [*(f"A{i}" for i in range(8)), BENCHMARK]
    dates = pd.bdate_range(START, periods=3000)
    assert (market.daily["date"].unique() == dates).all()
    assert (market.daily["close"] == market.daily["adj_close"]).all()
    assert (market.daily["volume"] > 0).all()
    assert market.benchmark == BENCHMARK and market.risk_free_frequency == "daily"
    assert (market.risk_free == truth.rf).all() and (market.risk_free.index == dates).all()
    assert truth.betas.shape == (8, 3) and truth.idio_vol.shape == (8,)
    assert truth.factor_returns.shape == (3000, 3)
    assert set(truth.regimes.unique()) == {0, 1}


def test_prices_compound_the_first_return(draw):
    market, truth = draw
    bench = market.daily[market.daily["ticker"] == BENCHMARK]["adj_close"].to_numpy()
    expected = 100 * np.cumprod(1 + truth.rf + truth.factor_returns["f0"].to_numpy())
    assert bench == pytest.approx(expected, rel=1e-12)


def test_benchmark_return_is_rf_plus_factor_zero(draw):
    market, truth = draw
    bench = returns(market)[BENCHMARK]
    assert bench.to_numpy() == pytest.approx(
        truth.rf + truth.factor_returns["f0"].iloc[1:].to_numpy(), abs=1e-12
    )


def test_regime_chain_follows_the_transition_matrix(draw):
    _, truth = draw
    today, tomorrow = truth.regimes.to_numpy()[:-1], truth.regimes.to_numpy()[1:]
    for state in (0, 1):
        stay = (tomorrow[today == state] == state).mean()
        n = (today == state).sum()
        p = truth.transition[state, state]
        assert abs(stay - p) < 4 * np.sqrt(p * (1 - p) / n)
    f0 = truth.factor_returns["f0"].to_numpy()
    ratio = f0[truth.regimes == 1].std() / f0[truth.regimes == 0].std()
    assert ratio == pytest.approx(truth.regime_vols[1, 0] / truth.regime_vols[0, 0], rel=0.1)


def test_ols_on_the_factors_recovers_betas_and_zero_alpha(draw):
    market, truth = draw
    excess = returns(market).drop(columns=BENCHMARK).to_numpy() - truth.rf
    x = np.column_stack([np.ones(len(excess)), truth.factor_returns.iloc[1:].to_numpy()])
    coef, *_ = np.linalg.lstsq(x, excess, rcond=None)
    residuals = excess - x @ coef
    sigma2 = (residuals**2).sum(axis=0) / (len(x) - x.shape[1])
    se = np.sqrt(np.outer(np.diag(np.linalg.inv(x.T @ x)), sigma2))
    truth_coef = np.vstack([np.zeros(truth.betas.shape[0]), truth.betas.T])
    assert (np.abs(coef - truth_coef) < 4 * se).all()
    assert np.sqrt(sigma2) == pytest.approx(truth.idio_vol, rel=0.05)


def test_beta_to_the_benchmark_is_the_first_loading(draw):
    market, truth = draw
    wide = returns(market) - truth.rf
    x = sm.add_constant(wide[BENCHMARK].to_numpy())
    for i, ticker in enumerate(wide.columns.drop(BENCHMARK)):
        fit = sm.OLS(wide[ticker].to_numpy(), x).fit(cov_type="HC0")
        assert abs(fit.params[1] - truth.betas[i, 0]) < 4 * fit.bse[1]


def test_source_loads_the_generated_market():
    config = SyntheticData(seed=5, n_assets=3, n_days=20, start=START)
    expected, _ = generate(seed=5, n_assets=3, n_days=20, start=START)
    pd.testing.assert_frame_equal(SyntheticSource(config).load().daily, expected.daily)
