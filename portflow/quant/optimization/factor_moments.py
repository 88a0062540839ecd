"""Factor-model moments at each rebalance date, from a rolling window of data up to t.

Two stages share the window (config slice ``optimization.moments``):

- ``stock_loadings`` (:func:`rolling_factor_loadings`): each stock's monthly excess return
  regressed by OLS on the factors with a constant, ``r_it - rf_t = a_i + b_i' f_t + e_it``,
  over the ``window`` months ending at t. Loadings ``F`` (constant first) and residual
  variances ``E``. Vectorized over stocks: at each date the design of every stock (its
  missing months' rows zeroed, which leaves a least-squares fit unchanged) is one stack
  that NumPy's batched QR decomposition (``numpy.linalg.qr``) and rank (``matrix_rank``)
  handle at once, however the stocks' listings and gaps differ; no loop over stocks. The
  estimates equal ``statsmodels.OLS`` fits stock by stock (``params`` and ``mse_resid``;
  see the tests).
- ``factor_moments`` (:func:`sample_factor_moments`): the factor mean ``mu_f`` and
  covariance ``Sigma_f`` (``ddof=1``) over the same window.

Rebalance dates are the factor months with at least ``min_observations`` months of factor
data up to them. A stock is *tradable* at t when it has a return at t, a price on the last
trading day of month t (a stock that delisted during month t has its last return, the
delisting return included, at t, but cannot be bought at the end of t; one whose last
price is on that day is bought if otherwise tradable, since the data says it left only
afterwards, and its weight without a return in t+1 is reported as missing) and at least
``min_observations`` returns in the window; otherwise its row has NaN estimates and a
status saying why. Nothing at t reads data after t.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from portflow.errors import DataError

LOADING = "loading|"
"""Prefix of the loading columns: ``loading|const`` then ``loading|<factor>``."""
CONSTANT = "const"
MEAN = "mean|"
"""Prefix of the factor mean columns ``mean|<factor>``."""
COV = "cov|"
"""Prefix of the factor covariance columns ``cov|<factor>|<factor>`` (all k x k entries)."""

OK = "ok"
NOT_LISTED = "not_listed"
TOO_FEW = "too_few_observations"
RANK_DEFICIENT = "rank_deficient_factors"
SINGULAR = "singular_factor_covariance"


def loading_columns(factors) -> list[str]:
    """Names of the loading columns, constant first."""
    return [LOADING + CONSTANT, *(LOADING + f for f in factors)]


def moment_columns(factors) -> list[str]:
    """Names of the factor mean and covariance columns."""
    return [MEAN + f for f in factors] + [f"{COV}{a}|{b}" for a in factors for b in factors]


def factors_of(moments: pd.DataFrame) -> list[str]:
    """The factor names of a moments table, in order, from its ``mean|`` columns."""
    return [c.removeprefix(MEAN) for c in moments.columns if c.startswith(MEAN)]


def unpack_moments(row: pd.Series, factors) -> tuple[np.ndarray, np.ndarray]:
    """``(mu_f, Sigma_f)`` of one date's row: shapes (k,) and (k, k)."""
    k = len(factors)
    mean = row[[MEAN + f for f in factors]].to_numpy(float)
    cov = row[[f"{COV}{a}|{b}" for a in factors for b in factors]].to_numpy(float).reshape(k, k)
    return mean, cov


def _check_window(stage: str, window: int, min_observations: int, n_factors: int) -> None:
    if min_observations <= n_factors + 1:
        raise DataError(
            stage,
            "optimization.moments.min_observations",
            f"{min_observations} months cannot estimate {n_factors} loadings and a constant "
            "with a residual variance",
            f"set optimization.moments.min_observations above {n_factors + 1}",
        )
    if min_observations > window:
        raise DataError(
            stage,
            "optimization.moments.min_observations",
            f"{min_observations} exceeds the window of {window} months",
            "make min_observations at most optimization.moments.window",
        )


def rebalance_positions(n_months: int, min_observations: int) -> range:
    """Positions of the rebalance dates in a factor calendar of ``n_months``."""
    return range(min_observations - 1, n_months)


