"""The active-portfolio problems: their data, their units and the outcome of a solve.

The problems of DESIGN.md strategy 3, with monthly moments:

- risk aversion::

      max  m'd - gamma (x' Sigma_f x + sum_i E_i d_i^2)
      s.t. d = w - b,  x = B' d,  sum(w) = 1,  0 <= w <= u

- tracking-error budget (TEV annualized)::

      max  m'd   s.t.  x' Sigma_f x + sum_i E_i d_i^2 <= TEV^2 / 12,  same constraints

Two formulations solve them with Clarabel: the direct one that the sweep uses
(:mod:`portflow.quant.optimization.direct_problem`) and the cvxpy one that the tests and
the benchmark hold it against (:mod:`portflow.quant.optimization.active_portfolio`). This
module is what they share, and imports neither cvxpy nor Clarabel.

How the constant's 'factor' enters. The loadings are ``F = [a, B]`` (n x (k+1), the OLS
constant first) and the 'factor' of the constant is 1 every month: its mean is
``alpha_weight`` (1 = the window alpha is forecast in full, 0 = it is ignored) and it has
no variance. So the expected active return is ``mu_f_full' F' d = m'd`` with
``m = alpha_weight * a + B mu_f``, and the constant drops out of the risk: ``x = B' d``
holds the k real factors only.

Changing universe. The data cover every stock of the panel; a stock not tradable at t has
``u_i = 0`` and ``b_i = 0`` (the benchmark covers the tradable stocks), so its weight is 0
and its (NaN-free, zeroed) loadings never matter.

Units. The problem data are in percent (returns x100, variances x100^2), so the objective
and the risk are of order 1: on decimal monthly moments the objective is of order 1e-4,
where an interior-point solver's tolerances (absolute ones included) are far too loose.
Gamma is folded into the return term (the objective divided by gamma: same argmax).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from portflow.quant.optimization.active_risk import MONTHS_PER_YEAR, factor_root

Kind = Literal["gamma", "tev"]
SOLVED = ("optimal", "optimal_inaccurate")
"""Statuses that come with weights; anything else is a failure."""
SOLVER_ERROR = "solver_error"
PERCENT = 100.0
"""Scale of returns in the problem data (see Units)."""


@dataclass(frozen=True)
class ProblemInputs:
    """One date's values, aligned on the universe (n stocks, k factors).

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
    """Wall time of the whole solve call."""
    solver_seconds: float
    """Seconds inside Clarabel's solve; NaN if unavailable."""
    exact: bool = False
    """True when the weights are the verified exact optimum (a KKT point checked to
    rounding, :mod:`portflow.quant.optimization.exact_optimum`), not the interior-point
    iterate."""

    @property
    def solved(self) -> bool:
        return self.status in SOLVED and self.weights is not None


def scaled_expected(kind: Kind, expected: np.ndarray, value: float) -> np.ndarray:
    """The return term in percent units: ``100^2 m / gamma`` (the objective divided by gamma
    and scaled by 100^2) or ``100 m`` for the TEV problem."""
    return expected * PERCENT**2 / value if kind == "gamma" else expected * PERCENT


def monthly_budget(kind: Kind, value: float) -> float:
    """Monthly tracking-error limit ``100 TEV / sqrt(12)`` (0 for the gamma problem)."""
    return PERCENT * value / np.sqrt(MONTHS_PER_YEAR) if kind == "tev" else 0.0


def specific_volatility(specific_variance: np.ndarray) -> np.ndarray:
    """``v = 100 sqrt(E)``, in percent."""
    return PERCENT * np.sqrt(np.clip(specific_variance, 0.0, None))


def percent_factor_root(factor_covariance: np.ndarray) -> np.ndarray:
    """``U`` with ``U' U = 100^2 Sigma_f``, in percent."""
    return PERCENT * factor_root(factor_covariance)
