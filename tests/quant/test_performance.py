"""Tear-sheet analytics against hand-worked numbers, statsmodels and quantstats.

quantstats (a pinned dev dependency, used only here) is an independent implementation of
the same statistics; where its conventions differ from portflow's (it does not count a
first-period loss as a drawdown, and names the last date under water where portflow names
the date of recovery) the comparison translates one into the other.
"""

import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from portflow.quant.performance import (
    calendar_returns,
    drawdown_periods,
    expected_shortfall,
    monthly_return_table,
    regression_on_benchmark,
    rolling_beta,
    rolling_sharpe,
    rolling_volatility,
    summary_statistics,
    value_at_risk,
    worst_drawdowns,
)

MONTHS = pd.date_range("2020-01-31", periods=6, freq="ME")
RETURNS = pd.Series([0.10, -0.20, 0.05, 0.10, 0.20, -0.05], index=MONTHS)
# wealth 1.1, 0.88, 0.924, 1.0164, 1.21968, 1.158696: under water Feb-Apr below the
# January high, back above it in May; under water again in June.


def test_drawdown_periods_hand_worked():
    episodes = drawdown_periods(RETURNS)
    assert len(episodes) == 2
    first, last = episodes.iloc[0], episodes.iloc[1]
    assert (first["peak"], first["start"], first["valley"], first["recovery"]) == (
        MONTHS[0],
        MONTHS[1],
        MONTHS[1],
        MONTHS[4],
    )
    assert first["depth"] == pytest.approx(-0.20)
    assert first["periods"] == 3 and first["recovered"]
    assert (last["peak"], last["start"], last["valley"]) == (MONTHS[4], MONTHS[5], MONTHS[5])
    assert pd.isna(last["recovery"]) and not last["recovered"]
    assert last["depth"] == pytest.approx(-0.05) and last["periods"] == 1


def test_a_first_period_loss_is_a_drawdown_from_the_initial_wealth():
    episodes = drawdown_periods(pd.Series([-0.10, 0.20], index=MONTHS[:2]))
    (episode,) = episodes.to_dict("records")
    assert pd.isna(episode["peak"]) and episode["start"] == MONTHS[0]
    assert episode["recovery"] == MONTHS[1] and episode["depth"] == pytest.approx(-0.10)


def test_no_drawdown_gives_an_empty_table():
    assert drawdown_periods(pd.Series([0.01, 0.02], index=MONTHS[:2])).empty
    assert worst_drawdowns(pd.Series([0.01, 0.02], index=MONTHS[:2])).empty


def test_worst_drawdowns_rank_by_depth():
    worst = worst_drawdowns(RETURNS, n=5)
    assert list(worst.index) == [1, 2]
    assert list(worst["depth"]) == pytest.approx([-0.20, -0.05])
    assert len(worst_drawdowns(RETURNS, n=1)) == 1


def test_calendar_returns_compound_inside_each_period():
    days = pd.to_datetime(["2021-01-28", "2021-01-29", "2021-02-01", "2022-03-01"])
    daily = pd.Series([0.01, 0.02, -0.03, 0.05], index=days)
    monthly = calendar_returns(daily, "month")
    assert list(monthly.index) == list(pd.to_datetime(["2021-01-31", "2021-02-28", "2022-03-31"]))
    assert monthly.to_numpy() == pytest.approx([1.01 * 1.02 - 1, -0.03, 0.05])
    yearly = calendar_returns(daily, "year")
    assert list(yearly.index) == list(pd.to_datetime(["2021-12-31", "2022-12-31"]))
    assert yearly.to_numpy() == pytest.approx([1.01 * 1.02 * 0.97 - 1, 0.05])


def test_monthly_return_table_is_a_year_by_month_grid():
    table = monthly_return_table(RETURNS)
    assert list(table.columns) == [*range(1, 13), "year"]
    assert list(table.index) == [2020]
    assert table.loc[2020, 2] == pytest.approx(-0.20)
    assert table.loc[2020, 7:12].isna().all()
    assert table.loc[2020, "year"] == pytest.approx(1.158696 - 1)


def test_rolling_statistics_hand_worked():
    r = pd.Series([0.01, 0.03, -0.02, 0.04], index=MONTHS[:4])
    vol = rolling_volatility(r, 3, 12)
    assert vol.iloc[:2].isna().all()
    assert vol.iloc[2] == pytest.approx(np.std([0.01, 0.03, -0.02], ddof=1) * np.sqrt(12))
    sharpe = rolling_sharpe(r, 0.005, 3, 12)
    window = np.array([0.03, -0.02, 0.04]) - 0.005
    assert sharpe.iloc[3] == pytest.approx(window.mean() / window.std(ddof=1) * np.sqrt(12))
    # A per-period risk-free series gives the same as the constant.
    rf = pd.Series(0.005, index=r.index)
    pd.testing.assert_series_equal(rolling_sharpe(r, rf, 3, 12), sharpe)
    benchmark = pd.Series([0.02, 0.01, -0.01, 0.03], index=MONTHS[:4])
    beta = rolling_beta(r, benchmark, 3)
    slope = np.polyfit([0.01, -0.01, 0.03], [0.03, -0.02, 0.04], 1)[0]
    assert beta.iloc[:2].isna().all() and beta.iloc[3] == pytest.approx(slope)


def test_value_at_risk_and_expected_shortfall_hand_worked():
    r = pd.Series([0.03, -0.05, 0.0, 0.01, -0.02])
    # sorted -0.05 -0.02 0 0.01 0.03; the 5% quantile sits 0.2 of the way from -0.05 to -0.02.
    assert value_at_risk(r) == pytest.approx(-0.05 + 0.2 * 0.03)
    assert expected_shortfall(r) == pytest.approx(-0.05)
    assert value_at_risk(r, 0.25) == pytest.approx(-0.02)
    assert expected_shortfall(r, 0.25) == pytest.approx(-0.035)