def listed_at(prices: pd.DataFrame, dates: pd.DatetimeIndex) -> pd.DataFrame:
    """Whether each ticker has a price on the last trading day on or before each date.

    Parameters
    ----------
    prices : DataFrame of shape (n_days, n_tickers)
        The ``prices`` stage (sorted dates; NaN where a ticker has no price).
    dates : DatetimeIndex
        E.g. month-ends: then the last trading day of each month.

    Returns
    -------
    DataFrame of bool, shape (n_dates, n_tickers)
    """
    present = prices.notna().astype(float).reindex(dates, method="ffill")
    return present.fillna(0.0).astype(bool)


def _ols(x: np.ndarray, y: np.ndarray, observed: np.ndarray) -> tuple[np.ndarray, ...]:
    """OLS of each column of ``y`` on ``x`` over its observed rows, all columns at once.

    Parameters
    ----------
    x : ndarray of shape (T, K)
    y : ndarray of shape (T, c)
        NaN where not observed.
    observed : ndarray of bool, shape (T, c)

    Returns
    -------
    full_rank : ndarray of bool, shape (c,)
    coef : ndarray of shape (c_full, K)
        Of the full-rank columns.
    ssr : ndarray of shape (c_full,)
        Their sums of squared residuals.
    """
    mask = observed.T[:, :, None]
    designs = np.where(mask, x[None], 0.0)  # (c, T, K): unobserved months zeroed
    targets = np.where(observed.T, y.T, 0.0)  # (c, T)
    full_rank = np.linalg.matrix_rank(designs) == x.shape[1]
    designs, targets = designs[full_rank], targets[full_rank]
    q, r = np.linalg.qr(designs)
    coef = np.linalg.solve(r, np.einsum("ctk,ct->ck", q, targets)[..., None])[..., 0]
    resid = targets - np.einsum("ctk,ck->ct", designs, coef)
    return full_rank, coef, (resid**2).sum(axis=1)


def rolling_factor_loadings(
    monthly_returns: pd.DataFrame,
    risk_free_monthly: pd.DataFrame,
    factor_data: pd.DataFrame,
    prices: pd.DataFrame,
    *,
    window: int,
    min_observations: int,
    benchmark: str | None = None,
) -> pd.DataFrame:
    """Rolling OLS loadings and residual variances of every stock at every rebalance date.

    Parameters
    ----------
    monthly_returns : DataFrame of shape (n_months, n_tickers)
        Simple monthly returns by month-end; NaN where a stock has no return.
    risk_free_monthly : DataFrame of shape (n_months, 1)
        Column ``rf``, decimal per month.
    factor_data : DataFrame of shape (n_factor_months, n_factors)
        Factor excess returns; its index is the calendar (``factor_data`` stage).
    prices : DataFrame of shape (n_days, n_tickers)
        Daily prices (``prices`` stage): a stock is listed at the end of month t when it
        has a price on the month's last trading day (:func:`listed_at`).
    window : int
        Months in the window ending at t (inclusive).
    min_observations : int
        Fewest returns a stock needs in the window; also the first rebalance date's
        months of factor data.
    benchmark : str, optional
        Column of ``monthly_returns`` that is the benchmark index: not a stock, dropped.

    Returns
    -------
    DataFrame of shape (n_dates * n_stocks, 6 + n_factors)
        Columns ``date`` (rebalance month-end t), ``ticker``, ``loading|const`` (monthly
        alpha), ``loading|<factor>``, ``resid_var`` (``ssr / (T_i - k - 1)``, squared
        monthly return), ``n_obs`` (returns in the window), ``status`` (``ok``,
        ``not_listed``, ``too_few_observations`` or ``rank_deficient_factors``) and
        ``tradable`` (status is ok). Estimates are NaN unless tradable.
    """
    stage = "stock_loadings"
    factors = list(factor_data.columns)
    k = len(factors)
    _check_window(stage, window, min_observations, k)
    stocks = [c for c in monthly_returns.columns if c != benchmark]
    if not stocks:
        raise DataError(
            stage,
            "monthly_returns",
            "no stock columns besides the benchmark",
            "load at least one stock besides the benchmark",
        )
    months = factor_data.index
    rf = risk_free_monthly["rf"].reindex(months).to_numpy(float)
    excess = monthly_returns[stocks].reindex(months).to_numpy(float) - rf[:, None]
    listed = listed_at(prices, months).reindex(columns=stocks, fill_value=False).to_numpy(bool)
    design = np.column_stack([np.ones(len(months)), factor_data.to_numpy(float)])

    frames = []
    for p in rebalance_positions(len(months), min_observations):
        lo = max(0, p - window + 1)
        x, y = design[lo : p + 1], excess[lo : p + 1]
        observed = ~np.isnan(y)
        n_obs = observed.sum(axis=0)
        status = np.full(len(stocks), OK, dtype=object)
        status[n_obs < min_observations] = TOO_FEW
        status[~observed[-1] | ~listed[p]] = NOT_LISTED
        coef = np.full((len(stocks), k + 1), np.nan)
        resid_var = np.full(len(stocks), np.nan)
        candidates = np.flatnonzero(status == OK)
        if candidates.size:
            full_rank, beta, ssr = _ols(x, y[:, candidates], observed[:, candidates])
            status[candidates[~full_rank]] = RANK_DEFICIENT
            estimated = candidates[full_rank]
            coef[estimated] = beta
            resid_var[estimated] = ssr / (n_obs[estimated] - k - 1)
        frame = pd.DataFrame(coef, columns=loading_columns(factors))
        frame.insert(0, "ticker", stocks)
        frame.insert(0, "date", months[p])
        frame["resid_var"] = resid_var
        frame["n_obs"] = n_obs
        frame["status"] = status.astype(str)
        frame["tradable"] = frame["status"].eq(OK)
        frames.append(frame)
    if not frames:
        raise DataError(
            stage,
            "optimization.moments.min_observations",
            f"the {len(months)} months of factor data are fewer than min_observations="
            f"{min_observations}, so there is no rebalance date",
            "lengthen the data range or lower optimization.moments.min_observations",
        )
    return pd.concat(frames, ignore_index=True)


