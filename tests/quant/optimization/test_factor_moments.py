"""Rolling factor loadings and factor moments: statsmodels oracle, ground truth, timing."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from optimization_data import RF, monthly_panel

from portflow.errors import DataError
from portflow.quant.optimization.factor_data import align_factor_data
from portflow.quant.optimization.factor_moments import (
    rolling_factor_loadings,
    sample_factor_moments,
    unpack_moments,
)
from portflow.sources.synthetic import generate

FACTORS = ["MKT", "SMB"]
COLUMNS = ["loading|const", "loading|MKT", "loading|SMB"]


def loadings(panel, **overrides):
    kwargs = {"window": 36, "min_observations": 24, "benchmark": "BENCH"} | overrides
    returns = panel.monthly_returns
    # Month-end data only: a stock is listed at a month-end when it has a return then.
    return rolling_factor_loadings(
        returns, panel.risk_free_monthly, panel.factor_data, returns, **kwargs
    )


def test_vectorized_lstsq_equals_statsmodels_per_stock_with_gaps():
    panel = monthly_panel(seed=1)
    returns = panel.monthly_returns.copy()
    returns.iloc[20:25, 0] = np.nan  # S0: a gap inside the window
    returns.iloc[:25, 1] = np.nan  # S1: lists late, 26 returns in the window
    returns.iloc[:35, 3] = np.nan  # S3: 16 returns in the window, too few
    panel = replace(panel, monthly_returns=returns)
    table = loadings(panel)
    date = panel.factor_data.index[50]
    rows = table[table["date"] == date].set_index("ticker")
    window = slice(date - pd.offsets.MonthEnd(35), date)
    x = sm.add_constant(panel.factor_data.loc[window])
    for ticker in ["S0", "S1", "S2"]:
        y = returns.loc[window, ticker] - RF
        fit = sm.OLS(y, x, missing="drop").fit()
        np.testing.assert_allclose(rows.loc[ticker, COLUMNS], fit.params, rtol=1e-10, atol=1e-14)
        assert rows.loc[ticker, "resid_var"] == pytest.approx(fit.mse_resid, rel=1e-10)
        assert rows.loc[ticker, "n_obs"] == fit.nobs
    assert rows.loc["S0", "n_obs"] == 31 and rows.loc["S1", "n_obs"] == 26
    assert not rows.loc["S3", "tradable"] and rows.loc["S3", "status"] == "too_few_observations"
    assert rows.loc["S3", "n_obs"] == 16 and np.isnan(rows.loc["S3", COLUMNS]).all()
    assert rows["tradable"].drop("S3").all()
    assert "BENCH" not in set(table["ticker"])


def test_rebalance_dates_start_at_min_observations():
    panel = monthly_panel()
    table = loadings(panel)
    dates = pd.DatetimeIndex(table["date"].unique())
    assert dates[0] == panel.factor_data.index[23] and dates[-1] == panel.factor_data.index[-1]
    moments = sample_factor_moments(panel.factor_data, window=36, min_observations=24)
    assert moments.index.equals(dates)


def test_not_listed_at_t_is_not_tradable():
    panel = monthly_panel()
    panel.monthly_returns.iloc[-1, 2] = np.nan
    rows = loadings(panel).query("date == @panel.factor_data.index[-1]").set_index("ticker")
    assert rows.loc["S2", "status"] == "not_listed" and np.isnan(rows.loc["S2", "resid_var"])


def test_loadings_recover_a_known_factor_model():
    """Synthetic daily data (the function is frequency-agnostic): within 4 standard errors."""
    market, truth = generate(seed=3, n_assets=8, n_days=900, start=pd.Timestamp("2010-01-04"))
    prices = market.daily.pivot(index="date", columns="ticker", values="adj_close")
    returns = prices.pct_change().iloc[1:]
    rf = pd.DataFrame({"rf": truth.rf}, index=returns.index)
    factors = truth.factor_returns.loc[returns.index]
    table = rolling_factor_loadings(
        returns, rf, factors, prices, window=800, min_observations=800, benchmark="BENCH"
    )
    last = table[table["date"] == returns.index[-1]].set_index("ticker")
    x = sm.add_constant(factors.iloc[-800:])
    for i, ticker in enumerate(last.index):
        fit = sm.OLS(returns[ticker].iloc[-800:] - truth.rf, x).fit()
        estimate = last.loc[ticker, ["loading|f0", "loading|f1", "loading|f2"]].to_numpy(float)
        z = (estimate - truth.betas[i]) / fit.bse.iloc[1:].to_numpy()
        assert np.abs(z).max() < 4.0
        # residual variance: relative sampling error sqrt(2/T) = 5%
        assert last.loc[ticker, "resid_var"] == pytest.approx(truth.idio_vol[i] ** 2, rel=0.2)


def test_loadings_at_t_ignore_data_after_t():
    panel = monthly_panel(seed=2)
    t = panel.factor_data.index[40]
    before = loadings(panel)
    changed = monthly_panel(seed=2)
    changed.monthly_returns.loc[changed.monthly_returns.index > t] *= -3.0
    changed.factor_data.loc[changed.factor_data.index > t] += 0.05
    after = loadings(changed)
    pd.testing.assert_frame_equal(before[before["date"] <= t], after[after["date"] <= t])
    moments = [
        sample_factor_moments(p.factor_data, window=36, min_observations=24).loc[:t]
        for p in (panel, changed)
    ]
    pd.testing.assert_frame_equal(*moments)


def test_sample_moments_match_numpy_and_flag_singular_windows():
    panel = monthly_panel()
    factors = panel.factor_data.copy()
    moments = sample_factor_moments(factors, window=36, min_observations=24)
    t = factors.index[45]
    mean, cov = unpack_moments(moments.loc[t], FACTORS)
    window = factors.loc[:t].iloc[-36:]
    np.testing.assert_allclose(mean, window.mean(), rtol=1e-12)
    np.testing.assert_allclose(cov, np.cov(window.T, ddof=1), rtol=1e-12)
    assert (moments["status"] == "ok").all()

    factors.iloc[:40, 1] = 0.01  # SMB constant over the first 40 months
    flagged = sample_factor_moments(factors, window=12, min_observations=12)
    singular = flagged.index[flagged["status"] == "singular_factor_covariance"]
    assert singular.equals(factors.index[11:40])
    table = rolling_factor_loadings(
        panel.monthly_returns,
        panel.risk_free_monthly,
        factors,
        panel.monthly_returns,
        window=12,
        min_observations=12,
        benchmark="BENCH",
    )
    at = table[table["date"] == factors.index[20]]
    assert (at["status"] == "rank_deficient_factors").all() and not at["tradable"].any()


def test_window_settings_are_checked():
    panel = monthly_panel()
    with pytest.raises(DataError, match=r"\[stock_loadings\] optimization.moments.min_obs"):
        loadings(panel, min_observations=3)
    with pytest.raises(DataError, match="no rebalance date"):
        loadings(panel, window=100, min_observations=80)


def test_factor_data_aligns_and_rejects_collinear_factors():
    panel = monthly_panel()
    source = panel.factor_data.assign(RF=RF, DUP=lambda f: 2 * f["MKT"])
    aligned = align_factor_data(
        source, panel.monthly_returns.iloc[5:], panel.risk_free_monthly, factors=("MKT", "SMB")
    )
    assert aligned.index.equals(panel.monthly_returns.index[5:])
    assert list(aligned.columns) == FACTORS
    with pytest.raises(DataError, match=r"\[factor_data\] optimization.factors.factors.*collin"):
        align_factor_data(
            source, panel.monthly_returns, panel.risk_free_monthly, factors=("MKT", "DUP")
        )
    with pytest.raises(DataError, match="HML not in the factor table"):
        align_factor_data(
            source, panel.monthly_returns, panel.risk_free_monthly, factors=("MKT", "HML")
        )
    later = panel.monthly_returns.set_axis(panel.monthly_returns.index + pd.DateOffset(years=50))
    with pytest.raises(DataError, match="share no month"):
        align_factor_data(source, later, panel.risk_free_monthly, factors=("MKT",))
