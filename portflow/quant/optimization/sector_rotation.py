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

The same problems (:mod:`portflow.quant.optimization.active_problem`) then solve it, at
size J (the Ken French 12 or 49 industries holding tradable stocks at the date, plus the
group of stocks without an industry), whatever the number of stocks. Membership is per
date (``stock_industries``: each stock's SIC code up to t), so a reclassified stock moves
industry from the date its new code appears.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from portflow.quant.optimization.active_problem import ProblemInputs


def industry_membership(tickers, industry: pd.Series) -> tuple[list[str], np.ndarray]:
    """The industries of ``tickers`` at one date and the indicator matrix ``M`` (n x J).

    Parameters
    ----------
    tickers : sequence of str
        The compiled universe, in order.
    industry : Series
        Industry of each stock at the date (``stock_industries`` rows of that date), indexed
        by ticker, categorical: its categories give the industries' order.

    Returns
    -------
    industries : list of str
        The J industries (in the categories' order) holding at least one of ``tickers``:
        the sector problem's assets at this date. Leaving out empty industries keeps the
        problem free of variables pinned at 0, which interior-point solvers handle less
        accurately.
    membership : ndarray of shape (n, J)
        ``M_ij = 1`` if stock i is in industry j; tickers without a row in ``industry``
        (not tradable at the date) have a row of zeros.
    """
    groups = industry.reindex(pd.Index(tickers))
    present = set(groups.dropna())
    order = groups.cat.categories if isinstance(groups.dtype, pd.CategoricalDtype) else []
    industries = [j for j in order if j in present]
    column = pd.Series(np.arange(len(industries)), index=industries)
    rows = np.flatnonzero(groups.notna().to_numpy())
    membership = np.zeros((len(groups), len(industries)))
    membership[rows, column.reindex(groups.iloc[rows].astype(str)).to_numpy()] = 1.0
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
