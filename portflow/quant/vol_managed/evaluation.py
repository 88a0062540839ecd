"""The ``vol_evaluation`` stage: did timing volatility add alpha, as in Moreira & Muir (2017)?

For each managed strategy and each period ("train" and "test", or "full" without a test
window), with y the managed and x the unmanaged monthly excess returns over the same
months:

- **Alpha regression** ``y_t = alpha + beta x_t + eps_t`` by OLS (statsmodels, through
  :func:`portflow.quant.regression.ols_fit`) with the standard errors ``cov_type``:
  heteroskedasticity-robust ``HC0``-``HC3`` (default ``HC3``) or Newey-West ``HAC``
  with ``hac_lags`` lags (``"auto"``: ``floor(4 (T/100)^(2/9))`` for T months).
  Why HC3 by default: the regressor is most extreme in crisis months, exactly where the
  managed strategy's exposure is smallest, so a few high-leverage months drive the
  residual variance; with about a hundred months per period HC3 (MacKinnon & White
  1985, the jackknife-like choice Long & Ervin 2000 recommend below n = 250) is the
  conservative choice. HC1 (White with the n/(n-k) correction, Stata's ``robust``) and
  HC0 (White's) are available. Alpha is annualized arithmetically, ``12 * alpha``;
  R-squared and n come from the fit.
- **Sharpe ratios** of both, from :func:`portflow.quant.metrics.sharpe_ratio`.
- **Appraisal ratio** ``sqrt(12) * alpha / sigma_eps``, sigma_eps the residual standard
  deviation ``sqrt(SSR / (n - 2))``: the Sharpe ratio of the hedged bet
  ``y - beta x``, i.e. what adding the managed strategy to the unmanaged one adds
  (the Sharpe ratio of the optimal combination is sqrt(SR_x^2 + AR^2)).
- **Volatility-matched series** (the paper's Table I): the managed series times
  ``vol_scale = std(x) / std(y)`` (over the same period) has the unmanaged volatility, as
  the paper's constant c makes it, so alphas compare across strategies. Its alpha, the
  alpha's standard error, beta and residual standard deviation are ``vol_scale`` times
  the managed series' (``alpha_scaled_annual``, ``alpha_scaled_se_annual``,
  ``beta_scaled``; ``rmse_scaled_annual`` is the monthly residual standard deviation
  times 12, the paper's RMSE, in the alpha's units, so that the appraisal ratio is
  ``sqrt(12) * alpha / RMSE``); t-statistics, R-squared, Sharpe and appraisal ratios do
  not depend on the scale. The scale is computed ex post over the period it describes,
  which is look-ahead: it is for presentation only. The strategy itself
  (``vol_strategy_returns``) is ex ante.
- **Turnover**: mean monthly ``turnover`` (the risky notional traded, on which costs are
  charged), ``turnover_two_way`` (cash leg included) and ``turnover_one_way`` (half of
  it); see ``portflow.quant.vol_managed.strategy_returns``; and the mean exposure.
- **Exposure**: ``max_exposure`` is the largest exposure of any signal the strategy uses
  in the period (the market's for the common signal, each asset's for the per-asset
  one). Above ``exposure_warning`` the stage warns (``UserWarning``) and says so in the
  row's ``note``, with the signal and the month; ``vol_managed.leverage_cap`` caps it.
- **Alpha after costs**: a cost of c (decimal; 1 bp = 1e-4) per unit of turnover is paid
  in the month of the trade, ``y_t - c * turnover_t``, and the regression is re-run.
  Because OLS is linear in y, ``alpha_net(c) = alpha - c * a_tau`` where a_tau is the
  intercept of turnover regressed on x; the **break-even cost** is the c where
  ``alpha_net`` is 0, ``alpha / a_tau`` (in bp; negative when the gross alpha is
  negative; it is the same for the rescaled series, whose turnover scales with it).
"""

from __future__ import annotations

import warnings
from typing import Literal

import numpy as np
import pandas as pd

from portflow.errors import DataError
from portflow.quant.metrics import annualized_volatility, sharpe_ratio
from portflow.quant.regression import CovType, HacLags, errors_label, ols_fit

STAGE = "vol_evaluation"
PERIODS = ("train", "test", "full")
"""Periods in the order they are reported (a run has train and test, or full)."""
MONTHS_PER_YEAR = 12
BP = 1e-4
SIGNAL_OF = {
    "market_managed": "common",
    "basket_common": "common",
    "basket_per_asset": "per_asset",
}
"""The signal whose exposures each managed strategy holds."""


