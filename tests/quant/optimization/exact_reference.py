"""The exact optimum of an active problem by dense linear algebra: an accuracy oracle.

Independent of portflow's solvers but for the guess it starts from: the stocks whose
weight in ``approx`` (any near-optimal answer) is at a bound are fixed there, and the
others solve the equality-constrained problem with the dense n x n covariance
``V = 100^2 (B Sigma_f B' + diag(E))`` (built here only):

- gamma: one (|F| + 1) x (|F| + 1) KKT system;
- TEV with a binding budget: ``d_F = h + t g`` along the Lagrange path, ``t > 0`` the root
  of ``d'Vd = budget^2``;
- TEV with a slack budget: the linear program, solved by HiGHS (scipy's ``linprog``).

The answer counts only when it is a verified KKT point: free weights strictly inside their
bounds, every fixed weight's multiplier of the right sign.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linprog

from portflow.quant.optimization.active_problem import ProblemInputs, monthly_budget

PERCENT = 100.0


def exact_weights(kind: str, inputs: ProblemInputs, value: float, approx: np.ndarray):
    """Weights of shape (n,) of the verified exact optimum, or None.

    The active set is read off ``approx`` at thresholds 1e-7, 1e-10 and 1e-13 in turn.
    """
    for threshold in (1e-7, 1e-10, 1e-13):
        weights = _on_active_set(kind, inputs, value, approx, threshold)
        if weights is not None:
            return weights
    return None


def _on_active_set(kind, inputs, value, approx, threshold):
    n = len(inputs.expected)
    held = (inputs.upper > 0) | (inputs.benchmark != 0)
    b, u = inputs.benchmark, inputs.upper
    B = inputs.loadings
    V = PERCENT**2 * (B @ inputs.factor_covariance @ B.T + np.diag(inputs.specific_variance))
    lower = held & (approx <= threshold)
    upper = held & ~lower & (approx >= u - threshold)
    free = held & ~lower & ~upper
    d = np.zeros(n)
    d[lower] = -b[lower]
    d[upper] = u[upper] - b[upper]
    F, C = np.flatnonzero(free), np.flatnonzero(~free)
    c = (1.0 - b.sum()) - d[C].sum()
    VFF, VFC = V[np.ix_(F, F)], V[np.ix_(F, C)]
    if kind == "gamma":
        q = PERCENT**2 * inputs.expected / value
        m = len(F)
        K = np.zeros((m + 1, m + 1))
        K[:m, :m] = 2 * VFF
        K[:m, m] = K[m, :m] = 1.0
        solution = np.linalg.solve(K, np.concatenate([q[F] - 2 * VFC @ d[C], [c]]))
        d[F], mu = solution[:m], solution[m]
        slope = 2 * V @ d - q + mu  # minimisation: >= 0 at a lower bound
        signs = np.all(slope[lower] >= -1e-9) and np.all(slope[upper] <= 1e-9)
    else:
        gain = PERCENT * inputs.expected
        budget2 = monthly_budget("tev", value) ** 2
        d_approx = approx - b
        if d_approx @ V @ d_approx < 0.999 * budget2:  # slack budget: a linear program
            bounds = [(-b[i], u[i] - b[i]) if held[i] else (0.0, 0.0) for i in range(n)]
            lp = linprog(
                -gain,
                A_eq=np.ones((1, n)),
                b_eq=[1.0 - b.sum()],
                bounds=bounds,
                method="highs",
                options={
                    "primal_feasibility_tolerance": 1e-10,
                    "dual_feasibility_tolerance": 1e-10,
                },
            )
            if lp.status != 0 or lp.x @ V @ lp.x > budget2:
                return None
            return b + lp.x
        a, e, y = (np.linalg.solve(VFF, r) for r in (gain[F], np.ones(len(F)), VFC @ d[C]))
        g = a - (a.sum() / e.sum()) * e
        h = -y + ((c + y.sum()) / e.sum()) * e
        alpha = g @ VFF @ g
        beta = g @ (VFF @ h + VFC @ d[C])
        gamma0 = h @ VFF @ h + 2 * h @ VFC @ d[C] + d[C] @ V[np.ix_(C, C)] @ d[C]
        discriminant = beta**2 - alpha * (gamma0 - budget2)
        if discriminant < 0 or alpha <= 0:
            return None
        t = (-beta + np.sqrt(discriminant)) / alpha
        if t <= 0:
            return None
        d[F] = h + t * g
        lam = 1 / (2 * t)
        mu = (gain[F] - 2 * lam * (V[F] @ d)).mean()
        gain_of_rise = gain - 2 * lam * V @ d - mu  # maximisation: <= 0 at a lower bound
        tol = 1e-9 * max(1.0, lam)
        signs = np.all(gain_of_rise[lower] <= tol) and np.all(gain_of_rise[upper] >= -tol)
    w = b + d
    inside = np.all(w[F] > 0) and np.all(w[F] < u[F])
    return w if inside and signs else None
