"""Active-portfolio problems in the factor form, compiled once with cvxpy Parameters (DPP).

The problems of DESIGN.md strategy 3, with monthly moments:

- risk aversion::

      max  m'd - gamma (x' Sigma_f x + sum_i E_i d_i^2)
      s.t. d = w - b,  x = B' d,  sum(w) = 1,  0 <= w <= u

- tracking-error budget (TEV annualized)::

      max  m'd   s.t.  x' Sigma_f x + sum_i E_i d_i^2 <= TEV^2 / 12,  same constraints

How the constant's 'factor' enters. The loadings are ``F = [a, B]`` (n x (k+1), the OLS
constant first) and the 'factor' of the constant is 1 every month: its mean is
``alpha_weight`` (1 = the window alpha is forecast in full, 0 = it is ignored) and it has
no variance. So the expected active return is ``mu_f_full' F' d = m'd`` with
``m = alpha_weight * a + B mu_f``, and the constant drops out of the risk: ``x = B' d``
holds the k real factors only.

Changing universe. The problem is compiled for every stock of the panel; the upper bound
``u`` is a Parameter, 0 for a stock not tradable at t (and ``max_weight``, or 1, for the
others). A non-tradable stock also has ``b_i = 0`` (the benchmark covers the tradable
stocks), so its active weight is 0 and its (NaN-free, zeroed) loadings never matter.

DPP. cvxpy re-solves a compiled problem by only re-setting Parameter values, if the
expression is DPP (``problem.is_dcp(dpp=True)``, asserted here). As measured in
``shared/prefect-notes.md``, ``quad_form(x, Parameter)``, ``Parameter @ (w - b)`` and
``multiply(Parameter, w - b)`` are not DPP; so ``d`` is a Variable tied to ``w - b`` by a
constraint, the factor risk is ``||U x||^2`` with ``U' U = Sigma_f`` a Parameter, the
specific risk is ``||sqrt(E) * d||^2`` with ``sqrt(E)`` a Parameter vector (never a dense
n x n matrix), gamma is folded into the return Parameter (the objective is divided by
gamma: same argmax), and the TEV limit is one second-order cone on the stacked terms,
``||[U x; sqrt(E) * d]||_2 <= TEV / sqrt(12)``.

Units. The problem data are in percent (returns x100, variances x100^2), so the objective
and the risk are of order 1: on decimal monthly moments the objective is of order 1e-4 and
Clarabel's default tolerances leave weights accurate to only about 1e-4; in percent they
agree with a tightly solved reference to about 1e-8 (see :data:`CLARABEL_OPTIONS`).

Solver: Clarabel (``solver=cp.CLARABEL``, passed explicitly: cvxpy would pick OSQP for the
QP). ``benchmarks/optimization_compiled_vs_rebuilt.py`` measures the compiled path
against rebuilding the problem for every solve (:func:`solve_rebuilt`, same formulation
with constants, identical weights). Compiled was faster or equal at every size measured
(2 shared cores, 5 factors, solves per second compiled / rebuilt): n = 20: 410 / 95
(gamma), 416 / 122 (TEV); n = 500: 61 / 37, 37 / 28; n = 1000: 25 / 20, 17 / 15;
n = 2000: 16 / 13.5, 9.9 / 9.7. The gain shrinks with n because Clarabel's own time, 80-90%
of a compiled solve at n >= 1000, dominates; the TEV problem's one-time compile costs
1-5 s at n = 2000. The stages use the compiled path.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

import cvxpy as cp
import numpy as np

from portflow.quant.optimization.active_risk import MONTHS_PER_YEAR, factor_root

Kind = Literal["gamma", "tev"]
SOLVED = ("optimal", "optimal_inaccurate")
"""cvxpy statuses that come with weights; anything else is a failure."""
SOLVER_ERROR = "solver_error"
PERCENT = 100.0
"""Scale of returns in the problem data (see Units)."""
CLARABEL_OPTIONS: dict[str, dict[str, float]] = {
    "gamma": {"tol_gap_abs": 1e-10, "tol_gap_rel": 1e-10, "tol_feas": 1e-10},
    "tev": {},
}
"""Clarabel settings by problem. The gamma QP gets tolerances 100 times tighter than the
defaults (1e-8): about one more iteration, and weights reproducible to 1e-6 whether the
problem is compiled or rebuilt (with the defaults they differed by up to 2.5e-6 at
n = 500). The TEV problem keeps the defaults: with 1e-10 its second-order cone often stops
short (8% of the sample's TEV solves ended 'almost solved', cvxpy's
``optimal_inaccurate``), while at 1e-8 its weights agree to 1e-9 between paths and the
tracking error meets a binding budget to 1e-10."""
REUSE_SOLVER = False
"""cvxpy's ``warm_start`` for Clarabel: re-use the previous solve's solver object and only
update its data. Off, so that each solve depends on its own data only, not on the solves
before it in a chunk (so results do not depend on how dates are chunked or scheduled); the
benchmark measures what it would save."""


@dataclass(frozen=True)
class ProblemInputs:
    """One date's values, aligned on the compiled universe (n stocks, k factors).

    Attributes
    ----------
    expected : ndarray of shape (n,)
        ``m = alpha_weight * a + B mu_f``, expected excess return per month.
    loadings : ndarray of shape (n, k)
        ``B`` without the constant; 0 for non-tradable stocks.
    specific_variance : ndarray of shape (n,)
        ``E`` (squared monthly return); 0 for non-tradable stocks.
    factor_covariance : ndarray of shape (k, k)
        ``Sigma_f`` (squared monthly return).
    benchmark : ndarray of shape (n,)
        ``b``, non-negative, sums to 1, 0 for non-tradable stocks.
    upper : ndarray of shape (n,)
        ``u``: largest weight; 0 for non-tradable stocks.
    """

    expected: np.ndarray
    loadings: np.ndarray
    specific_variance: np.ndarray
    factor_covariance: np.ndarray
    benchmark: np.ndarray
    upper: np.ndarray


@dataclass(frozen=True)
class Solution:
    """Outcome of one solve: a status always, weights only when solved."""

    status: str
    weights: np.ndarray | None
    seconds: float
    """Wall time of the solve call (cvxpy and Clarabel)."""
    solver_seconds: float
    """Time inside Clarabel (``solver_stats.solve_time``); NaN if unavailable."""

    @property
    def solved(self) -> bool:
        return self.status in SOLVED and self.weights is not None


def _formulate(kind: Kind, n: int, expected, loadings, volatility, root, benchmark, upper, budget):
    """The cvxpy problem; its data are Parameters (compiled path) or arrays (rebuilt)."""
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


def _run(problem: cp.Problem, w: cp.Variable, kind: Kind) -> Solution:
    started = time.perf_counter()
    try:
        problem.solve(solver=cp.CLARABEL, warm_start=REUSE_SOLVER, **CLARABEL_OPTIONS[kind])
    except cp.error.SolverError:
        return Solution(SOLVER_ERROR, None, time.perf_counter() - started, np.nan)
    seconds = time.perf_counter() - started
    stats = problem.solver_stats
    solver_seconds = stats.solve_time if stats is not None and stats.solve_time else np.nan
    status = str(problem.status)
    weights = None if status not in SOLVED or w.value is None else np.array(w.value)
    return Solution(status, weights, seconds, float(solver_seconds))


def _scaled_expected(kind: Kind, expected: np.ndarray, value: float) -> np.ndarray:
    """The return term in percent units: ``100^2 m / gamma`` (the objective divided by gamma
    and scaled by 100^2) or ``100 m`` for the TEV problem."""
    return expected * PERCENT**2 / value if kind == "gamma" else expected * PERCENT


def _budget(kind: Kind, value: float) -> float:
    """Monthly tracking-error limit ``100 TEV / sqrt(12)`` (unused by the gamma problem)."""
    return PERCENT * value / np.sqrt(MONTHS_PER_YEAR) if kind == "tev" else 0.0


def _volatility(specific_variance: np.ndarray) -> np.ndarray:
    """``sqrt(E)`` in percent."""
    return PERCENT * np.sqrt(np.clip(specific_variance, 0.0, None))


def _root(factor_covariance: np.ndarray) -> np.ndarray:
    """``U`` with ``U' U = Sigma_f``, in percent."""
    return PERCENT * factor_root(factor_covariance)


