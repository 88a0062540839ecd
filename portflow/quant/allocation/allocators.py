"""Allocators: rules that turn the past returns window into target weights.

The interface (the same as a cvxportfolio forecaster's): an allocator is a callable
``allocator(past_returns) -> weights``. At a rebalance date ``t`` the backtester hands it
the ``window`` daily returns *up to and including* ``t`` and nothing else, so look-ahead is
impossible by signature. The weights it returns are held from the close of ``t`` and earn
the returns of ``t + 1`` onwards (see ``portflow.quant.allocation.backtest``).

- ``past_returns``: DataFrame of shape (window, n_assets), simple daily decimal returns,
  no NaN, the last row dated ``t``.
- ``weights``: Series of shape (n_assets,) indexed like ``past_returns.columns``; a
  fraction of portfolio value per asset (whatever does not sum to 1 is cash at zero return).

:func:`investable_returns` prepares the panel they see.
``portflow.quant.allocation.backtest.ALLOCATORS`` maps each config ``kind`` (see
``portflow.config.allocation``) to the class built with that config's fields. Stateful
allocators (the walk-forward LSTM of ``portflow.quant.allocation.lstm``) keep what they
learn between calls; a fresh instance is built for every backtest.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Protocol

import numpy as np
import pandas as pd

from portflow.errors import DataError, preview
from portflow.quant.metrics import PERIODS_PER_YEAR

if TYPE_CHECKING:
    import cvxpy as cp

TRADING_DAYS = PERIODS_PER_YEAR["daily"]
"""Trading days per year: the optimizer's inputs are annualized with it (for conditioning)."""

CLARABEL_SETTINGS = {"tol_gap_abs": 1e-12, "tol_gap_rel": 1e-12, "tol_feas": 1e-12}
"""Clarabel tolerances of the mean-variance solve. At Clarabel's defaults (1e-8) the weights
were up to 1e-4 from the exact optimum on ill-conditioned windows (10 assets whose
volatilities differ tenfold, a binding cap); at 1e-12 they are within 1e-8 of the exact
active-set solution (``tests/quant/allocation/test_allocators.py``) for about two more
interior-point iterations per solve."""


class Allocator(Protocol):
    """What the backtester calls at each rebalance date."""

    def __call__(self, past_returns: pd.DataFrame) -> pd.Series: ...


class FixedWeights:
    """A constant mix, restored at every rebalance.

    Parameters
    ----------
    weights : mapping of str to float
        Ticker -> weight. Tickers of the window missing from it get weight 0.
    """

    def __init__(self, weights: Mapping[str, float]) -> None:
        self.weights = dict(weights)

    def __call__(self, past_returns: pd.DataFrame) -> pd.Series:
        unknown = sorted(set(self.weights) - set(past_returns.columns))
        if unknown:
            raise DataError(
                "allocator",
                "weights",
                f"tickers {preview(unknown)} are not in the universe "
                f"{preview(list(past_returns.columns))}",
                "use tickers of allocation.tickers (or of the data when it is null)",
            )
        return pd.Series(self.weights, dtype=float).reindex(past_returns.columns, fill_value=0.0)


class EqualWeight:
    """1/N in every asset of the window."""

    def __call__(self, past_returns: pd.DataFrame) -> pd.Series:
        n_assets = past_returns.shape[1]
        return pd.Series(1.0 / n_assets, index=past_returns.columns)


class InverseVolatility:
    """Weights proportional to ``1 / sigma_i``, the sample standard deviation (ddof=1) of
    each asset's daily returns over the window; they sum to 1."""

    def __call__(self, past_returns: pd.DataFrame) -> pd.Series:
        volatility = past_returns.std(ddof=1)
        flat = volatility.index[~(volatility > 0)]
        if len(flat):
            raise DataError(
                "allocator",
                "window",
                f"{preview(list(flat))} have zero volatility over the window, so 1/sigma is "
                "undefined",
                "drop those tickers or lengthen the window",
            )
        inverse = 1.0 / volatility
        return inverse / inverse.sum()


