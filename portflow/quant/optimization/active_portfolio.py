"""The active problems in cvxpy, compiled once with Parameters (DPP): the test oracle.

The problems of :mod:`portflow.quant.optimization.active_problem`, written the way a
reader checks them against the maths, over the full variables ``w``, ``d = w - b`` and
``x = B' d``. The sweep solves them with the direct Clarabel formulation
(:mod:`portflow.quant.optimization.direct_problem`: 2-4 times faster per solve and exact
to rounding); the tests and ``benchmarks/optimization_solver.py`` hold that one against
this one.

DPP. cvxpy re-solves a compiled problem by only re-setting Parameter values, if the
expression is DPP (``problem.is_dcp(dpp=True)``, asserted here). As measured in
``shared/prefect-notes.md``, ``quad_form(x, Parameter)``, ``Parameter @ (w - b)`` and
``multiply(Parameter, w - b)`` are not DPP; so ``d`` is a Variable tied to ``w - b`` by a
constraint, the factor risk is ``||U x||^2`` with ``U' U = Sigma_f`` a Parameter, the
specific risk is ``||sqrt(E) * d||^2`` with ``sqrt(E)`` a Parameter vector (never a dense
n x n matrix), gamma is folded into the return Parameter, and the TEV limit is one
second-order cone on the stacked terms, ``||[U x; sqrt(E) * d]||_2 <= TEV / sqrt(12)``.

Solver: Clarabel (``solver=cp.CLARABEL``, passed explicitly: cvxpy would pick OSQP for the
QP), with :data:`CLARABEL_OPTIONS`. Its weights are interior-point iterates, not the exact
optimum: see there how far they are from it.
"""

from __future__ import annotations

import time

import cvxpy as cp
import numpy as np

from portflow.quant.optimization.active_problem import (
    SOLVED,
    SOLVER_ERROR,
    Kind,
    ProblemInputs,
    Solution,
    monthly_budget,
    percent_factor_root,
    scaled_expected,
    specific_volatility,
)

CLARABEL_OPTIONS: dict[str, dict[str, float]] = {
    "gamma": {"tol_gap_abs": 1e-10, "tol_gap_rel": 1e-10, "tol_feas": 1e-10},
    "tev": {},
}
"""Clarabel settings by problem. The gamma QP gets tolerances 100 times tighter than the
defaults (1e-8) for about one more iteration. Measured against the exact optimum (the
verified KKT point of the tests' dense reference) on random factor models of 20 to 1,000
stocks, with and without weight limits and untradable stocks: gamma weights are within
3.3e-7 of it at worst (median 2e-9); at the defaults they were up to 2e-5 off. The TEV
problem keeps the defaults, where its weights are up to 7e-6 from the exact optimum
(median 2e-7; up to 2e-5 on sector problems): at 1e-10 its second-order cone often stops
short (cvxpy's ``optimal_inaccurate`` in a quarter of the solves at n >= 500) and the
weights still miss the optimum by up to 4e-6. The direct formulation returns the exact
optimum instead (:mod:`portflow.quant.optimization.exact_optimum`)."""


def _formulate(kind: Kind, n: int, expected, loadings, volatility, root, benchmark, upper, budget):
    """The cvxpy problem over Parameters; returns it and its weight variable."""
    w = cp.Variable(n, name="w")
    d = cp.Variable(n, name="d")
    x = cp.Variable(root.shape[0], name="x")
    constraints = [d == w - benchmark, x == loadings.T @ d, cp.sum(w) == 1, w >= 0, w <= upper]
    if kind == "gamma":
        risk = cp.sum_squares(root @ x) + cp.sum_squares(cp.multiply(volatility, d))
        objective = cp.Minimize(risk - expected @ d)
    else:
        # One second-order cone, written as cp.SOC rather than norm(...) <= budget: the same
        # set, but cvxpy compiles it 2-3 times faster (n = 2000: first solve 1.3 s instead
        # of 4.5 s in a fresh process).
        stacked = cp.hstack([root @ x, cp.multiply(volatility, d)])
        constraints.append(cp.SOC(budget, stacked))
        objective = cp.Maximize(expected @ d)
    return cp.Problem(objective, constraints), w


class ActivePortfolioProblem:
    """One problem compiled for a universe of ``n_assets`` and ``n_factors``.

    Size the Parameters once, then :meth:`set_date` and :meth:`solve` set their values
    for a date and a sweep value and re-solve; cvxpy reuses the compiled problem (DPP).
    Every solve builds a new Clarabel solver (no warm start), so a result depends only on
    its own date and value.

    Parameters
    ----------
    kind : {"gamma", "tev"}
        Risk-aversion or tracking-error-budget problem.
    n_assets, n_factors : int
        Universe size and number of factors (the constant excluded).
    """

    def __init__(self, kind: Kind, n_assets: int, n_factors: int) -> None:
        self.kind = kind
        self.n_assets = n_assets
        self.n_factors = n_factors
        n, k = n_assets, n_factors
        self.expected = cp.Parameter(n, name="expected")
        self.loadings = cp.Parameter((n, k), name="loadings")
        self.volatility = cp.Parameter(n, nonneg=True, name="specific_volatility")
        self.root = cp.Parameter((k, k), name="factor_root")
        self.benchmark = cp.Parameter(n, nonneg=True, name="benchmark")
        self.upper = cp.Parameter(n, nonneg=True, name="upper")
        self.budget = cp.Parameter(nonneg=True, name="monthly_te_budget")
        self.problem, self.weights = _formulate(
            kind,
            n,
            self.expected,
            self.loadings,
            self.volatility,
            self.root,
            self.benchmark,
            self.upper,
            self.budget,
        )
        assert self.problem.is_dcp(dpp=True), "the active problem must be DPP"

    def set_date(self, inputs: ProblemInputs) -> None:
        """Set the Parameters that change by date (not by sweep value)."""
        self._inputs = inputs
        self.loadings.value = inputs.loadings
        self.volatility.value = specific_volatility(inputs.specific_variance)
        self.root.value = percent_factor_root(inputs.factor_covariance)
        self.benchmark.value = inputs.benchmark
        self.upper.value = inputs.upper

    def solve(self, value: float, **options: float) -> Solution:
        """Solve at sweep ``value`` (gamma, or annualized TEV) for the date last set.

        ``options`` replace :data:`CLARABEL_OPTIONS` (e.g. tighter tolerances).
        """
        self.expected.value = scaled_expected(self.kind, self._inputs.expected, value)
        self.budget.value = monthly_budget(self.kind, value)
        started = time.perf_counter()
        try:
            self.problem.solve(solver=cp.CLARABEL, **(options or CLARABEL_OPTIONS[self.kind]))
        except cp.error.SolverError:
            return Solution(SOLVER_ERROR, None, time.perf_counter() - started, np.nan)
        seconds = time.perf_counter() - started
        stats = self.problem.solver_stats
        solver_seconds = stats.solve_time if stats is not None and stats.solve_time else np.nan
        status = str(self.problem.status)
        w = self.weights.value
        weights = None if status not in SOLVED or w is None else np.array(w)
        return Solution(status, weights, seconds, float(solver_seconds))