class ActivePortfolioProblem:
    """One problem compiled for a universe of ``n_assets`` and ``n_factors``.

    Size the Parameters once, then :meth:`solve` sets their values for a date and a sweep
    value and re-solves; cvxpy reuses the compiled problem (DPP).

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
        self.volatility.value = _volatility(inputs.specific_variance)
        self.root.value = _root(inputs.factor_covariance)
        self.benchmark.value = inputs.benchmark
        self.upper.value = inputs.upper

    def solve(self, value: float) -> Solution:
        """Solve at sweep ``value`` (gamma, or annualized TEV) for the date last set."""
        self.expected.value = _scaled_expected(self.kind, self._inputs.expected, value)
        self.budget.value = _budget(self.kind, value)
        return _run(self.problem, self.weights, self.kind)


def solve_rebuilt(kind: Kind, inputs: ProblemInputs, value: float) -> Solution:
    """Build the same problem from constants and solve it: the path compiling is measured
    against, and the oracle the compiled problem must agree with."""
    problem, w = _formulate(
        kind,
        len(inputs.expected),
        _scaled_expected(kind, inputs.expected, value),
        inputs.loadings,
        _volatility(inputs.specific_variance),
        _root(inputs.factor_covariance),
        inputs.benchmark,
        inputs.upper,
        _budget(kind, value),
    )
    return _run(problem, w, kind)
