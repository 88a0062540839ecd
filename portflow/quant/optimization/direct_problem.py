"""The active problems written straight in Clarabel's standard form: what the sweep solves.

The problems of :mod:`portflow.quant.optimization.active_problem` (percent units, gamma
folded into the return term), posed to Clarabel (``clarabel.DefaultSolver``) as

    min  1/2 z'Pz + q'z   s.t.  Az + s = b,  s in K

over the *reduced* variables ``z = [d; x]``: the active weights ``d = w - b`` of the m
stocks that can be held at the date (``u_i > 0`` or ``b_i > 0``) and the factor exposures
``x = B'd``; ``w = b + d`` is never a variable and a stock that cannot be held is none.
Rows of ``A``::

    k   zero      B'd - x = 0                 exposures
    1   zero      1'd = 1 - 1'b               fully invested, sum(w) = 1
    m   nonneg    -d <= b                     long only, w >= 0
    m   nonneg     d <= u - b                 w <= u, only when some u_i < 1 (max_weight)

Risk aversion: ``P = 2 blockdiag(diag(v^2), U'U)``, ``q = [-100^2 m / gamma; 0]``.
Tracking-error budget: ``P = 0``, ``q = [-100 m; 0]`` and one more cone, the
second-order cone ``(s, U x, v o d)`` of dimension ``1 + k + m`` with ``s = 100 TEV /
sqrt(12)``; ``v = 100 sqrt(E)`` and ``U'U = 100^2 Sigma_f``. At n = 1000 and k = 5 the
gamma problem has 1,005 variables and 1,006 rows, the TEV problem 1,005 and 2,017; cvxpy
hands Clarabel 3n + 10 = 3,010 variables and 4n + 11 = 4,011 rows for gamma.

Lifecycle, as cvxportfolio's (size once, set values per date): the sparsity pattern is
built when the set of holdable stocks (or the presence of weight limits) changes, which
is rare between months; :meth:`DirectActiveProblem.set_date` writes a date's numbers into
it and :meth:`DirectActiveProblem.solve` writes what the sweep value changes (gamma: the
return part of ``q``; TEV: one entry of ``b``) through ``DefaultSolver.update`` and
re-solves. Nothing but the data carries from one solve to the next: Clarabel does not
warm-start, presolve is off (``update`` needs it off) and so is Ruiz equilibration,
because an updated solver keeps the scaling computed from the data it was *built* with
(measured: 2e-5 in TEV weights across dates). So a re-used solver returns, bit for bit,
what a fresh one does, and each result depends only on its own date and value, whatever
the chunking. The percent units keep the data of order 1-100: equilibration saves no
iterations here. Rarely, the homogeneous embedding stalls without it (one of the default
run's 10,000 solves: a sector problem at gamma = 1 cycling to the iteration limit); an
unfinished solve (:data:`UNFINISHED`) is repeated by a fresh solver with equilibration,
built from that date and value alone, so the result still depends on nothing else.

Accuracy (the TEV problem's tolerance, issue 14). The interior-point answer (tolerances
:data:`TOLERANCE`) is followed by the exact optimum on its active set
(:mod:`portflow.quant.optimization.exact_optimum`): the weights returned are a verified KKT
point, exact to rounding (within 4e-15 of the tests' dense reference solve at n = 20 to
1,000, against up to 2e-5 for Clarabel's own answer at its default tolerances and 4e-6 at
1e-10, where the TEV cone often ends "almost solved"). When the check fails (an active set
not yet settled) the problem is solved again at :data:`RETRY_TOLERANCE` and checked again;
if it still fails, the interior-point weights at 1e-10 are returned with
``Solution.exact`` False (a few 1e-6 from the optimum at worst); the benchmark counts such
solves. The exact step costs 5-15% of a solve at n >= 500, about as much as Clarabel's
solve at n = 20.

Statuses are those cvxpy reports for the same Clarabel outcome (:data:`STATUS`), so the
sweep's ``status`` column keeps its values: a TEV budget below the smallest tracking
error the weight limits allow is ``infeasible`` here too.

Speed (``benchmarks/optimization_solver.py``): about 1.1x Clarabel's own solve time at
n >= 500 and 2-2.5x at n = 20, against 2.3-3.4x and 9-17x through cvxpy. No cvxpy import
(about a second of a process's start-up): the sweep's worker processes never load it.
"""

