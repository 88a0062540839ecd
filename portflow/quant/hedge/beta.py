"""Beta of the basket to the benchmark: full-sample OLS statistics and a rolling estimate.

The regression is ``r_p,t = alpha + beta r_b,t + e_t`` on simple daily returns (not in
excess of the risk-free rate: the hedge ratio is what matters here, and with a constant in
the regression the beta differs from the excess-return beta only through the covariance of
the daily risk-free rate with the benchmark, which is negligible). statsmodels does the
estimation: ``statsmodels.api.OLS`` for the full sample (through
:func:`portflow.quant.regression.ols_fit`), ``RollingOLS`` for the windows.

Timing of the rolling beta
--------------------------
The hedge is rebalanced at the *close* of a decision date d. The beta it uses is
estimated on the ``beta_window`` daily returns ending at d *inclusive* (d's return is
known at d's close), and the new positions earn from d+1 on: a decision made with data up
to d earns the return of d+1. The estimation window therefore ends strictly before the
first day the new hedge earns, and no return after d is read.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from portflow.errors import DataError
from portflow.quant.regression import HacLags, errors_label, ols_fit

REGRESSION_STAGE = "hedge_regression"
ROLLING_STAGE = "hedge_rolling_beta"

REGRESSION_COLUMNS = (
    "alpha",
    "alpha_se",
    "alpha_t",
    "alpha_p",
    "beta",
    "beta_se",
    "beta_t",
    "beta_p",
    "r_squared",
    "n_obs",
    "cov_type",
)


def _row(fit, regressor: str) -> dict[str, float | int | str]:
    return {
        "alpha": float(fit.params["const"]),
        "alpha_se": float(fit.bse["const"]),
        "alpha_t": float(fit.tvalues["const"]),
        "alpha_p": float(fit.pvalues["const"]),
        "beta": float(fit.params[regressor]),
        "beta_se": float(fit.bse[regressor]),
        "beta_t": float(fit.tvalues[regressor]),
        "beta_p": float(fit.pvalues[regressor]),
        "r_squared": float(fit.rsquared),
        "n_obs": int(fit.nobs),
        "cov_type": errors_label(fit),
    }


def hedged_returns(basket_returns: pd.DataFrame, beta: float) -> pd.Series:
    """The statically hedged series ``r_p,t - beta r_b,t`` (decimal per day), named ``hedged``.

    With the full-sample beta this is an *in-sample* hedge (beta uses every date), a
    diagnostic, not a tradable strategy; :mod:`portflow.quant.hedge.backtest` is the
    tradable one.
    """
    return (basket_returns["basket"] - beta * basket_returns["benchmark"]).rename("hedged")


def _check_returns(basket_returns: pd.DataFrame, stage: str) -> pd.DataFrame:
    frame = basket_returns[["basket", "benchmark"]]
    if frame.isna().any().any():
        bad = frame.index[frame.isna().any(axis=1)]
        raise DataError(
            stage,
            "basket_returns",
            f"{len(bad)} dates with a missing basket or benchmark return, first {bad[0]:%Y-%m-%d}",
            "rebuild basket_returns from complete daily returns",
        )
    return frame


def hedge_regression(
    basket_returns: pd.DataFrame, *, hac_lags: HacLags | None = None
) -> pd.DataFrame:
    """Full-sample OLS of the basket on the benchmark, and of the hedged series on it.

    Parameters
    ----------
    basket_returns : DataFrame of shape (n_dates, >= 2)
        Columns ``basket`` and ``benchmark``: simple decimal returns per day.
    hac_lags : int, "auto" or None
        ``None``: classic OLS standard errors, p-values from the t distribution.
        An integer L: Newey-West (HAC, Bartlett kernel, L lags) errors without a
        small-sample correction, p-values from the normal distribution (statsmodels'
        defaults for ``cov_type="HAC"``). ``"auto"``: L from the Newey-West rule
        ``floor(4 (T/100)^(2/9))`` (:func:`portflow.quant.regression.newey_west_lags`).

    Returns
    -------
    DataFrame of shape (2, 11)
        Index ``regression``: ``basket`` (``r_p = alpha + beta r_b + e``) and ``hedged``
        (``r_p - beta_hat r_b = alpha + beta r_b + e`` with ``beta_hat`` the basket
        row's beta; its beta is 0 in sample up to rounding, since OLS residuals are
        orthogonal to the regressor, and its alpha equals the basket's). Columns
        ``alpha`` (decimal per day), ``alpha_se``, ``alpha_t``, ``alpha_p``, ``beta``,
        ``beta_se``, ``beta_t``, ``beta_p``, ``r_squared``, ``n_obs``, ``cov_type``
        (``nonrobust`` or ``HAC(L)`` with the lags used).

    Raises
    ------
    DataError
        Missing returns, or fewer than 3 observations.
    """
    frame = _check_returns(basket_returns, REGRESSION_STAGE)
    if len(frame) < 3:
        raise DataError(
            REGRESSION_STAGE,
            "basket_returns",
            f"{len(frame)} daily returns, fewer than the 3 a regression with errors needs",
            "widen data.start/data.end",
        )
    errors = {"cov_type": "nonrobust" if hac_lags is None else "HAC", "hac_lags": hac_lags}
    basket_fit = ols_fit(frame["basket"], frame["benchmark"], **errors)
    beta = float(basket_fit.params["benchmark"])
    hedged_fit = ols_fit(hedged_returns(frame, beta), frame["benchmark"], **errors)
    table = pd.DataFrame(
        [_row(basket_fit, "benchmark"), _row(hedged_fit, "benchmark")],
        index=pd.Index(["basket", "hedged"], name="regression"),
    )
    return table[list(REGRESSION_COLUMNS)]


def rebalance_positions(n_dates: int, beta_window: int, rebalance_every: int) -> np.ndarray:
    """Row positions of the decision dates: the first full window's end, then every N rows."""
    return np.arange(beta_window - 1, n_dates, rebalance_every)


def rolling_beta(
    basket_returns: pd.DataFrame, *, beta_window: int = 252, rebalance_every: int = 30
) -> pd.DataFrame:
    """Beta of the basket to the benchmark at each rebalance, on a trailing window.

    Decision dates are the date ending the first full window (row ``beta_window - 1``)
    and every ``rebalance_every`` trading days after it. At decision date d the beta is
    the OLS slope of ``r_p`` on a constant and ``r_b`` over the ``beta_window`` returns
    ending at d inclusive (see the module docstring: decided at d's close, earns from
    d+1). statsmodels' ``RollingOLS`` computes every window.

    Parameters
    ----------
    basket_returns : DataFrame of shape (n_dates, >= 2)
        Columns ``basket`` and ``benchmark``: simple decimal returns per day.
    beta_window : int
        Trading days per estimation window (>= 3).
    rebalance_every : int
        Trading days between decision dates.

    Returns
    -------
    DataFrame of shape (n_rebalances, 4)
        Index ``date``: the decision dates (= the window's last date). Columns ``beta``
        and ``beta_se`` (classic OLS error), ``alpha`` (decimal per day) and
        ``window_start`` (the window's first date).

    Raises
    ------
    DataError
        ``beta_window`` below 3 or longer than the sample, or ``rebalance_every`` so long
        that the hedge would never be re-estimated after the first window.
    """
    frame = _check_returns(basket_returns, ROLLING_STAGE)
    n = len(frame)
    if beta_window < 3 or beta_window > n:
        raise DataError(
            ROLLING_STAGE,
            "hedge.beta_window",
            f"{beta_window} trading days, but it must be at least 3 and at most the "
            f"{n} days of basket returns",
            "set hedge.beta_window between 3 and the sample length, or widen data.start/data.end",
        )
    after_first = n - beta_window  # returns after the first decision date
    if rebalance_every < 1 or rebalance_every > after_first:
        first = frame.index[beta_window - 1]
        raise DataError(
            ROLLING_STAGE,
            "hedge.rebalance_every",
            f"{rebalance_every} trading days, but only {after_first} days of returns follow "
            f"the first beta window (ending {first:%Y-%m-%d}), so the hedge would never be "
            "re-estimated",
            f"set hedge.rebalance_every between 1 and {max(after_first, 1)}, lower "
            "hedge.beta_window, or widen data.start/data.end",
        )
    import statsmodels.api as sm  # here, not at import: a warm re-run fits nothing
    from statsmodels.regression.rolling import RollingOLS

    fit = RollingOLS(frame["basket"], sm.add_constant(frame["benchmark"]), window=beta_window).fit()
    positions = rebalance_positions(n, beta_window, rebalance_every)
    out = pd.DataFrame(
        {
            "beta": fit.params["benchmark"].to_numpy()[positions],
            "beta_se": fit.bse["benchmark"].to_numpy()[positions],
            "alpha": fit.params["const"].to_numpy()[positions],
            "window_start": frame.index[positions - beta_window + 1],
        },
        index=pd.DatetimeIndex(frame.index[positions], name="date"),
    )
    return out
