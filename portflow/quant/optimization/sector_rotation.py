"""Sector rotation: choose industry weights, hold stocks cap-weighted inside each industry.

With benchmark weights ``b`` (cap weights where the data has caps) and industries
``j = 1..J``, the *industry portfolio* matrix ``P`` (n x J) holds each stock's share of its
industry's benchmark weight, ``P_ij = b_i / sum_{l in j} b_l`` (0 outside industry j). A
sector portfolio ``s`` (industry weights, ``s >= 0``, ``sum(s) = 1``) holds the stocks
``w = P s``, so inside every industry the stock weights are proportional to the
benchmark's (to market caps), and they sum to 1. The benchmark itself is ``b = P s_b``
with ``s_b`` the industry totals of ``b``, so the active weights are
``w - b = P (s - s_b)`` and the stock-level problem maps exactly onto a problem over the J
industries (each stock is in one industry, so the specific risk stays diagonal):

- loadings ``B_ind = P' B`` (J x k), expected returns ``m_ind = P' m``;
- specific variances ``E_ind_j = sum_{i in j} P_ij^2 E_i``;
- benchmark ``s_b``; an industry with no benchmark weight at t is capped at 0.

The same compiled problems of :mod:`portflow.quant.optimization.active_portfolio` then solve it, at
size J <= 12 (the Ken French industries holding stocks of the universe), whatever the
number of stocks.
"""

from __future__ import annotations

import numpy as np

from portflow.quant.optimization.active_portfolio import ProblemInputs

INDUSTRIES = (
    "NoDur", "Durbl", "Manuf", "Enrgy", "Chems", "BusEq",
    "Telcm", "Utils", "Shops", "Hlth", "Money", "Other",
)  # fmt: skip
"""The Ken French 12 industries, in the library's order: the sector problem's assets."""


def industry_membership(tickers, sector_map: dict[str, str]) -> tuple[list[str], np.ndarray]:
    """The industries of ``tickers`` and the indicator matrix ``M`` (n x J).

    Returns
    -------
    industries : list of str
        The J industries (of :data:`INDUSTRIES`, in that order) holding at least one of
        ``tickers``: the sector problem's assets. Leaving out empty industries keeps the
        problem free of variables pinned at 0, which interior-point solvers handle less
        accurately.
    membership : ndarray of shape (n, J)
        ``M_ij = 1`` if stock i is in industry j; tickers missing from ``sector_map`` have
        a row of zeros (the caller checks coverage).
    """
    present = {sector_map[t] for t in tickers if t in sector_map}
    industries = [j for j in INDUSTRIES if j in present]
    column = {name: j for j, name in enumerate(industries)}
    membership = np.zeros((len(tickers), len(industries)))
    for i, ticker in enumerate(tickers):
        if ticker in sector_map:
            membership[i, column[sector_map[ticker]]] = 1.0
    return industries, membership


def industry_portfolios(membership: np.ndarray, benchmark: np.ndarray) -> np.ndarray:
    """``P`` of shape (n, J): benchmark-proportional stock weights within each industry.

    Columns of industries with no benchmark weight are zero.
    """
    held = membership * benchmark[:, None]
    totals = held.sum(axis=0)
    return np.divide(held, totals, out=np.zeros_like(held), where=totals > 0)


def industry_inputs(
    inputs: ProblemInputs, membership: np.ndarray
) -> tuple[ProblemInputs, np.ndarray]:
    """The stock-level problem data mapped onto the industries (see module docstring).

    Returns
    -------
    inputs : ProblemInputs
        Over the J industries; the benchmark is ``s_b = M' b``.
    portfolios : ndarray of shape (n, J)
        ``P``: stock weights are ``P s`` for industry weights ``s``.
    """
    portfolios = industry_portfolios(membership, inputs.benchmark)
    sector_benchmark = sector_weights(membership, inputs.benchmark)
    industry = ProblemInputs(
        expected=portfolios.T @ inputs.expected,
        loadings=portfolios.T @ inputs.loadings,
        specific_variance=(portfolios**2).T @ inputs.specific_variance,
        factor_covariance=inputs.factor_covariance,
        benchmark=sector_benchmark,
        upper=(sector_benchmark > 0).astype(float),
    )
    return industry, portfolios


def sector_weights(membership: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Industry weights of a stock portfolio: shape (J,), ``M' w``."""
    return membership.T @ weights