def _pair(n: int = 750, seed: int = 3) -> tuple[pd.Series, pd.Series]:
    rng = np.random.default_rng(seed)
    index = pd.bdate_range("2015-01-02", periods=n)
    benchmark = pd.Series(rng.normal(0.0004, 0.011, n), index=index, name="benchmark")
    returns = 0.7 * benchmark + rng.normal(0.0002, 0.008, n)
    returns.iloc[0] = abs(returns.iloc[0])  # quantstats starts drawdowns at the first high
    return returns.rename("strategy"), benchmark


def test_regression_on_benchmark_matches_statsmodels():
    returns, benchmark = _pair()
    rf = pd.Series(0.0001, index=returns.index)
    fit = sm.OLS((returns - rf).to_numpy(), sm.add_constant((benchmark - rf).to_numpy())).fit()
    alpha, beta = fit.params
    found = regression_on_benchmark(returns, benchmark, rf, 252)
    assert found["beta"] == pytest.approx(beta, rel=1e-10)
    assert found["alpha"] == pytest.approx(alpha * 252, rel=1e-8)
    assert found["correlation"] == pytest.approx(np.sqrt(fit.rsquared), rel=1e-10)


def test_summary_statistics_hand_worked():
    benchmark = pd.Series([0.05, -0.10, 0.02, 0.05, 0.10, 0.0], index=MONTHS)
    stats = summary_statistics(RETURNS, benchmark, 0.0, 12)
    assert stats["cumulative_return"] == pytest.approx(0.158696)
    assert stats["max_drawdown"] == pytest.approx(-0.20)
    assert stats["longest_drawdown"] == 3
    assert stats["best_month"] == pytest.approx(0.20) and stats["worst_year"] == pytest.approx(
        0.158696
    )
    assert stats["positive_periods"] == pytest.approx(4 / 6)
    active = (RETURNS - benchmark).to_numpy()
    te = active.std(ddof=1) * np.sqrt(12)
    assert stats["tracking_error"] == pytest.approx(te)
    assert stats["information_ratio"] == pytest.approx(active.mean() * 12 / te)
    own = summary_statistics(benchmark, benchmark, 0.0, 12)
    assert own["beta"] == pytest.approx(1.0) and own["tracking_error"] == 0
    assert np.isnan(own["information_ratio"])
    alone = summary_statistics(RETURNS, None, 0.0, 12)
    assert "beta" not in alone and alone["max_drawdown"] == stats["max_drawdown"]


@pytest.fixture(scope="module")
def qs():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import quantstats

    return quantstats


def test_drawdown_periods_match_quantstats(qs):
    returns, _ = _pair()
    details = qs.stats.drawdown_details(qs.stats.to_drawdown_series(returns))
    ours = drawdown_periods(returns)
    assert len(ours) == len(details)
    theirs = details.sort_values("start").reset_index(drop=True)
    assert list(ours["start"].dt.strftime("%Y-%m-%d")) == list(theirs["start"])
    assert list(ours["valley"].dt.strftime("%Y-%m-%d")) == list(theirs["valley"])
    np.testing.assert_allclose(100 * ours["depth"], theirs["max drawdown"], rtol=1e-9)
    # quantstats' "end" is the last date under water; portflow's recovery is the next date.
    dates = returns.index
    recovered = ours[ours["recovered"]]
    last_under = [dates[dates.get_loc(d) - 1].strftime("%Y-%m-%d") for d in recovered["recovery"]]
    assert last_under == list(theirs.loc[recovered.index, "end"])


def test_calendar_and_rolling_statistics_match_quantstats(qs):
    returns, _ = _pair()
    theirs = qs.stats.monthly_returns(returns, compounded=True)
    ours = monthly_return_table(returns).fillna(0.0)  # quantstats shows 0 for missing months
    np.testing.assert_allclose(ours[list(range(1, 13))].to_numpy(), theirs.iloc[:, :12], rtol=1e-9)
    np.testing.assert_allclose(ours["year"], theirs["EOY"], rtol=1e-9)
    pd.testing.assert_series_equal(
        rolling_sharpe(returns, 0.0, 126, 252),
        qs.stats.rolling_sharpe(returns, rf=0.0, rolling_period=126, periods_per_year=252),
        check_names=False,
        check_freq=False,
    )
    pd.testing.assert_series_equal(
        rolling_volatility(returns, 126, 252),
        qs.stats.rolling_volatility(returns, rolling_period=126, periods_per_year=252),
        check_names=False,
        check_freq=False,
    )


def test_summary_statistics_match_quantstats(qs):
    returns, benchmark = _pair()
    stats = summary_statistics(returns, benchmark, 0.0, 252)
    assert stats["ann_volatility"] == pytest.approx(qs.stats.volatility(returns, periods=252))
    assert stats["sharpe"] == pytest.approx(qs.stats.sharpe(returns, periods=252))
    assert stats["max_drawdown"] == pytest.approx(qs.stats.max_drawdown(returns))
    assert stats["skew"] == pytest.approx(qs.stats.skew(returns))
    assert stats["excess_kurtosis"] == pytest.approx(qs.stats.kurtosis(returns))
    assert stats["tail_ratio"] == pytest.approx(qs.stats.tail_ratio(returns))
    assert stats["best_period"] == pytest.approx(qs.stats.best(returns))
    assert stats["worst_month"] == pytest.approx(qs.stats.worst(returns, aggregate="ME"))
    assert stats["best_year"] == pytest.approx(qs.stats.best(returns, aggregate="YE"))
    assert stats["cumulative_return"] == pytest.approx(qs.stats.comp(returns))
