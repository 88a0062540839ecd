"""Active problems against closed forms and dense numpy, in both formulations: the direct
Clarabel one the sweep uses and the cvxpy one it is checked against."""

import numpy as np
import pytest

from portflow.quant.optimization.active_portfolio import ActivePortfolioProblem
from portflow.quant.optimization.active_problem import ProblemInputs
from portflow.quant.optimization.active_risk import active_risk, factor_root
from portflow.quant.optimization.direct_problem import DirectActiveProblem

N, K = 12, 3
FORMULATIONS = {
    "direct": lambda kind, n, k: DirectActiveProblem(kind),
    "cvxpy": ActivePortfolioProblem,
}


def inputs(seed: int = 0, n: int = N, upper: float = 1.0) -> ProblemInputs:
    rng = np.random.default_rng(seed)
    loadings = np.column_stack([rng.uniform(0.6, 1.4, n), rng.normal(0, 0.5, (n, K - 1))])
    root = rng.normal(0, 0.02, (K, K))
    caps = rng.lognormal(0, 0.7, n)
    return ProblemInputs(
        expected=rng.normal(0.006, 0.006, n),
        loadings=loadings,
        specific_variance=rng.uniform(0.04, 0.09, n) ** 2,
        factor_covariance=root @ root.T + 0.02**2 * np.eye(K),
        benchmark=caps / caps.sum(),
        upper=np.full(n, upper),
    )


def dense_covariance(data: ProblemInputs) -> np.ndarray:
    """The n x n covariance the factor form avoids: only built here, as an oracle."""
    b = data.loadings
    return b @ data.factor_covariance @ b.T + np.diag(data.specific_variance)


@pytest.fixture(params=list(FORMULATIONS))
def formulation(request):
    """Builds a problem: ``formulation(kind, n_assets, n_factors)``."""
    return FORMULATIONS[request.param]


def solved(problem, value: float) -> np.ndarray:
    solution = problem.solve(value)
    assert solution.status == "optimal", solution.status
    return solution.weights


@pytest.mark.parametrize("kind", ["gamma", "tev"])
def test_compiled_problems_are_dpp(kind):
    problem = ActivePortfolioProblem(kind, N, K)
    assert problem.problem.is_dcp(dpp=True)
    assert all(p.value is None for p in problem.problem.parameters())


def test_as_gamma_grows_the_solution_approaches_the_benchmark(formulation):
    data = inputs()
    problem = formulation("gamma", N, K)
    problem.set_date(data)
    gaps = [np.abs(solved(problem, g) - data.benchmark).sum() for g in (1, 10, 100, 1e3, 1e5)]
    assert all(a > b for a, b in zip(gaps, gaps[1:], strict=False))
    assert gaps[-1] < 1e-3
    # and at large gamma the active weights are the unconstrained first-order solution
    # d = V^-1 (m - lambda 1) / (2 gamma), lambda chosen so that sum(d) = 0
    v_inv = np.linalg.inv(dense_covariance(data))
    ones = np.ones(N)
    lam = (ones @ v_inv @ data.expected) / (ones @ v_inv @ ones)
    gamma = 1e4
    closed = v_inv @ (data.expected - lam) / (2 * gamma)
    np.testing.assert_allclose(solved(problem, gamma) - data.benchmark, closed, atol=1e-8)


def test_tev_budget_binds_when_the_unconstrained_optimum_breaches_it(formulation):
    data = inputs(seed=1)
    unconstrained = np.zeros(N)
    unconstrained[np.argmax(data.expected)] = 1.0  # max m'w on the simplex: one stock
    active = unconstrained - data.benchmark
    unconstrained_te = np.sqrt(12 * active @ dense_covariance(data) @ active)
    problem = formulation("tev", N, K)
    problem.set_date(data)
    for budget in (0.01, 0.03, 0.6 * unconstrained_te):
        assert budget < unconstrained_te
        weights = solved(problem, budget)
        d = weights - data.benchmark
        assert np.sqrt(12 * d @ dense_covariance(data) @ d) == pytest.approx(budget, rel=1e-6)
        assert weights.min() > -1e-8 and weights.sum() == pytest.approx(1.0, abs=1e-9)
    # a budget above the unconstrained optimum's TE does not bind: the LP corner is optimal
    np.testing.assert_allclose(solved(problem, 1.2 * unconstrained_te), unconstrained, atol=1e-6)


