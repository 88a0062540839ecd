"""Ex-ante active risk in the factor form, and its split into factor and specific parts.

With active weights ``d = w - b``, loadings ``B`` (n x k, the constant excluded: it has no
variance), factor covariance ``Sigma_f`` and residual variances ``E``, the active
exposures are ``x = B' d`` and the ex-ante active variance is::

    d' (B Sigma_f B' + diag(E)) d  =  x' Sigma_f x  +  sum_i E_i d_i^2
                                      (factor part)    (specific part)

The factor part splits by Euler's rule into one contribution per factor,
``c_j = x_j (Sigma_f x)_j``, which add up to it exactly (and may be negative for a
factor that hedges the others). Units: squared monthly return; the tracking error is
annualized, ``sqrt(12 * variance)``. No n x n matrix is formed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MONTHS_PER_YEAR = 12


@dataclass(frozen=True)
class ActiveRisk:
    """Ex-ante active risk of one portfolio at one date (squared monthly returns)."""

    variance: float
    factor: float
    specific: float
    by_factor: np.ndarray
    """Shape (k,): each factor's contribution; sums to ``factor``."""

    @property
    def tracking_error(self) -> float:
        """Annualized ex-ante tracking error ``sqrt(12 * variance)``."""
        return float(np.sqrt(MONTHS_PER_YEAR * max(self.variance, 0.0)))


def active_risk(
    active: np.ndarray,
    loadings: np.ndarray,
    specific_variance: np.ndarray,
    factor_covariance: np.ndarray,
) -> ActiveRisk:
    """Decompose the ex-ante active variance of ``active`` weights.

    Parameters
    ----------
    active : ndarray of shape (n,)
        ``w - b``.
    loadings : ndarray of shape (n, k)
        Factor loadings without the constant.
    specific_variance : ndarray of shape (n,)
        ``E``, squared monthly return.
    factor_covariance : ndarray of shape (k, k)
        ``Sigma_f``, squared monthly return.
    """
    exposure = loadings.T @ active
    by_factor = exposure * (factor_covariance @ exposure)
    specific = float(specific_variance @ active**2)
    factor = float(by_factor.sum())
    return ActiveRisk(factor + specific, factor, specific, by_factor)


def factor_root(factor_covariance: np.ndarray) -> np.ndarray:
    """A square root ``U`` with ``U' U = Sigma_f``, from the eigendecomposition.

    Works for a positive semi-definite (even singular) covariance, where a Cholesky
    factorization fails; eigenvalues below zero from rounding are set to zero.
    """
    values, vectors = np.linalg.eigh((factor_covariance + factor_covariance.T) / 2)
    return np.sqrt(np.clip(values, 0.0, None))[:, None] * vectors.T