def sample_factor_moments(
    factor_data: pd.DataFrame, *, window: int, min_observations: int
) -> pd.DataFrame:
    """Factor mean and covariance over the rolling window ending at each rebalance date.

    Parameters
    ----------
    factor_data : DataFrame of shape (n_months, n_factors)
        Factor excess returns, decimal per month.
    window, min_observations : int
        As in :func:`rolling_factor_loadings` (same slice, so the same dates).

    Returns
    -------
    DataFrame of shape (n_dates, 2 + k + k**2)
        Index ``date``; columns ``mean|<f>`` (monthly mean), ``cov|<f>|<g>`` (monthly
        covariance, ``ddof=1``), ``n_obs`` and ``status``: ``ok``, or
        ``singular_factor_covariance`` when the window's factor returns are collinear
        (e.g. a factor constant over the window), so neither ``Sigma_f`` nor the
        loadings are identified at that date.
    """
    factors = list(factor_data.columns)
    _check_window("factor_moments", window, min_observations, len(factors))
    values = factor_data.to_numpy(float)
    rows = []
    for p in rebalance_positions(len(values), min_observations):
        sample = values[max(0, p - window + 1) : p + 1]
        demeaned = sample - sample.mean(axis=0)
        singular = np.linalg.matrix_rank(demeaned) < len(factors)
        cov = np.atleast_2d(np.cov(sample, rowvar=False, ddof=1))
        rows.append([*sample.mean(axis=0), *cov.ravel(), len(sample), SINGULAR if singular else OK])
    if not rows:
        raise DataError(
            "factor_moments",
            "optimization.moments.min_observations",
            f"the {len(values)} months of factor data are fewer than min_observations="
            f"{min_observations}",
            "lengthen the data range or lower optimization.moments.min_observations",
        )
    index = factor_data.index[min_observations - 1 :].rename("date")
    frame = pd.DataFrame(rows, index=index, columns=[*moment_columns(factors), "n_obs", "status"])
    return frame.astype({"n_obs": int, "status": str})
