"""vol_evaluation against direct statsmodels fits and closed forms, per period."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from portflow.errors import DataError
from portflow.quant.vol_managed.evaluation import (
    alpha_regression,
    vol_evaluation,
)
from portflow.quant.vol_managed.signals import vol_signals
from portflow.quant.vol_managed.strategy_returns import vol_strategy_returns

TICKERS = ("M", "A", "B", "C")
WINDOW = dict(train_start=dt.date(2010, 1, 1), train_end=dt.date(2014, 12, 31))


def strategy_returns(
    seed: int = 0, months: int = 121, constant_variance: bool = False, window: dict = WINDOW
):
    """Strategy returns and signals from random monthly data, month-ends 2009-12..2019-12."""
    rng = np.random.default_rng(seed)
    index = pd.date_range("2009-12-31", periods=months, freq="ME", name="date")
    variance = pd.DataFrame(
        np.exp(rng.normal(np.log(1e-4), 0.6, (months, 4))), index=index, columns=TICKERS
    )
    if constant_variance:
        variance[:] = 1.3e-4
    # Returns whose volatility follows last month's variance, as the strategy presumes.
    vol = np.sqrt(21 * variance.shift(1).bfill().to_numpy())
    returns = pd.DataFrame(
        0.006 + vol * rng.standard_normal((months, 4)), index=index, columns=TICKERS
    )
    rf = pd.DataFrame({"rf": rng.uniform(0.0, 0.003, months)}, index=index)
    signals = vol_signals(variance, market="M", **window)
    return vol_strategy_returns(returns, rf, signals, market="M"), signals


def evaluate(table_and_signals, **settings) -> pd.DataFrame:
    table, signals = table_and_signals
    return vol_evaluation(table, signals, market="M", **settings)


def pair(table, strategy, unmanaged, period):
    rows = table[table["period"] == period]
    y = rows[rows["strategy"] == strategy].set_index("month")
    x = rows[rows["strategy"] == unmanaged].set_index("month")
    return y, x


@pytest.fixture(scope="module")
def table_and_signals():
    return strategy_returns()


@pytest.fixture(scope="module")
def table(table_and_signals):
    return table_and_signals[0]


@pytest.fixture(scope="module")
def evaluation(table_and_signals):
    return evaluate(table_and_signals).set_index(["strategy", "period"])


@pytest.mark.parametrize("period", ["train", "test"])
@pytest.mark.parametrize(
    ("strategy", "unmanaged"),
    [("market_managed", "market"), ("basket_common", "basket"), ("basket_per_asset", "basket")],
)
def test_regression_equals_a_direct_statsmodels_fit(table, evaluation, strategy, unmanaged, period):
    y, x = pair(table, strategy, unmanaged, period)
    fit = sm.OLS(y["excess_return"], sm.add_constant(x["excess_return"])).fit(cov_type="HC3")
    row = evaluation.loc[(strategy, period)]
    assert row["unmanaged"] == unmanaged and row["cov_type"] == "HC3"
    assert row["n_months"] == len(y) == fit.nobs
    assert (row["start"], row["end"]) == (y.index.min(), y.index.max())
    assert row["alpha_annual"] == pytest.approx(12 * fit.params["const"], rel=1e-10)
    assert row["alpha_se_annual"] == pytest.approx(12 * fit.bse["const"], rel=1e-10)
    assert row["alpha_tstat"] == pytest.approx(fit.tvalues["const"], rel=1e-10)
    assert row["beta"] == pytest.approx(fit.params["excess_return"], rel=1e-10)
    assert row["beta_se"] == pytest.approx(fit.bse["excess_return"], rel=1e-10)
    assert row["r_squared"] == pytest.approx(fit.rsquared, rel=1e-10)


def test_robust_errors_differ_from_classical_and_follow_cov_type(table, table_and_signals):
    y, x = pair(table, "market_managed", "market", "test")
    hc1 = evaluate(table_and_signals, cov_type="HC1").set_index(["strategy", "period"])
    direct = sm.OLS(y["excess_return"], sm.add_constant(x["excess_return"])).fit(cov_type="HC1")
    row = hc1.loc[("market_managed", "test")]
    assert row["alpha_tstat"] == pytest.approx(direct.tvalues["const"], rel=1e-10)
    classical = sm.OLS(y["excess_return"], sm.add_constant(x["excess_return"])).fit()
    assert row["alpha_se_annual"] != pytest.approx(12 * classical.bse["const"], rel=1e-3)


def test_a_series_regressed_on_itself_has_alpha_0_and_beta_1():
    series = pd.Series(np.random.default_rng(3).normal(0.01, 0.04, 60))
    fit = alpha_regression(series, series)
    assert fit.params[0] == pytest.approx(0.0, abs=1e-15)
    assert fit.params[1] == pytest.approx(1.0, abs=1e-13)
    assert fit.rsquared == pytest.approx(1.0, abs=1e-13)


def test_constant_variance_gives_the_unmanaged_strategy_back():
    """With a constant variance every exposure is k/variance = 1: managed == unmanaged."""
    evaluation = evaluate(strategy_returns(constant_variance=True))
    assert evaluation["alpha_annual"].abs().max() < 1e-14
    np.testing.assert_allclose(evaluation["beta"], 1.0, atol=1e-12)
    np.testing.assert_allclose(evaluation["r_squared"], 1.0, atol=1e-12)
    np.testing.assert_allclose(evaluation["sharpe_managed"], evaluation["sharpe_unmanaged"])
    np.testing.assert_allclose(evaluation["turnover"], 0.0, atol=1e-12)


def test_sharpe_and_appraisal_ratios_closed_form(table, evaluation):
    y, x = pair(table, "basket_per_asset", "basket", "train")
    row = evaluation.loc[("basket_per_asset", "train")]
    for name, frame in (("sharpe_managed", y), ("sharpe_unmanaged", x)):
        excess = frame["total_return"] - frame["rf"]
        assert row[name] == pytest.approx(np.sqrt(12) * excess.mean() / excess.std(ddof=1))
    design = np.column_stack([np.ones(len(x)), x["excess_return"]])
    coef, ssr, *_ = np.linalg.lstsq(design, y["excess_return"].to_numpy(), rcond=None)
    residual_std = np.sqrt(ssr[0] / (len(y) - 2))
    assert row["appraisal_ratio"] == pytest.approx(np.sqrt(12) * coef[0] / residual_std)


def test_rescaled_series_has_the_unmanaged_volatility_and_scaled_alpha(table, evaluation):
    y, x = pair(table, "market_managed", "market", "test")
    row = evaluation.loc[("market_managed", "test")]
    scaled = row["vol_scale"] * y["excess_return"]
    assert scaled.std(ddof=1) == pytest.approx(x["excess_return"].std(ddof=1))
    assert row["vol_unmanaged"] == pytest.approx(np.sqrt(12) * x["excess_return"].std(ddof=1))
    fit = sm.OLS(scaled, sm.add_constant(x["excess_return"])).fit(cov_type="HC3")
    assert row["alpha_scaled_annual"] == pytest.approx(12 * fit.params["const"], rel=1e-10)
    assert row["alpha_tstat"] == pytest.approx(fit.tvalues["const"], rel=1e-10)  # scale-free


@pytest.mark.parametrize("strategy", ["market_managed", "basket_per_asset"])
def test_alpha_after_costs_and_break_even(table, evaluation, strategy):
    y, x = pair(table, strategy, "market" if strategy == "market_managed" else "basket", "test")
    row = evaluation.loc[(strategy, "test")]
    X = sm.add_constant(x["excess_return"])
    for bp in (1, 10, 14):
        net = y["excess_return"] - bp * 1e-4 * y["turnover"]
        direct = sm.OLS(net, X).fit().params["const"]
        assert row[f"alpha_net_{bp}bp"] == pytest.approx(12 * direct, rel=1e-10)
    assert row["turnover"] == pytest.approx(y["turnover"].mean())
    assert row["mean_exposure"] == pytest.approx(y["exposure"].mean())
    # At the break-even cost the alpha after costs is zero.
    at_break_even = y["excess_return"] - row["break_even_bp"] * 1e-4 * y["turnover"]
    assert sm.OLS(at_break_even, X).fit().params["const"] == pytest.approx(0.0, abs=1e-15)
    assert row["alpha_net_1bp"] > row["alpha_net_10bp"] > row["alpha_net_14bp"]


def test_train_and_test_are_separate_rows_over_their_own_months(table, evaluation):
    assert list(evaluation.index) == [
        (s, p)
        for s in ("market_managed", "basket_common", "basket_per_asset")
        for p in ("train", "test")
    ]
    train, test = (
        evaluation.loc["market_managed"].loc["train"],
        evaluation.loc["market_managed"].loc["test"],
    )
    assert train["end"] == pd.Timestamp("2014-12-31") and test["start"] == pd.Timestamp(
        "2015-01-31"
    )
    assert train["n_months"] == 60 and test["n_months"] == 60
    # The training window's mean exposure is 1 by construction of k.
    assert train["mean_exposure"] == pytest.approx(1.0)


def test_a_period_with_too_few_months_is_an_error(table_and_signals):
    table, signals = table_and_signals
    short = (table[table["month"] <= "2015-06-30"], signals)  # 6 test months
    with pytest.raises(DataError) as caught:
        evaluate(short, min_months=12)
    message = str(caught.value)
    assert message.startswith("[vol_evaluation] vol_managed.train_end/test_end: the test period")
    assert "holds 6 months" in message and "min_months=12" in message
    assert len(evaluate(short, min_months=6)) == 6


def test_full_sample_is_one_period_with_k_over_every_month():
    table, signals = strategy_returns(window=dict(train_start=dt.date(2010, 1, 1), train_end=None))
    assert set(table["period"]) == set(signals["period"]) == {"full"}
    np.testing.assert_allclose(signals.groupby("asset")["exposure"].mean(), 1.0, rtol=1e-12)
    evaluation = evaluate((table, signals)).set_index(["strategy", "period"])
    assert list(evaluation.index) == [
        ("market_managed", "full"),
        ("basket_common", "full"),
        ("basket_per_asset", "full"),
    ]
    y, x = pair(table, "market_managed", "market", "full")
    assert evaluation.loc[("market_managed", "full"), "n_months"] == len(y) == 120
    fit = sm.OLS(y["excess_return"], sm.add_constant(x["excess_return"])).fit(cov_type="HC3")
    row = evaluation.loc[("market_managed", "full")]
    assert row["alpha_tstat"] == pytest.approx(fit.tvalues["const"], rel=1e-10)


@pytest.mark.parametrize("hac_lags", [3, "auto"])
def test_hac_errors_equal_a_direct_newey_west_fit(table, table_and_signals, hac_lags):
    """auto = Newey-West (1994): floor(4 (T/100)^(2/9)) = floor(4 x 0.6^(2/9)) = 3 for T = 60."""
    y, x = pair(table, "basket_per_asset", "basket", "test")
    lags = 3 if hac_lags == "auto" else hac_lags
    assert int(np.floor(4 * (len(y) / 100) ** (2 / 9))) == 3
    hac = evaluate(table_and_signals, cov_type="HAC", hac_lags=hac_lags)
    row = hac.set_index(["strategy", "period"]).loc[("basket_per_asset", "test")]
    model = sm.OLS(y["excess_return"], sm.add_constant(x["excess_return"]))
    fit = model.fit(cov_type="HAC", cov_kwds={"maxlags": lags})
    assert row["alpha_se_annual"] == pytest.approx(12 * fit.bse["const"], rel=1e-10)
    assert row["alpha_tstat"] == pytest.approx(fit.tvalues["const"], rel=1e-10)
    assert row["cov_type"] == "HAC(3)"


def test_volatility_matched_table_equals_a_fit_on_the_rescaled_series(table, evaluation):
    y, x = pair(table, "basket_common", "basket", "train")
    row = evaluation.loc[("basket_common", "train")]
    scale = x["excess_return"].std(ddof=1) / y["excess_return"].std(ddof=1)
    fit = sm.OLS(scale * y["excess_return"], sm.add_constant(x["excess_return"])).fit(
        cov_type="HC3"
    )
    assert row["alpha_scaled_annual"] == pytest.approx(12 * fit.params["const"], rel=1e-10)
    assert row["alpha_scaled_se_annual"] == pytest.approx(12 * fit.bse["const"], rel=1e-10)
    assert row["beta_scaled"] == pytest.approx(fit.params["excess_return"], rel=1e-10)
    assert row["rmse_scaled_annual"] == pytest.approx(12 * np.sqrt(fit.mse_resid), rel=1e-10)
    assert row["r_squared"] == pytest.approx(fit.rsquared, rel=1e-10)
    # The appraisal ratio is sqrt(12) alpha / RMSE in these units, whatever the scale.
    assert row["appraisal_ratio"] == pytest.approx(
        np.sqrt(12) * row["alpha_scaled_annual"] / row["rmse_scaled_annual"], rel=1e-10
    )


def test_turnover_one_way_is_half_of_two_way(table, evaluation):
    y, _ = pair(table, "basket_per_asset", "basket", "test")
    row = evaluation.loc[("basket_per_asset", "test")]
    assert row["turnover_two_way"] == pytest.approx(y["turnover_two_way"].mean())
    assert row["turnover_one_way"] == pytest.approx(row["turnover_two_way"] / 2)
    common = evaluation.loc[("market_managed", "test")]
    assert common["turnover_one_way"] == pytest.approx(common["turnover"])  # one signal


def test_exposure_above_the_warning_level_warns_and_is_noted(table_and_signals):
    table, signals = table_and_signals
    per_asset = signals[(signals["signal"] == "per_asset") & (signals["period"] == "test")]
    top = per_asset.loc[per_asset["exposure"].idxmax()]
    quiet = evaluate(table_and_signals, exposure_warning=top["exposure"] + 0.01)
    assert not quiet["note"].str.contains("exposure_warning").any()
    with pytest.warns(UserWarning, match=r"\[vol_evaluation\] basket_per_asset \(test\)"):
        loud = evaluate(table_and_signals, exposure_warning=top["exposure"] - 0.01)
    row = loud.set_index(["strategy", "period"]).loc[("basket_per_asset", "test")]
    assert row["max_exposure"] == pytest.approx(top["exposure"])
    assert f"({top['asset']}, {top['month']:%Y-%m})" in row["note"]
    assert "vol_managed.leverage_cap" in row["note"]
    assert row["note"].startswith("Market: M, its own monthly return")
