"""Realized returns (t -> t+1), turnover, diversification and the reports, hand-worked."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from portflow.quant import metrics
from portflow.quant.optimization.active_returns import diversification, optimized_returns
from portflow.quant.optimization.report import crisis_report, optimization_report

MONTHS = pd.to_datetime(["2020-01-31", "2020-02-29", "2020-03-31", "2020-04-30"])


@pytest.fixture
def weights() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "date": MONTHS,
            "moments": "sample",
            "problem": "gamma",
            "strategy": "gamma=1",
            "value": 1.0,
            "status": ["optimal", "optimal", "infeasible", "solver_error"],
            "ex_ante_te": [0.03, 0.05, np.nan, np.nan],
            "w|A": [0.6, 0.5, np.nan, np.nan],
            "w|B": [0.4, 0.5, np.nan, np.nan],
        }
    )


@pytest.fixture
def bench() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "date": np.repeat(MONTHS, 2),
            "ticker": ["A", "B"] * 4,
            "weight": 0.5,
            "cap": np.nan,
            "scheme": "equal_weight",
        }
    )


@pytest.fixture
def returns(weights, bench) -> pd.DataFrame:
    monthly = pd.DataFrame(
        {"A": [0.10, 0.10, -0.05, 0.0], "B": [0.0, -0.10, 0.20, 0.10], "IDX": 0.0},
        index=MONTHS.rename("date"),
    )
    rf = pd.DataFrame({"rf": [0.001, 0.002, 0.001, 0.0]}, index=MONTHS.rename("date"))
    return optimized_returns(weights, bench, monthly, rf, holding_threshold=1e-6)


def test_weights_decided_at_t_earn_t_plus_1(returns):
    strategy = returns[returns["strategy"] == "gamma=1"].set_index("decided")
    assert strategy.index.tolist() == list(MONTHS[:3])  # April has no May: no return
    assert strategy["date"].tolist() == list(MONTHS[1:])
    np.testing.assert_allclose(strategy["portfolio_return"].iloc[:2], [0.02, 0.075])
    np.testing.assert_allclose(strategy["benchmark_return"], [0.0, 0.075, 0.05])
    np.testing.assert_allclose(strategy["active_return"].iloc[:2], [0.02, 0.0], atol=1e-15)
    assert np.isnan(strategy.loc[MONTHS[2], "portfolio_return"])  # failed solve: no portfolio
    assert strategy.loc[MONTHS[2], "status"] == "infeasible"
    np.testing.assert_allclose(strategy["rf"], [0.002, 0.001, 0.0])
    assert (returns["benchmark_scheme"] == "equal_weight").all()


def test_turnover_against_drifted_weights(returns):
    strategy = returns[returns["strategy"] == "gamma=1"].set_index("decided")
    drifted = np.array([0.6 * 1.1, 0.4 * 0.9]) / 1.02  # January's weights after February
    assert np.isnan(strategy.loc[MONTHS[0], "turnover"])
    assert strategy.loc[MONTHS[1], "turnover"] == pytest.approx(0.5 * np.abs(0.5 - drifted).sum())
    assert np.isnan(strategy.loc[MONTHS[2], "turnover"])
    bench = returns[returns["strategy"] == "benchmark"].set_index("decided")
    assert bench.loc[MONTHS[1], "turnover"] == pytest.approx(0.05)  # (0.55, 0.45) -> halves


def test_diversification_measures():
    held, effective, entropy = diversification(np.array([[0.6, 0.4, 0.0]]), 1e-6)[0]
    assert held == 2 and effective == pytest.approx(1 / 0.52)
    assert entropy == pytest.approx(np.exp(-(0.6 * np.log(0.6) + 0.4 * np.log(0.4))))
    assert diversification(np.full((1, 3), 1 / 3), 1e-6)[0] == pytest.approx([3, 3, 3])
    assert np.isnan(diversification(np.full((1, 3), np.nan), 1e-6)).all()


def test_report_counts_failures_and_computes_ir_and_te(returns, weights, bench):
    report = optimization_report(returns, weights, bench).set_index("strategy")
    row = report.loc["gamma=1"]
    # the last decision (April) earns nothing but its failure is counted
    assert row["decisions"] == 4 and row["failures"] == 2 and row["n_periods"] == 2
    assert row["failure_statuses"] == "infeasible: 1; solver_error: 1"
    te = np.std([0.02, 0.0], ddof=1) * np.sqrt(12)
    assert row["realized_te"] == pytest.approx(te)
    assert row["information_ratio"] == pytest.approx(0.01 * 12 / te)
    assert row["ex_ante_te"] == pytest.approx(0.04) and row["te_ratio"] == pytest.approx(te / 0.04)
    realized = pd.Series([0.02, 0.075], index=MONTHS[1:3])
    sharpe = metrics.sharpe_ratio(realized, pd.Series([0.002, 0.001], index=MONTHS[1:3]), 12)
    assert row["sharpe"] == pytest.approx(sharpe)
    assert row["names_held"] == 2 and row["benchmark_scheme"] == "equal_weight"
    assert row["turnover_two_way"] == pytest.approx(2 * row["turnover"])
    benchmark = report.loc["benchmark"]
    assert benchmark["failures"] == 0 and benchmark["n_periods"] == 3
    assert benchmark["realized_te"] == 0


def test_the_benchmark_decides_on_every_decision_date_like_the_strategies(returns, weights, bench):
    """Four decisions, three realized months, for the strategies and the benchmark alike;
    a decision date without benchmark weights is the benchmark's failure."""
    report = optimization_report(returns, weights, bench).set_index("strategy")
    assert report.loc["benchmark", "decisions"] == report.loc["gamma=1", "decisions"] == 4
    without_april = bench[bench["date"] != MONTHS[3]]
    report = optimization_report(returns, weights, without_april).set_index("strategy")
    assert report.loc["benchmark", "decisions"] == 4
    assert report.loc["benchmark", "failures"] == 1
    assert report.loc["benchmark", "failure_statuses"] == "no_benchmark: 1"


def test_crisis_windows_with_coverage(returns):
    windows = {
        "february": (dt.date(2020, 2, 1), dt.date(2020, 2, 29)),
        "first_quarter": (dt.date(2020, 1, 1), dt.date(2020, 3, 31)),
        "later": (dt.date(2022, 1, 1), dt.date(2022, 10, 31)),
    }
    report = crisis_report(returns, crisis_windows=windows)
    rows = report[report["strategy"] == "gamma=1"].set_index("window")
    assert rows.index.tolist() == ["full_sample", "february", "first_quarter", "later"]
    assert rows.loc["full_sample", "coverage"] == "covered"
    assert rows.loc["full_sample", "start"] == MONTHS[1] and rows.loc["full_sample", "months"] == 2
    feb = rows.loc["february"]
    assert feb["coverage"] == "covered" and feb["months"] == 1
    assert feb["total_return"] == pytest.approx(0.02) and feb["active_return"] == pytest.approx(
        0.02
    )
    assert np.isnan(feb["tracking_error"])
    quarter = rows.loc["first_quarter"]
    assert quarter["coverage"] == "partial"  # no return is earned in January
    assert quarter["total_return"] == pytest.approx(1.02 * 1.075 - 1)
    assert quarter["benchmark_return"] == pytest.approx(1.075 - 1)
    assert quarter["max_drawdown"] == 0.0
    later = rows.loc["later"]
    assert later["coverage"] == "not covered" and later["months"] == 0
    assert np.isnan(later["total_return"])