def alpha_regression(
    managed_excess: pd.Series,
    unmanaged_excess: pd.Series,
    cov_type: CovType = "HC3",
    hac_lags: HacLags | None = None,
):
    """OLS of managed on unmanaged excess returns with the chosen standard errors.

    Parameters
    ----------
    managed_excess, unmanaged_excess : Series of shape (n_months,)
        Monthly excess returns over the same months (decimal).
    cov_type : {"HC0", "HC1", "HC2", "HC3", "HAC"}
        statsmodels covariance (:mod:`portflow.quant.regression`).
    hac_lags : int or "auto", optional
        Lags of ``HAC`` errors.

    Returns
    -------
    statsmodels RegressionResults
        ``params`` = [const (monthly alpha), unmanaged (beta)], positional.
    """
    return ols_fit(
        managed_excess.to_numpy(dtype=float),
        unmanaged_excess.to_numpy(dtype=float),
        cov_type=cov_type,
        hac_lags=hac_lags,
    )


def _cost_column(cost_bp: float) -> str:
    return f"alpha_net_{cost_bp:g}bp"


def _period_row(managed: pd.DataFrame, unmanaged: pd.DataFrame, errors: dict, costs_bps) -> dict:
    y, x = managed["excess_return"], unmanaged["excess_return"]
    fit = alpha_regression(y, x, **errors)
    alpha, beta = fit.params
    alpha_se, beta_se = fit.bse
    residual_std = float(np.sqrt(fit.mse_resid))
    turnover = managed["turnover"]
    turnover_alpha = alpha_regression(turnover, x, **errors).params[0]
    vol_managed = annualized_volatility(y, MONTHS_PER_YEAR)
    vol_unmanaged = annualized_volatility(x, MONTHS_PER_YEAR)
    scale = vol_unmanaged / vol_managed
    row = {
        "cov_type": errors_label(fit),
        "start": managed.index.min(),
        "end": managed.index.max(),
        "n_months": int(fit.nobs),
        "alpha_annual": MONTHS_PER_YEAR * alpha,
        "alpha_se_annual": MONTHS_PER_YEAR * alpha_se,
        "alpha_tstat": fit.tvalues[0],
        "beta": beta,
        "beta_se": beta_se,
        "r_squared": fit.rsquared,
        "sharpe_managed": sharpe_ratio(managed["total_return"], managed["rf"], MONTHS_PER_YEAR),
        "sharpe_unmanaged": sharpe_ratio(
            unmanaged["total_return"], unmanaged["rf"], MONTHS_PER_YEAR
        ),
        "appraisal_ratio": np.sqrt(MONTHS_PER_YEAR) * alpha / residual_std
        if residual_std > 0
        else np.nan,
        "vol_managed": vol_managed,
        "vol_unmanaged": vol_unmanaged,
        "vol_scale": scale,
        "alpha_scaled_annual": MONTHS_PER_YEAR * alpha * scale,
        "alpha_scaled_se_annual": MONTHS_PER_YEAR * alpha_se * scale,
        "beta_scaled": beta * scale,
        "rmse_scaled_annual": MONTHS_PER_YEAR * residual_std * scale,
        "mean_exposure": managed["exposure"].mean(),
        "turnover": turnover.mean(),
        "turnover_one_way": managed["turnover_two_way"].mean() / 2.0,
        "turnover_two_way": managed["turnover_two_way"].mean(),
    }
    for cost in costs_bps:
        net = alpha_regression(y - cost * BP * turnover, x, **errors).params[0]
        row[_cost_column(cost)] = MONTHS_PER_YEAR * net
    row["break_even_bp"] = alpha / turnover_alpha / BP if turnover_alpha > 0 else np.nan
    return row


def _period(frame: pd.DataFrame, strategy: str, period: str, min_months: int) -> pd.DataFrame:
    rows = frame[(frame["strategy"] == strategy) & (frame["period"] == period)]
    if len(rows) < min_months:
        window = {
            "train": "train_start/train_end",
            "test": "train_end/test_end",
            "full": "train_start/test_end",
        }[period]
        raise DataError(
            STAGE,
            f"vol_managed.{window}",
            f"the {period} period holds {len(rows)} months of {strategy} returns "
            f"(fewest allowed: vol_managed.min_months={min_months})",
            "move the window so that each period holds enough months, or widen data.start/data.end",
        )
    return rows.set_index("month").sort_index()


def _largest_exposure(signals: pd.DataFrame, months: pd.Index) -> tuple[float, str, pd.Timestamp]:
    """The largest exposure among ``signals`` in ``months``, its asset and its month."""
    held = signals[signals["month"].isin(months)]
    top = held.loc[held["exposure"].idxmax()]
    return float(top["exposure"]), str(top["asset"]), pd.Timestamp(top["month"])


def _market_note(market: str, market_return: str) -> str:
    if market_return == "benchmark":
        return f"Market: {market}, its own monthly return and its daily variance."
    return (
        f"Market: the Fama-French market's total return Mkt-RF + RF (Kenneth R. French Data "
        f"Library, factor source {market_return}), its variance from {market}'s daily returns."
    )


