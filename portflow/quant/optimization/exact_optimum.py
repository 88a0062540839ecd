"""The exact optimum of an active problem from an interior-point answer's active set.

An interior-point solver stops near the optimum: its weights are within about its
tolerance of it (1e-5 in weights at Clarabel's defaults). But the optimum of these
problems is the solution of a linear system once it is known which weights sit at a
bound (``w_i = 0`` or ``w_i = u_i``, the *active set*), and the interior-point answer
tells which, as soon as it is near enough. So the weights are computed again on that
active set, in closed form, and kept only when they pass the optimality conditions (KKT):
the free weights strictly inside their bounds, every bound's multiplier of the right
sign. A passing point *is* the optimum, to rounding (about 1e-14 in weights).

With ``V = W W' + diag(v^2)`` the active covariance in percent (``W = B U'``), the free
stocks ``F`` and the fixed ones ``C`` (at a bound):

- risk aversion, ``min d'Vd - q'd`` with ``q = 100^2 m / gamma``, ``1'd = c``:
  ``2 V_FF d_F = q_F - 2 V_FC d_C - mu 1``, ``mu`` set by the budget;
- tracking-error budget, ``max 100 m'd`` with ``d'Vd <= s^2`` binding: along the
  Lagrange path ``d_F = h + t g`` (``t = 1 / (2 lambda) > 0``), ``t`` the positive root of
  the quadratic ``d'Vd = s^2``; when the budget does not bind the problem is a linear
  program whose optimum is a vertex (at most one free weight).

Every ``V_FF^-1`` product goes through the factor form by the Woodbury identity,
``O(|F| k^2)``: no n x n matrix is formed, and what does not depend on the sweep value
is computed once per active set and date (the sweep values of a date often share one). A
wrong guess of the active set is corrected by primal-dual active-set rounds (a free weight
out of its bounds joins the active set, a bound with a multiplier of the wrong sign leaves
it), usually none.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from portflow.quant.optimization.active_problem import PERCENT, Kind, monthly_budget

ROUNDS = 6
"""Active-set rounds before giving up (the interior-point answer is then kept)."""
SIGN_TOLERANCE = 1e-9
"""A multiplier counts as of the wrong sign beyond this share of the largest one."""


@dataclass(frozen=True)
class ActiveModel:
    """One date's problem over the stocks that can be held, in percent units.

    Attributes
    ----------
    factor_part : ndarray of shape (m, k)
        ``W = B U'``, so that ``W W' = 100^2 B Sigma_f B'``.
    specific_part : ndarray of shape (m,)
        ``v^2 = 100^2 E``.
    benchmark, upper : ndarray of shape (m,)
        ``b`` and ``u`` (``inf`` where no limit binds below 1).
    expected : ndarray of shape (m,)
        ``100 m``.
    invested : float
        ``1'd = 1 - 1'b`` (0 when the held stocks carry the whole benchmark).
    faces : dict
        The value-independent part of each active set met so far (:class:`_Face`): the
        sweep values of a date often share one.
    """

    factor_part: np.ndarray
    specific_part: np.ndarray
    benchmark: np.ndarray
    upper: np.ndarray
    expected: np.ndarray
    invested: float
    faces: dict = field(default_factory=dict, compare=False, repr=False)

    def covariance_times(self, d: np.ndarray) -> np.ndarray:
        """``V d`` in the factor form."""
        return self.factor_part @ (self.factor_part.T @ d) + self.specific_part * d


@dataclass(frozen=True)
class _Face:
    """The problem with an active set held at its bounds: what no sweep value changes.

    ``d`` holds the fixed stocks at their bounds and 0 on the free ones ``F``; ``c`` is
    what ``1'd_F`` must be; ``ones = V_FF^-1 1``. For the TEV problem, the Lagrange path
    ``d_F = h + t g`` and its risk ``alpha t^2 + 2 beta t + gamma0``.
    """

    free: np.ndarray
    d: np.ndarray
    c: float
    inverse_diagonal: np.ndarray
    WF: np.ndarray
    DW: np.ndarray
    core: np.ndarray
    Vd_fixed: np.ndarray
    ones: np.ndarray
    path: tuple[np.ndarray, np.ndarray, float, float, float] | None

    def solve_free(self, right: np.ndarray) -> np.ndarray:
        """``V_FF^-1 right`` by the Woodbury identity (``right`` of shape (|F|,))."""
        X = self.inverse_diagonal * right
        return X - self.DW @ (self.core @ (self.WF.T @ X))


def _new_face(kind: Kind, model: ActiveModel, lower, upper) -> _Face | None:
    b, u, W, v2 = model.benchmark, model.upper, model.factor_part, model.specific_part
    fixed = lower | upper
    F = np.flatnonzero(~fixed)
    specific = v2[F]
    if F.size == 0 or specific.min() <= 0:  # no free stock, or one without specific risk
        return None
    inverse_diagonal = 1.0 / specific
    d = np.where(lower, -b, np.where(upper, u - b, 0.0))
    c = model.invested - d.sum()
    x_fixed = W.T @ d  # exposures of the fixed part (d is 0 on F)
    WF = W[F]
    DW = inverse_diagonal[:, None] * WF
    core = WF.T @ DW
    core.flat[:: core.shape[0] + 1] += 1.0
    core = np.linalg.inv(core)  # (I + W_F' D^-1 W_F)^-1, k x k
    Vd_fixed = WF @ x_fixed  # (V d_C) on F: the diagonal part is 0 off the fixed set
    ones = inverse_diagonal - DW @ (core @ (WF.T @ inverse_diagonal))  # V_FF^-1 1
    path = None
    if kind == "tev":
        a, y = (
            X - DW @ (core @ (WF.T @ X))
            for X in (inverse_diagonal * model.expected[F], inverse_diagonal * Vd_fixed)
        )
        g = a - (a.sum() / ones.sum()) * ones
        h = -y + ((c + y.sum()) / ones.sum()) * ones
        xg, xh = WF.T @ g, WF.T @ h
        alpha = xg @ xg + specific @ (g * g)
        beta = xg @ xh + specific @ (g * h) + g @ Vd_fixed
        fixed_risk = x_fixed @ x_fixed + v2[fixed] @ d[fixed] ** 2
        gamma0 = xh @ xh + specific @ (h * h) + 2 * h @ Vd_fixed + fixed_risk
        path = (g, h, alpha, beta, gamma0)
    return _Face(F, d, c, inverse_diagonal, WF, DW, core, Vd_fixed, ones, path)


def _stationary_point(
    kind: Kind, model: ActiveModel, value: float, lower, upper, binding: bool
) -> tuple[np.ndarray, np.ndarray] | None:
    """Active weights with ``lower``/``upper`` held at their bounds and the rest stationary.

    Returns ``(d, slope)`` where ``slope_i`` is how much the (minimised) objective gets
    worse per unit rise of ``d_i``: non-negative at a lower bound, non-positive at an
    upper bound at the optimum. None when the system has no solution.
    """
    if kind == "tev" and not binding:
        return _vertex(model, value, lower, upper)
    key = (lower.tobytes(), upper.tobytes())
    if key not in model.faces:
        model.faces[key] = _new_face(kind, model, lower, upper)
    face = model.faces[key]
    if face is None:
        return None
    F, d = face.free, face.d.copy()
    if kind == "gamma":
        q = model.expected * PERCENT / value  # 100^2 m / gamma
        r = face.solve_free(q[F] - 2 * face.Vd_fixed)
        mu = (r.sum() - 2 * face.c) / face.ones.sum()
        d[F] = (r - mu * face.ones) / 2
        return d, 2 * model.covariance_times(d) - q + mu
    g, h, alpha, beta, gamma0 = face.path
    discriminant = beta**2 - alpha * (gamma0 - monthly_budget("tev", value) ** 2)
    if alpha <= 0 or discriminant < 0:
        return None
    t = (-beta + np.sqrt(discriminant)) / alpha  # t = 1 / (2 lambda)
    if t <= 0:
        return None
    d[F] = h + t * g
    Vd = model.covariance_times(d)
    gain = model.expected
    mu = np.mean(gain[F] - Vd[F] / t)
    return d, -(gain - Vd / t - mu) * t


def _vertex(model: ActiveModel, value: float, lower, upper):
    """TEV with a slack budget, a linear program: the free stock (at most one) takes
    what the sum leaves; the multiplier of the sum lies between the fixed stocks' gains."""
    b, u, gain = model.benchmark, model.upper, model.expected
    F = np.flatnonzero(~(lower | upper))
    d = np.where(lower, -b, np.where(upper, u - b, 0.0))
    c = model.invested - d.sum()
    if F.size > 1:
        return None
    if F.size == 1:
        d[F] = c
        mu = gain[F[0]]
    else:
        if abs(c) > 1e-12:
            return None
        lo = gain[lower].max(initial=-np.inf)
        hi = gain[upper].min(initial=np.inf)
        mu = (lo + hi) / 2 if np.isfinite(lo) and np.isfinite(hi) else min(max(lo, 0), hi)
    if d @ model.covariance_times(d) > monthly_budget("tev", value) ** 2 * (1 + 1e-12):
        return None
    return d, -(gain - mu)