class MeanVariance:
    """Long-only, fully invested mean-variance weights (cvxpy, solved by Clarabel).

    Solves::

        maximize    w' mu - (gamma / 2) w' Sigma w
        subject to  sum(w) = 1,  0 <= w <= max_weight

    with ``mu`` the sample mean and ``Sigma`` the sample covariance (ddof=1) of the window's
    daily returns, both multiplied by :data:`TRADING_DAYS` (which leaves the optimum
    unchanged and keeps the solver's tolerances meaningful), to the tolerances of
    :data:`CLARABEL_SETTINGS` (weights within 1e-8 of the exact optimum). ``Sigma`` is never formed:
    ``w' Sigma w = ||X_c w||^2`` with ``X_c`` the centred returns over ``sqrt(T - 1)``, a
    (T, n) matrix. The problem is built once per window shape with cvxpy Parameters (it is
    DPP) and only their values change between rebalances, as in cvxportfolio.

    Without binding constraints the optimum is the closed form of the Lagrangian
    ``w = Sigma^-1 (mu - lambda 1) / gamma`` with
    ``lambda = (1' Sigma^-1 mu - gamma) / (1' Sigma^-1 1)``.

    Parameters
    ----------
    risk_aversion : float
        ``gamma`` > 0.
    max_weight : float, optional
        Cap on every weight; ``None`` for no cap.
    """

    def __init__(self, risk_aversion: float = 5.0, max_weight: float | None = None) -> None:
        self.risk_aversion = risk_aversion
        self.max_weight = max_weight
        self._problem: cp.Problem | None = None
        self._shape: tuple[int, int] | None = None

    def _build(self, n_obs: int, n_assets: int) -> None:
        import cvxpy as cp  # here, not at import: only a mean-variance backtest needs it

        weights = cp.Variable(n_assets, name="weights")
        mean = cp.Parameter(n_assets, name="mean")
        centred = cp.Parameter((n_obs, n_assets), name="centred_returns")
        variance = cp.sum_squares(centred @ weights)
        objective = cp.Maximize(mean @ weights - self.risk_aversion / 2 * variance)
        constraints = [cp.sum(weights) == 1, weights >= 0]
        if self.max_weight is not None:
            constraints.append(weights <= self.max_weight)
        problem = cp.Problem(objective, constraints)
        assert problem.is_dpp()
        self._problem, self._shape = problem, (n_obs, n_assets)
        self._weights, self._mean, self._centred = weights, mean, centred

    def __call__(self, past_returns: pd.DataFrame) -> pd.Series:
        n_obs, n_assets = past_returns.shape
        if self.max_weight is not None and self.max_weight * n_assets < 1 - 1e-12:
            raise DataError(
                "allocator",
                "max_weight",
                f"{self.max_weight} x {n_assets} assets < 1, so no fully invested portfolio "
                "respects the cap",
                f"set max_weight >= 1/{n_assets} = {1 / n_assets:.4f}",
            )
        if n_obs < 2:
            raise DataError(
                "allocator", "window", "a covariance needs 2 returns or more", "lengthen it"
            )
        if self._shape != (n_obs, n_assets):
            self._build(n_obs, n_assets)
        returns = past_returns.to_numpy(dtype=float)
        mean = returns.mean(axis=0)
        self._mean.value = mean * TRADING_DAYS
        self._centred.value = (returns - mean) * np.sqrt(TRADING_DAYS / (n_obs - 1))
        self._problem.solve(solver="CLARABEL", **CLARABEL_SETTINGS)
        if self._problem.status not in ("optimal", "optimal_inaccurate"):
            raise DataError(
                "allocator",
                "window",
                f"Clarabel ended with status {self._problem.status}",
                "check the window's returns for constant or duplicated columns",
            )
        # Interior-point solutions sit ~1e-9 inside the bounds: clip and renormalize.
        weights = np.clip(self._weights.value, 0.0, None)
        return pd.Series(weights / weights.sum(), index=past_returns.columns)


# -- the universe -----------------------------------------------------------------------------
def investable_returns(
    daily_returns: pd.DataFrame,
    tickers: Sequence[str] | None,
    benchmark: str | None,
    *,
    stage: str = "allocation_targets",
) -> pd.DataFrame:
    """The daily returns of the universe, from the first date every ticker has one.

    Parameters
    ----------
    daily_returns : DataFrame of shape (n_dates, n_tickers)
        Simple daily returns (first row NaN), benchmark included.
    tickers : sequence of str, optional
        The universe; ``None`` = every column but ``benchmark``.
    benchmark : str, optional
        Left out when ``tickers`` is ``None``.

    Returns
    -------
    DataFrame of shape (n_days, n_assets)
        No NaN: leading dates where a ticker has no return yet are dropped.

    Raises
    ------
    DataError
        Unknown or repeated tickers, or a missing return after the start.
    """
    if tickers is None:
        columns = [c for c in daily_returns.columns if c != benchmark]
    else:
        columns = list(tickers)
        missing = [t for t in columns if t not in daily_returns.columns]
        repeated = sorted({t for t in columns if columns.count(t) > 1})
        if missing or repeated:
            problem = f"{preview(missing)} not in the data" if missing else f"{repeated} repeated"
            raise DataError(
                stage,
                "allocation.tickers",
                problem,
                f"choose distinct tickers among {preview(list(daily_returns.columns), 25)}",
            )
    if not columns:
        raise DataError(stage, "allocation.tickers", "the universe is empty", "list tickers")
    frame = daily_returns[columns].astype(float)
    complete = frame.notna().all(axis=1)
    if not complete.any():
        raise DataError(
            stage,
            "allocation.tickers",
            "no date has a return for every ticker",
            "drop tickers whose listings do not overlap",
        )
    frame = frame.loc[complete.idxmax() :]
    gaps = frame.columns[frame.isna().any()]
    if len(gaps):
        first = frame.index[frame.isna().any(axis=1)][0]
        raise DataError(
            stage,
            ", ".join(map(str, gaps[:5])),
            f"missing daily returns after the start (first on {first:%Y-%m-%d})",
            "set prices.missing to ffill or drop_dates, or leave these tickers out of "
            "allocation.tickers",
        )
    return frame
