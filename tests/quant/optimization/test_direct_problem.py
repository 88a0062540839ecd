"""The direct Clarabel formulation against the cvxpy oracle and the exact optimum.

- gamma: weights within 1e-6 of today's cvxpy formulation (its tolerances 1e-10);
- TEV: within 1e-10 of the exact optimum (``exact_reference``, a dense KKT solve verified
  as optimal), since cvxpy's TEV weights at Clarabel's default tolerances are themselves
  up to about 2e-5 from it;
- the same statuses as cvxpy, infeasible budgets included;
- a re-used solver gives, bit for bit, what a fresh one gives, whatever came before.
"""

import numpy as np
import pytest
from exact_reference import exact_weights
from optimization_data import random_problem

from portflow.quant.optimization.active_portfolio import ActivePortfolioProblem
from portflow.quant.optimization.active_problem import ProblemInputs
from portflow.quant.optimization.direct_problem import DirectActiveProblem
from portflow.quant.optimization.exact_optimum import exact_active_weights
from portflow.quant.optimization.sector_rotation import industry_inputs

GAMMAS = (1.0, 5.0, 25.0, 100.0)
TEVS = (0.001, 0.01, 0.04, 0.10, 0.60)
"""TEV budgets from infeasible under tight weight limits to slack (a linear program)."""
CASES = {
    "plain": {},
    "max_weight": {"max_weight": 0.08},
    "untradable": {"untradable": 0.2},
    "both": {"max_weight": 0.08, "untradable": 0.2},
}


def dates(case: str, n: int = 30) -> list[ProblemInputs]:
    return [random_problem(seed, n, **CASES[case]) for seed in (n, n + 1)]


def sector_dates(n: int = 40, industries: int = 6) -> list[ProblemInputs]:
    """Industry problems of random stock problems (stocks spread over the industries)."""
    out = []
    for seed in (1, 2):
        stocks = random_problem(seed, n)
        membership = np.eye(industries)[np.random.default_rng(seed).integers(industries, size=n)]
        out.append(industry_inputs(stocks, membership)[0])
    return out


def both(kind: str, inputs: list[ProblemInputs], values):
    """(date, value, cvxpy solution, direct solution) of every solve, one solver each."""
    n, k = inputs[0].loadings.shape
    oracle, direct = ActivePortfolioProblem(kind, n, k), DirectActiveProblem(kind)
    for data in inputs:
        oracle.set_date(data)
        direct.set_date(data)
        for value in values:
            yield data, value, oracle.solve(value), direct.solve(value)


@pytest.mark.parametrize("case", [*CASES, "sectors"])
def test_gamma_weights_match_cvxpy(case):
    inputs = sector_dates() if case == "sectors" else dates(case)
    for _, _, oracle, direct in both("gamma", inputs, GAMMAS):
        assert oracle.status == direct.status == "optimal"
        assert direct.exact
        np.testing.assert_allclose(direct.weights, oracle.weights, atol=1e-6, rtol=0)


@pytest.mark.parametrize("case", [*CASES, "sectors"])
def test_tev_weights_are_the_exact_optimum_and_statuses_match_cvxpy(case):
    inputs = sector_dates() if case == "sectors" else dates(case)
    statuses = []
    for data, value, oracle, direct in both("tev", inputs, TEVS):
        statuses.append(direct.status)
        assert direct.status == oracle.status
        if not direct.solved:
            assert direct.weights is None
            continue
        exact = exact_weights("tev", data, value, direct.weights)
        assert exact is not None and direct.exact
        np.testing.assert_allclose(direct.weights, exact, atol=1e-10, rtol=0)
        np.testing.assert_allclose(oracle.weights, exact, atol=1e-4, rtol=0)
    if "max_weight" in CASES.get(case, {}):
        assert "infeasible" in statuses  # budgets below what the limits allow
    assert "optimal" in statuses


@pytest.mark.parametrize("case", list(CASES))
def test_gamma_weights_are_the_exact_optimum(case):
    for data, value, _, direct in both("gamma", dates(case, n=60), GAMMAS):
        exact = exact_weights("gamma", data, value, direct.weights)
        assert exact is not None
        np.testing.assert_allclose(direct.weights, exact, atol=1e-10, rtol=0)


@pytest.mark.parametrize(("kind", "values"), [("gamma", GAMMAS), ("tev", TEVS)])
def test_a_reused_solver_returns_what_a_fresh_one_returns(kind, values):
    """Dates with different holdable stocks and limits, in two orders: bit for bit."""
    inputs = [*dates("plain"), *dates("both"), *dates("max_weight")]
    reused = DirectActiveProblem(kind)
    for data in [*inputs, *inputs[::-1]]:
        reused.set_date(data)
        for value in values[::-1]:
            again = reused.solve(value)
            fresh = DirectActiveProblem(kind)
            fresh.set_date(data)
            new = fresh.solve(value)
            assert again.status == new.status
            if new.solved:
                np.testing.assert_array_equal(again.weights, new.weights)