@pytest.mark.parametrize(("kind", "values"), [("gamma", (2.0, 7.0, 40.0)), ("tev", (0.02, 0.05))])
def test_resolving_a_compiled_problem_equals_building_it_fresh(kind, values):
    """The cvxpy oracle re-parameterized (DPP) solves what a newly compiled one does."""
    problem = ActivePortfolioProblem(kind, N, K)
    for seed in (2, 3, 4):  # new dates: every Parameter changes
        data = inputs(seed=seed, upper=0.4)
        problem.set_date(data)
        for value in values:
            fresh = ActivePortfolioProblem(kind, N, K)
            fresh.set_date(data)
            compiled, new = problem.solve(value), fresh.solve(value)
            assert compiled.status == new.status == "optimal"
            np.testing.assert_allclose(compiled.weights, new.weights, atol=1e-6, rtol=0)


def test_non_tradable_stocks_are_held_at_zero(formulation):
    data = inputs(seed=5)
    tradable = np.arange(N) % 3 != 0
    benchmark = np.where(tradable, data.benchmark, 0.0)
    data = ProblemInputs(
        np.where(tradable, data.expected, 0.0),
        np.where(tradable[:, None], data.loadings, 0.0),
        np.where(tradable, data.specific_variance, 0.0),
        data.factor_covariance,
        benchmark / benchmark.sum(),
        tradable.astype(float),
    )
    for kind, value in (("gamma", 3.0), ("tev", 0.04)):
        problem = formulation(kind, N, K)
        problem.set_date(data)
        weights = solved(problem, value)
        assert np.abs(weights[~tradable]).max() < 1e-8
        assert weights.sum() == pytest.approx(1.0, abs=1e-9)


def test_too_small_tev_budget_is_reported_infeasible(formulation):
    """One stock is 40% of the benchmark but may hold at most 20%: TE cannot be ~0."""
    data = inputs(seed=6, upper=0.2)
    benchmark = np.full(N, 0.6 / (N - 1))
    benchmark[0] = 0.4
    data = ProblemInputs(
        data.expected,
        data.loadings,
        data.specific_variance,
        data.factor_covariance,
        benchmark,
        data.upper,
    )
    problem = formulation("tev", N, K)
    problem.set_date(data)
    tiny = problem.solve(0.001)
    assert tiny.status == "infeasible" and tiny.weights is None and not tiny.solved
    assert problem.solve(0.10).status == "optimal"


def test_risk_decomposition_adds_up_and_matches_the_dense_form():
    data = inputs(seed=7)
    rng = np.random.default_rng(0)
    active = rng.normal(0, 0.05, N)
    active -= active.mean()
    risk = active_risk(active, data.loadings, data.specific_variance, data.factor_covariance)
    dense = active @ dense_covariance(data) @ active
    assert risk.variance == pytest.approx(dense, rel=1e-12)
    assert risk.factor + risk.specific == pytest.approx(risk.variance, rel=1e-14)
    assert risk.by_factor.sum() == pytest.approx(risk.factor, rel=1e-12)
    x = data.loadings.T @ active
    assert risk.factor == pytest.approx(x @ data.factor_covariance @ x, rel=1e-12)
    assert risk.tracking_error == pytest.approx(np.sqrt(12 * dense), rel=1e-12)


def test_factor_root_handles_a_singular_covariance():
    v = np.array([1.0, 2.0, -1.0])
    singular = np.outer(v, v) * 1e-3  # rank 1
    root = factor_root(singular)
    np.testing.assert_allclose(root.T @ root, singular, atol=1e-15)
    with pytest.raises(np.linalg.LinAlgError):
        np.linalg.cholesky(singular)