def vol_evaluation(
    vol_strategy_returns: pd.DataFrame,
    vol_signals: pd.DataFrame,
    *,
    cov_type: Literal["HC0", "HC1", "HC2", "HC3", "HAC"] = "HC3",
    hac_lags: HacLags | None = None,
    costs_bps: tuple[float, ...] = (1.0, 10.0, 14.0),
    min_months: int = 12,
    exposure_warning: float | None = None,
    market: str,
    market_return: str = "benchmark",
) -> pd.DataFrame:
    """Evaluate each managed strategy against its unmanaged counterpart, per period.

    Parameters
    ----------
    vol_strategy_returns : DataFrame
        Output of
        :func:`portflow.quant.vol_managed.strategy_returns.vol_strategy_returns` (tidy:
        month, strategy, unmanaged, period, rf, excess_return, total_return, exposure,
        turnover, turnover_two_way).
    vol_signals : DataFrame
        Output of :func:`portflow.quant.vol_managed.signals.vol_signals` (the exposure of
        every signal, for ``max_exposure``).
    cov_type : {"HC0", "HC1", "HC2", "HC3", "HAC"}
        Standard errors of the alpha regression (module docstring).
    hac_lags : int or "auto", optional
        Lags of ``HAC`` errors, per period; only with ``HAC``.
    costs_bps : tuple of float
        Costs in basis points per unit of turnover; one ``alpha_net_<c>bp`` column each.
    min_months : int
        Fewest months each period must hold.
    exposure_warning : float, optional
        Exposure above which the row is flagged and a ``UserWarning`` raised.
    market : str
        Ticker whose daily variance drives the common signal (for the note).
    market_return : str
        Where the market's monthly return came from: ``benchmark``, or the factor source
        of ``Mkt-RF + RF`` (for the note).

    Returns
    -------
    DataFrame of shape (n_managed_strategies * n_periods, 33 + len(costs_bps))
        One row per (managed strategy, period), periods "train" then "test", or "full".
        Columns: ``strategy``, ``unmanaged``, ``period``, ``cov_type`` (the errors used,
        e.g. ``HC3`` or ``HAC(5)``), ``start``, ``end`` (first and last month),
        ``n_months``; ``alpha_annual``, ``alpha_se_annual``, ``alpha_tstat``, ``beta``,
        ``beta_se``, ``r_squared`` (the regression); ``sharpe_managed``,
        ``sharpe_unmanaged``, ``appraisal_ratio`` (annualized); ``vol_managed``,
        ``vol_unmanaged`` (annualized), ``vol_scale``; the volatility-matched
        ``alpha_scaled_annual``, ``alpha_scaled_se_annual``, ``beta_scaled``,
        ``rmse_scaled_annual``; ``mean_exposure``, ``turnover``, ``turnover_one_way``,
        ``turnover_two_way`` (means per month); ``alpha_net_<c>bp`` (annualized, per
        cost), ``break_even_bp``; ``max_exposure`` and ``note`` (the market's source, and
        an exposure above ``exposure_warning``). Returns and alphas are decimals per year
        (0.02 = 2%).

    Raises
    ------
    DataError
        When a period holds fewer than ``min_months`` months.
    """
    pairs = vol_strategy_returns[["strategy", "unmanaged"]].drop_duplicates()
    pairs = pairs[pairs["strategy"] != pairs["unmanaged"]]
    periods = [p for p in PERIODS if p in set(vol_strategy_returns["period"])]
    errors = {"cov_type": cov_type, "hac_lags": hac_lags}
    market_note = _market_note(market, market_return)
    rows = []
    for strategy, unmanaged in pairs.itertuples(index=False):
        signals = vol_signals[vol_signals["signal"] == SIGNAL_OF[strategy]]
        for period in periods:
            y = _period(vol_strategy_returns, strategy, period, min_months)
            x = _period(vol_strategy_returns, unmanaged, period, min_months)
            if not y.index.equals(x.index):
                raise ValueError(f"{strategy} and {unmanaged} cover different months")
            largest, asset, month = _largest_exposure(signals, y.index)
            notes = [market_note]
            if exposure_warning is not None and largest > exposure_warning:
                flag = (
                    f"{strategy} ({period}): exposure reaches {largest:.1f}x ({asset}, "
                    f"{month:%Y-%m}), above vol_managed.exposure_warning {exposure_warning:g}; "
                    "vol_managed.leverage_cap caps it"
                )
                warnings.warn(f"[{STAGE}] {flag}", UserWarning, stacklevel=2)
                notes.append(flag)
            rows.append(
                {
                    "strategy": strategy,
                    "unmanaged": unmanaged,
                    "period": period,
                    **_period_row(y, x, errors, costs_bps),
                    "max_exposure": largest,
                    "note": " | ".join(notes),
                }
            )
    return pd.DataFrame(rows)
