"""Sector rotation: cap-proportional stocks inside industries, exact mapping of the risk."""

import numpy as np
import pandas as pd
import pytest

from portflow.quant.optimization.active_portfolio import ActivePortfolioProblem
from portflow.quant.optimization.active_problem import ProblemInputs
from portflow.quant.optimization.active_risk import active_risk
from portflow.quant.optimization.sector_rotation import (
    industry_inputs,
    industry_membership,
    sector_weights,
)
from portflow.quant.optimization.stock_industries import industry_groups

TICKERS = ["A", "B", "C", "D", "E", "F", "G"]
SECTORS = {"A": "BusEq", "B": "BusEq", "C": "Money", "D": "Money", "E": "Money", "F": "Hlth"}
INDUSTRY = pd.Series(pd.Categorical(list(SECTORS.values()), industry_groups("ff12")), list(SECTORS))
"""One date's ``stock_industries`` rows by ticker (G, not tradable, has none)."""
CAPS = np.array([300.0, 100.0, 50.0, 25.0, 25.0, 200.0, 0.0])


def stock_inputs(n: int = len(TICKERS)) -> ProblemInputs:
    """Stocks ``TICKERS[:n]`` with cap weights; G (cap 0) is not tradable."""
    rng = np.random.default_rng(0)
    k = 2
    caps = CAPS[:n]
    tradable = caps > 0
    benchmark = caps / caps.sum()
    root = rng.normal(0, 0.02, (k, k))
    return ProblemInputs(
        expected=np.where(tradable, rng.normal(0.006, 0.005, n), 0.0),
        loadings=np.where(tradable[:, None], rng.normal(1.0, 0.4, (n, k)), 0.0),
        specific_variance=np.where(tradable, rng.uniform(0.04, 0.08, n) ** 2, 0.0),
        factor_covariance=root @ root.T + 0.02**2 * np.eye(k),
        benchmark=benchmark,
        upper=tradable.astype(float),
    )


def test_membership_keeps_the_industries_of_the_universe_in_french_order():
    industries, membership = industry_membership(TICKERS, INDUSTRY)
    assert industries == ["BusEq", "Hlth", "Money"]
    assert membership.sum(axis=1).tolist() == [1, 1, 1, 1, 1, 1, 0]  # G is unmapped
    np.testing.assert_array_equal(membership.argmax(axis=1)[:6], [0, 0, 2, 2, 2, 1])
    moved = INDUSTRY.copy()
    moved["F"] = "Unassigned"  # F loses its code at another date: its own group, last
    industries, membership = industry_membership(TICKERS, moved)
    assert industries == ["BusEq", "Money", "Unassigned"]
    assert membership[5].tolist() == [0, 0, 1]


@pytest.mark.parametrize(("kind", "value"), [("gamma", 2.0), ("gamma", 20.0), ("tev", 0.03)])
def test_sector_rotation_holds_stocks_cap_weighted_inside_each_industry(kind, value):
    stocks = stock_inputs(6)
    industries, membership = industry_membership(TICKERS[:6], INDUSTRY)
    sector_data, portfolios = industry_inputs(stocks, membership)
    np.testing.assert_allclose(sector_data.benchmark, np.array([400, 200, 100]) / 700)
    np.testing.assert_allclose(portfolios @ sector_data.benchmark, stocks.benchmark)
    problem = ActivePortfolioProblem(kind, len(industries), 2)
    problem.set_date(sector_data)
    solution = problem.solve(value)
    assert solution.status == "optimal"
    weights = portfolios @ solution.weights
    assert weights.sum() == pytest.approx(1.0, abs=1e-9)
    assert weights.min() >= -1e-9
    caps = CAPS[:6]
    for industry in industries:
        inside = np.array([SECTORS[t] == industry for t in TICKERS[:6]])
        share = weights[inside] / weights[inside].sum()
        np.testing.assert_allclose(share, caps[inside] / caps[inside].sum(), rtol=1e-9)
    np.testing.assert_allclose(sector_weights(membership, weights), solution.weights, atol=1e-12)


def test_industry_problem_data_reproduce_stock_level_return_and_risk():
    stocks = stock_inputs()
    _, membership = industry_membership(TICKERS, INDUSTRY)
    sector_data, portfolios = industry_inputs(stocks, membership)
    s = np.array([0.5, 0.1, 0.4])
    d_sector = s - sector_data.benchmark
    d_stock = portfolios @ s - stocks.benchmark
    assert sector_data.expected @ d_sector == pytest.approx(stocks.expected @ d_stock)
    at_sectors = active_risk(
        d_sector,
        sector_data.loadings,
        sector_data.specific_variance,
        sector_data.factor_covariance,
    )
    at_stocks = active_risk(
        d_stock, stocks.loadings, stocks.specific_variance, stocks.factor_covariance
    )
    assert at_sectors.variance == pytest.approx(at_stocks.variance, rel=1e-12)
    assert at_sectors.specific == pytest.approx(at_stocks.specific, rel=1e-12)