def test_slack_tev_budget_gives_the_linear_program_vertex():
    """Above the largest tracking error the problem is max m'w: all in the best stock."""
    data = random_problem(3, 25)
    problem = DirectActiveProblem("tev")
    problem.set_date(data)
    solution = problem.solve(5.0)
    best = np.zeros(25)
    best[np.argmax(data.expected)] = 1.0
    assert solution.exact
    np.testing.assert_array_equal(solution.weights, best)


def test_exact_step_corrects_a_wrong_active_set_and_refuses_an_impossible_one():
    data = random_problem(4, 30, max_weight=0.15)
    problem = DirectActiveProblem("gamma")
    problem.set_date(data)
    right = problem.solve(5.0).weights - data.benchmark
    model = problem._model
    at_zero = data.benchmark + right < 1e-12
    wrong = at_zero.copy()
    wrong[np.flatnonzero(~at_zero)[:3]] = True  # three free stocks guessed at zero
    wrong[np.flatnonzero(at_zero)[:2]] = False  # two stocks at zero guessed free
    limit = np.zeros(30, bool)
    corrected = exact_active_weights("gamma", model, 5.0, wrong, limit)
    np.testing.assert_allclose(corrected, right, atol=1e-13)
    everything = np.ones(30, bool)  # no free stock cannot meet sum(w) = 1
    assert exact_active_weights("gamma", model, 5.0, everything, limit) is None


def test_a_date_without_holdable_stocks_is_refused():
    data = random_problem(5, 10)
    empty = ProblemInputs(
        data.expected, data.loadings, data.specific_variance, data.factor_covariance,
        np.zeros(10), np.zeros(10),
    )  # fmt: skip
    with pytest.raises(ValueError, match="no stock can be held"):
        DirectActiveProblem("gamma").set_date(empty)


STALLING = ProblemInputs(
    expected=np.array([0.00243921176046753, 0.005969457418257263, 0.022566428612444588,
                       0.005335550139958338, 0.02409840018454239, 0.005503427607507126,
                       0.0014677082737591634, 0.010181587650967857]),
    loadings=np.array([
        [0.7348661929719296, -0.44059967343988815, -0.08537820941154056],
        [0.8049804108629226, -0.754328906152141, -0.4019078919059464],
        [0.8953708358491724, 0.2263254729527288, 1.1568339298447305],
        [0.22983951243871864, -0.02863929191021552, -0.1321447378353259],
        [1.7520438440386765, 0.6197407364453222, -0.4436772258145552],
        [0.9293309889014332, 0.6633717224563968, -0.28099696589671025],
        [0.7734111531678606, -0.9422313783079012, -0.42653792726519346],
        [1.0069482601316562, -0.43118138966204456, 0.4242527476169452],
    ]),
    specific_variance=np.array([0.0007808855058496589, 0.0018554155738162007,
                                0.00129067565950909, 0.0012542967139417794,
                                0.0036972033126429953, 0.0016740899054353527,
                                0.0007368044500863961, 0.0007270369646571348]),
    factor_covariance=np.array([
        [0.001145735039548023, 0.0002990853107344633, -8.449409039548025e-05],
        [0.0002990853107344633, 0.0005603736158192086, -4.3442937853107364e-06],
        [-8.449409039548025e-05, -4.3442937853107364e-06, 0.00028548270056497185],
    ]),
    benchmark=np.array([0.1, 0.05, 0.15, 0.05, 0.15, 0.15, 0.2, 0.15]),
    upper=np.ones(8),
)  # fmt: skip
"""The sample's sector problem at 2007-06-30 (8 industries, gamma = 1), where Clarabel
without equilibration stalls (its homogeneous embedding cycles to the iteration limit)."""


def test_a_stalled_solve_is_repeated_by_a_fresh_equilibrated_solver():
    problem = DirectActiveProblem("gamma")
    problem.set_date(STALLING)
    problem._load(1.0)
    assert str(problem._solver.solve().status) == "MaxIterations"  # the case is a real stall
    solution = problem.solve(1.0)
    assert solution.status == "optimal" and solution.exact
    oracle = ActivePortfolioProblem("gamma", 8, 3)
    oracle.set_date(STALLING)
    np.testing.assert_allclose(solution.weights, oracle.solve(1.0).weights, atol=1e-6, rtol=0)
    exact = exact_weights("gamma", STALLING, 1.0, solution.weights)
    np.testing.assert_allclose(solution.weights, exact, atol=1e-12, rtol=0)