def exact_active_weights(
    kind: Kind,
    model: ActiveModel,
    value: float,
    lower: np.ndarray,
    upper: np.ndarray,
    binding: bool = True,
) -> np.ndarray | None:
    """The exact optimal active weights, from a guess of the active set.

    Parameters
    ----------
    kind : {"gamma", "tev"}
    model : ActiveModel
        The date's problem over the ``m`` stocks that can be held.
    value : float
        Gamma, or the annualized TEV budget.
    lower, upper : ndarray of bool, shape (m,)
        The guess: weights at 0, weights at their limit.
    binding : bool
        TEV only: whether the budget binds (the guess of its multiplier being positive).

    Returns
    -------
    ndarray of shape (m,) or None
        ``d = w - b`` of a verified KKT point, or None if none was found from this guess.
    """
    b, u = model.benchmark, model.upper
    lower, upper = lower.copy(), upper & ~lower
    for _ in range(ROUNDS):
        point = _stationary_point(kind, model, value, lower, upper, binding)
        if point is None:
            return None
        d, slope = point
        w = b + d
        free = ~(lower | upper)
        below, above = free & (w < 0), free & (w > u)
        if below.any() or above.any():
            lower |= below
            upper |= above
            continue
        scale = SIGN_TOLERANCE * max(1.0, np.abs(slope).max())
        release = (lower & (slope < -scale)) | (upper & (slope > scale))
        if not release.any():
            return d
        lower &= ~release
        upper &= ~release
    return None