from __future__ import annotations

import time

import clarabel
import numpy as np
import scipy.sparse as sp

from portflow.quant.optimization.active_problem import (
    PERCENT,
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
from portflow.quant.optimization.exact_optimum import ActiveModel, exact_active_weights

TOLERANCE = 1e-8
"""Interior-point tolerance (``tol_gap_abs``, ``tol_gap_rel``, ``tol_feas``): Clarabel's
default. The exact step makes the weights exact whatever it is, once the active set is
found; looser saves about one iteration in ten."""
RETRY_TOLERANCE = 1e-10
"""Tolerance of the second solve when the exact step fails on the first."""
STATUS = {
    "Solved": "optimal",
    "PrimalInfeasible": "infeasible",
    "DualInfeasible": "unbounded",
    "AlmostSolved": "optimal_inaccurate",
    "AlmostPrimalInfeasible": "infeasible_inaccurate",
    "AlmostDualInfeasible": "unbounded_inaccurate",
    "MaxIterations": "user_limit",
    "MaxTime": "user_limit",
    "NumericalError": SOLVER_ERROR,
    "InsufficientProgress": SOLVER_ERROR,
    "Unsolved": SOLVER_ERROR,
}
"""Clarabel's status -> the status cvxpy 1.9 reports for it (its ``CLARABEL.STATUS_MAP``)."""


UNFINISHED = ("user_limit", SOLVER_ERROR)
"""Outcomes after which the solve is repeated by a fresh, equilibrated solver."""


def clarabel_settings(tolerance: float, equilibrate: bool = False) -> clarabel.DefaultSettings:
    """Settings of the direct path: one thread, no presolve, no equilibration (but in the
    fresh solver that repeats an unfinished solve)."""
    settings = clarabel.DefaultSettings()
    settings.verbose = False
    settings.presolve_enable = False
    settings.chordal_decomposition_enable = False
    settings.equilibrate_enable = equilibrate
    settings.max_threads = 1
    settings.tol_gap_abs = settings.tol_gap_rel = settings.tol_feas = tolerance
    return settings


class _Sparsity:
    """A fixed CSC pattern from (row, column) slots, filled with values in slot order.

    ``DefaultSolver.update(A=values)`` overwrites the nonzeros in CSC order (column by
    column, rows ascending); the slots let the caller write values block by block. Explicit
    zeros stay in the pattern, so a value that is 0 at one date can change at the next.
    """

    def __init__(self, rows: np.ndarray, columns: np.ndarray, shape: tuple[int, int]) -> None:
        self.order = np.lexsort((rows, columns))
        self.indices = rows[self.order]
        self.indptr = np.concatenate([[0], np.cumsum(np.bincount(columns, minlength=shape[1]))])
        self.shape = shape

    def values(self, slot_values: np.ndarray) -> np.ndarray:
        """Nonzeros in CSC order."""
        return np.ascontiguousarray(slot_values[self.order], dtype=float)

    def matrix(self, values: np.ndarray) -> sp.csc_matrix:
        return sp.csc_matrix((values, self.indices, self.indptr), shape=self.shape)


class _Layout:
    """Rows, cones and sparsity of one problem over ``m`` held stocks and ``k`` factors."""

    def __init__(self, kind: Kind, m: int, k: int, bounded: bool) -> None:
        self.m, self.k, self.bounded = m, k, bounded
        stocks, factors = np.arange(m), np.arange(k)
        blocks = [
            (np.tile(factors, m), np.repeat(stocks, k)),  # B'd: row j, column i
            (factors, m + factors),  # -x
            (np.full(m, k), stocks),  # 1'd
            (k + 1 + stocks, stocks),  # -d <= b
        ]
        self.constants = [-np.ones(k), np.ones(m), -np.ones(m)]
        rows = k + 1 + m
        if bounded:
            blocks.append((rows + stocks, stocks))  # d <= u - b
            self.constants.append(np.ones(m))
            rows += m
        self.cones = [clarabel.ZeroConeT(k + 1), clarabel.NonnegativeConeT(rows - k - 1)]
        self.budget_row = None
        if kind == "tev":
            self.budget_row = rows
            blocks.append((rows + 1 + np.repeat(factors, k), m + np.tile(factors, k)))  # -U x
            blocks.append((rows + 1 + k + stocks, stocks))  # -v o d
            self.cones.append(clarabel.SecondOrderConeT(1 + k + m))
            rows += 1 + k + m
        self.rows = rows
        self.A = _Sparsity(
            np.concatenate([r for r, _ in blocks]),
            np.concatenate([c for _, c in blocks]),
            (rows, m + k),
        )
        upper_triangle = np.triu_indices(k)
        self.triangle = upper_triangle
        p_rows = np.concatenate([stocks, m + upper_triangle[0]]) if kind == "gamma" else []
        p_cols = np.concatenate([stocks, m + upper_triangle[1]]) if kind == "gamma" else []
        self.P = _Sparsity(np.asarray(p_rows, int), np.asarray(p_cols, int), (m + k, m + k))


class DirectActiveProblem:
    """One active problem (gamma or TEV), re-parameterized per date and per sweep value.

    Parameters
    ----------
    kind : {"gamma", "tev"}
        Risk-aversion or tracking-error-budget problem.
    tolerance : float
        Interior-point tolerance (:data:`TOLERANCE`).
    exact : bool
        Return the exact optimum on the interior-point answer's active set (default);
        False returns the interior-point weights (for measurements).
    """

    def __init__(self, kind: Kind, *, tolerance: float = TOLERANCE, exact: bool = True) -> None:
        self.kind = kind
        self.exact = exact
        retry = min(tolerance, RETRY_TOLERANCE)
        self._settings = {
            equilibrate: (
                clarabel_settings(tolerance, equilibrate),
                clarabel_settings(retry, equilibrate),
            )
            for equilibrate in (False, True)
        }
        self._key: tuple | None = None
        self._solver = None

    def set_date(self, inputs: ProblemInputs) -> None:
        """Write one date's data (everything but the sweep value).

        Raises
        ------
        ValueError
            If no stock can be held (the sweep records ``no_tradable_stocks`` instead).
        """
        held = np.flatnonzero((inputs.upper > 0) | (inputs.benchmark != 0))
        m, k = len(held), inputs.loadings.shape[1]
        if m == 0:
            raise ValueError("no stock can be held at this date")
        bounded = bool(np.any(inputs.upper[held] < 1.0))
        key = (k, bounded, held.tobytes())
        if key != self._key:
            self._key = key
            self._layout = _Layout(self.kind, m, k, bounded)
            self._solver = None
        layout = self._layout
        benchmark = inputs.benchmark[held]
        volatility = specific_volatility(inputs.specific_variance[held])
        root = percent_factor_root(inputs.factor_covariance)
        a_values = [inputs.loadings[held].ravel(), *layout.constants]
        if self.kind == "tev":
            a_values += [-root.ravel(), -volatility]
        self._A = layout.A.values(np.concatenate(a_values))
        b = np.zeros(layout.rows)
        b[k] = 1.0 - inputs.benchmark.sum()
        b[k + 1 : k + 1 + m] = benchmark
        if bounded:
            b[k + 1 + m : k + 1 + 2 * m] = inputs.upper[held] - benchmark
        self._b = b
        self._q = np.zeros(m + k)
        self._P = None
        if self.kind == "gamma":
            factor_risk = (root.T @ root)[layout.triangle]
            self._P = layout.P.values(2 * np.concatenate([volatility**2, factor_risk]))
        self._expected = inputs.expected[held]
        self._held, self._benchmark = held, inputs.benchmark
        self._model = ActiveModel(
            factor_part=inputs.loadings[held] @ root.T,
            specific_part=volatility**2,
            benchmark=benchmark,
            upper=inputs.upper[held] if bounded else np.full(m, np.inf),
            expected=PERCENT * self._expected,
            invested=1.0 - inputs.benchmark.sum(),
        )
        self._new_date = True

    def _load(self, value: float) -> None:
        """Hand the date's data (if new) and the sweep value to the solver."""
        layout = self._layout
        m = layout.m
        if self.kind == "gamma":
            self._q[:m] = -scaled_expected("gamma", self._expected, value)
        else:
            self._q[:m] = -scaled_expected("tev", self._expected, value)
            self._b[layout.budget_row] = monthly_budget("tev", value)
        if self._solver is None:
            self._solver = self._new_solver(equilibrate=False)
        elif self._new_date:
            data = {"A": self._A, "q": self._q, "b": self._b}
            if self._P is not None:
                data["P"] = self._P
            self._solver.update(**data)
        elif self.kind == "gamma":
            self._solver.update(q=(np.arange(m), self._q[:m]))
        else:
            row = layout.budget_row
            self._solver.update(b=(np.array([row]), self._b[row : row + 1]))
        self._new_date = False

    def _new_solver(self, equilibrate: bool):
        layout = self._layout
        P = layout.P.matrix(self._P if self._P is not None else np.empty(0))
        A = layout.A.matrix(self._A)
        settings = self._settings[equilibrate][0]
        return clarabel.DefaultSolver(P, self._q, A, self._b, layout.cones, settings)

    def solve(self, value: float) -> Solution:
        """Solve at sweep ``value`` (gamma, or annualized TEV) for the date last set."""
        started = time.perf_counter()
        self._load(value)
        solver, equilibrate = self._solver, False
        clock = time.perf_counter()
        result = solver.solve()
        solver_seconds = time.perf_counter() - clock
        status = STATUS.get(str(result.status), SOLVER_ERROR)
        if status in UNFINISHED:
            # The homogeneous embedding can stall on a badly scaled instance (a handful
            # of iterations with Ruiz equilibration): a fresh solver built from this
            # (date, value) alone repeats the solve, so the result still depends on
            # nothing else.
            solver, equilibrate = self._new_solver(equilibrate=True), True
            clock = time.perf_counter()
            result = solver.solve()
            solver_seconds += time.perf_counter() - clock
            status = STATUS.get(str(result.status), SOLVER_ERROR)
        if status not in SOLVED:
            return Solution(status, None, time.perf_counter() - started, solver_seconds)
        d, exact = np.asarray(result.x)[: self._layout.m], False
        if self.exact:
            polished = self._exact(result, value)
            settings, retry = self._settings[equilibrate]
            if polished is None and retry.tol_feas < settings.tol_feas:
                solver.update(settings=retry)
                clock = time.perf_counter()
                result = solver.solve()
                solver_seconds += time.perf_counter() - clock
                solver.update(settings=settings)
                status = STATUS.get(str(result.status), SOLVER_ERROR)
                if status not in SOLVED:
                    return Solution(status, None, time.perf_counter() - started, solver_seconds)
                d = np.asarray(result.x)[: self._layout.m]
                polished = self._exact(result, value)
            if polished is not None:
                d, exact = polished, True
        weights = self._benchmark.copy()
        weights[self._held] += d
        return Solution(status, weights, time.perf_counter() - started, solver_seconds, exact)

    def _exact(self, result, value: float) -> np.ndarray | None:
        """The exact optimum from the interior-point answer's active set (or None)."""
        layout, model = self._layout, self._model
        m, k = layout.m, layout.k
        s, z = np.asarray(result.s), np.asarray(result.z)
        # A bound is active where its slack is below its multiplier.
        lower = s[k + 1 : k + 1 + m] < z[k + 1 : k + 1 + m]
        upper = np.zeros(m, bool)
        if layout.bounded:
            upper = s[k + 1 + m : k + 1 + 2 * m] < z[k + 1 + m : k + 1 + 2 * m]
        binding = True
        if self.kind == "tev":  # the budget's multiplier: about 0 when it does not bind
            binding = z[layout.budget_row] > 1e-6 * max(1.0, np.abs(model.expected).max())
        return exact_active_weights(self.kind, model, value, lower, upper, binding)
