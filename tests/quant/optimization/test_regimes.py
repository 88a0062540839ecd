"""Regime-aware factor moments: mixture algebra, forecasts, warm starts, no look-ahead."""

import numpy as np
import pandas as pd
import pytest
from optimization_data import monthly_panel

from portflow.errors import DataError
from portflow.quant.optimization.factor_moments import unpack_moments
from portflow.quant.optimization.regimes import (
    RegimeFactorModel,
    forecast_state_probabilities,
    mixture_moments,
    regime_factor_moments,
)

SETTINGS = {"n_regimes": 2, "horizon": 1, "window": None, "n_iter": 8, "tol": 1e-2, "seed": 0}


def two_regime_factors(seed: int = 0, n_months: int = 90) -> pd.DataFrame:
    """Calm months and a crisis stretch with a negative, more volatile market."""
    rng = np.random.default_rng(seed)
    crisis = np.zeros(n_months, bool)
    crisis[40:55] = True
    mean = np.where(crisis[:, None], [-0.03, 0.0], [0.01, 0.002])
    vol = np.where(crisis[:, None], [0.09, 0.04], [0.035, 0.02])
    values = mean + vol * rng.standard_normal((n_months, 2))
    months = pd.date_range("2000-01-31", periods=n_months, freq="ME", name="date")
    return pd.DataFrame(values, index=months, columns=["MKT", "SMB"])


def test_mixture_moments_hand_worked():
    # 1-D: states (mu, var) = (1, 4) and (-2, 1) with weights 0.25 / 0.75.
    mean, cov = mixture_moments(
        np.array([0.25, 0.75]), np.array([[1.0], [-2.0]]), np.array([[[4.0]], [[1.0]]])
    )
    assert mean[0] == pytest.approx(0.25 - 1.5)
    assert cov[0, 0] == pytest.approx(0.25 * (4 + 1) + 0.75 * (1 + 4) - 1.25**2)
    # 2-D against a direct expectation of x x' under the mixture
    g = np.array([0.6, 0.4])
    means = np.array([[0.01, 0.0], [-0.02, 0.01]])
    covs = np.array([[[0.002, 0.0005], [0.0005, 0.001]], [[0.008, -0.001], [-0.001, 0.002]]])
    mean, cov = mixture_moments(g, means, covs)
    second = sum(g[s] * (covs[s] + np.outer(means[s], means[s])) for s in range(2))
    np.testing.assert_allclose(cov, second - np.outer(mean, mean), rtol=1e-12)


def test_forecast_probabilities_are_powers_of_the_transition_matrix():
    b = np.array([[0.9, 0.1], [0.3, 0.7]])
    g = np.array([0.2, 0.8])
    assert forecast_state_probabilities(b, g, 0) == pytest.approx(g)
    two = g @ b @ b  # (B^2)' g as a row vector
    assert forecast_state_probabilities(b, g, 2) == pytest.approx(two)
    stationary = np.array([0.75, 0.25])
    assert forecast_state_probabilities(b, g, 200) == pytest.approx(stationary)


def test_one_regime_gives_the_sample_mean_and_ml_covariance():
    factors = two_regime_factors().to_numpy()
    model = RegimeFactorModel(n_regimes=1, horizon=1, n_iter=5, seed=0).fit(factors)
    np.testing.assert_allclose(model.mean_, factors.mean(axis=0), rtol=1e-9)
    # hmmlearn's M-step adds a weak prior (covars_prior=0.01 in percent^2, over n months):
    # relative differences of order 1e-4 from the maximum-likelihood covariance.
    np.testing.assert_allclose(model.covariance_, np.cov(factors.T, ddof=0), rtol=1e-3)


def test_two_regimes_find_the_crisis_and_moments_are_the_forecast_mixture():
    factors = two_regime_factors()
    model = RegimeFactorModel(n_regimes=2, horizon=3, n_iter=50, seed=0).fit(factors.to_numpy())
    market_var = model.regime_covariances_[:, 0, 0]
    assert market_var.max() > 3 * market_var.min()
    crisis = int(np.argmax(market_var))
    assert model.regime_means_[crisis, 0] < model.regime_means_[1 - crisis, 0]
    g_h = forecast_state_probabilities(model.hmm_.transmat_, model.state_probabilities_, 3)
    mean, cov = mixture_moments(g_h, model.regime_means_, model.regime_covariances_)
    np.testing.assert_allclose(model.mean_, mean)
    np.testing.assert_allclose(model.covariance_, cov)


def test_warm_start_starts_from_the_previous_fit():
    factors = two_regime_factors().to_numpy()
    warm = RegimeFactorModel(n_iter=200, tol=1e-6, seed=0).fit(factors[:-1])
    cold_iterations = warm.n_iter_
    previous = warm.hmm_.means_.copy()
    warm.fit(factors)  # one more month, started from the last fit
    cold = RegimeFactorModel(n_iter=200, tol=1e-6, seed=0, warm_start=False).fit(factors)
    assert warm.n_iter_ < cold_iterations and warm.n_iter_ < cold.n_iter_
    assert np.abs(warm.hmm_.means_ - previous).max() < 0.5  # percent: close to the last fit


def test_regime_moments_at_t_ignore_data_after_t():
    factors = two_regime_factors(n_months=72)
    t = factors.index[60]
    before = regime_factor_moments(factors, min_observations=56, **SETTINGS)
    changed = factors.copy()
    changed.loc[changed.index > t] = changed.loc[changed.index > t] * 5 - 0.2
    after = regime_factor_moments(changed, min_observations=56, **SETTINGS)
    pd.testing.assert_frame_equal(before.loc[:t], after.loc[:t])
    assert not before.loc[factors.index[-1]].equals(after.loc[factors.index[-1]])


def test_regime_stage_output_schema_and_determinism():
    factors = monthly_panel(n_months=40).factor_data
    settings = SETTINGS | {"window": 30}
    first = regime_factor_moments(factors, min_observations=30, **settings)
    assert first.index.equals(factors.index[29:])
    assert (first["status"] == "ok").all() and (first["n_obs"] == 30).all()
    probabilities = first[["regime_prob|0", "regime_prob|1"]]
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0)
    mean, cov = unpack_moments(first.iloc[-1], ["MKT", "SMB"])
    assert np.all(np.linalg.eigvalsh(cov) > 0) and mean.shape == (2,)
    pd.testing.assert_frame_equal(
        first, regime_factor_moments(factors, min_observations=30, **settings)
    )
    with pytest.raises(DataError, match=r"\[regime_factor_moments\] optimization.regimes.min"):
        regime_factor_moments(factors, min_observations=41, **settings)


@pytest.mark.filterwarnings("ignore:Number of distinct clusters")
def test_a_failed_fit_is_a_status_row_not_an_error():
    """Three regimes on 29 flat months and one spike: EM leaves a state without transitions."""
    months = pd.date_range("2000-01-31", periods=32, freq="ME", name="date")
    factors = pd.DataFrame(0.0, index=months, columns=["MKT", "SMB"])
    factors.iloc[29] = 0.5
    settings = SETTINGS | {"n_regimes": 3, "n_iter": 5}
    moments = regime_factor_moments(factors, min_observations=30, **settings)
    first = moments.iloc[0]
    assert first["status"] == "hmm_failed" and np.isnan(first["mean|MKT"])
    assert first["em_iterations"] == 0 and not first["converged"]
