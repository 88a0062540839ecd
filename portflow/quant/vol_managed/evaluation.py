"""The ``vol_evaluation`` stage: did timing volatility add alpha, as in Moreira & Muir (2017)?

For each managed strategy and each period (train, test), with y the managed and x the
unmanaged monthly excess returns over the same months:

- **Alpha regression** ``y_t = alpha + beta x_t + eps_t`` by OLS (statsmodels ``sm.OLS``)
  with heteroskedasticity-robust standard errors, ``cov_type`` (default ``HC3``).
  Why HC3: the regressor is most extreme in crisis months, exactly where the managed
  strategy's exposure is smallest, so a few high-leverage months drive the residual
  variance; with about a hundred months per period HC3 (MacKinnon & White 1985, the
  jackknife-like choice Long & Ervin 2000 recommend below n = 250) is the conservative
  choice. HC1 (White with the n/(n-k) correction, Stata's ``robust``) is available.
  Alpha is annualized arithmetically, ``12 * alpha``; R-squared and n come from the fit.
- **Sharpe ratios** of both, from :func:`portflow.quant.metrics.sharpe_ratio`.
- **Appraisal ratio** ``sqrt(12) * alpha / sigma_eps``, sigma_eps the residual standard
  deviation ``sqrt(SSR / (n - 2))``: the Sharpe ratio of the hedged bet
  ``y - beta x``, i.e. what adding the managed strategy to the unmanaged one adds
  (the Sharpe ratio of the optimal combination is sqrt(SR_x^2 + AR^2)).
- **Rescaled alpha**: the managed series times ``vol_scale = std(x) / std(y)`` (over the
  same period) has the unmanaged volatility, as in the paper's tables, so alphas compare
  across strategies; its alpha is ``vol_scale * alpha``. The scale is computed ex post
  over the period it describes, which is look-ahead: it is for presentation only. The
  strategy itself (``vol_strategy_returns``) is ex ante; t-statistics, Sharpe and
  appraisal ratios do not depend on the scale.
- **Turnover**: mean monthly ``sum_i w_i |e_{i,t} - e_{i,t-1}|`` (see
  ``portflow.quant.vol_managed.strategy_returns``) and the mean exposure.
- **Alpha after costs**: a cost of c (decimal; 1 bp = 1e-4) per unit of turnover is paid
  in the month of the trade, ``y_t - c * turnover_t``, and the regression is re-run.
  Because OLS is linear in y, ``alpha_net(c) = alpha - c * a_tau`` where a_tau is the
  intercept of turnover regressed on x; the **break-even cost** is the c where
  ``alpha_net`` is 0, ``alpha / a_tau`` (in bp; negative when the gross alpha is
  negative; it is the same for the rescaled series, whose turnover scales with it).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
import statsmodels.api as sm

from portflow.errors import DataError
from portflow.quant.metrics import annualized_volatility, sharpe_ratio

STAGE = "vol_evaluation"
PERIODS = ("train", "test")
MONTHS_PER_YEAR = 12
BP = 1e-4


def alpha_regression(managed_excess: pd.Series, unmanaged_excess: pd.Series, cov_type: str = "HC3"):
    """OLS of managed on unmanaged excess returns with robust standard errors.

    Parameters
    ----------
    managed_excess, unmanaged_excess : Series of shape (n_months,)
        Monthly excess returns over the same months (decimal).
    cov_type : {"HC0", "HC1", "HC2", "HC3"}
        statsmodels heteroskedasticity-robust covariance.

    Returns
    -------
    statsmodels RegressionResults
        ``params`` = [const (monthly alpha), unmanaged (beta)].
    """
    x = sm.add_constant(unmanaged_excess.to_numpy(dtype=float))
    return sm.OLS(managed_excess.to_numpy(dtype=float), x).fit(cov_type=cov_type)


def _cost_column(cost_bp: float) -> str:
    return f"alpha_net_{cost_bp:g}bp"


def _period_row(managed: pd.DataFrame, unmanaged: pd.DataFrame, cov_type: str, costs_bps) -> dict:
    y, x = managed["excess_return"], unmanaged["excess_return"]
    fit = alpha_regression(y, x, cov_type)
    alpha, beta = fit.params
    alpha_se, beta_se = fit.bse
    residual_std = float(np.sqrt(fit.mse_resid))
    turnover = managed["turnover"]
    turnover_alpha = alpha_regression(turnover, x, cov_type).params[0]
    vol_managed = annualized_volatility(y, MONTHS_PER_YEAR)
    vol_unmanaged = annualized_volatility(x, MONTHS_PER_YEAR)
    row = {
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
        "vol_scale": vol_unmanaged / vol_managed,
        "alpha_scaled_annual": MONTHS_PER_YEAR * alpha * vol_unmanaged / vol_managed,
        "mean_exposure": managed["exposure"].mean(),
        "turnover": turnover.mean(),
    }
    for cost in costs_bps:
        net = alpha_regression(y - cost * BP * turnover, x, cov_type).params[0]
        row[_cost_column(cost)] = MONTHS_PER_YEAR * net
    row["break_even_bp"] = alpha / turnover_alpha / BP if turnover_alpha > 0 else np.nan
    return row


def _period(frame: pd.DataFrame, strategy: str, period: str, min_months: int) -> pd.DataFrame:
    rows = frame[(frame["strategy"] == strategy) & (frame["period"] == period)]
    if len(rows) < min_months:
        window = "train_start/train_end" if period == "train" else "train_end/test_end"
        raise DataError(
            STAGE,
            f"vol_managed.{window}",
            f"the {period} period holds {len(rows)} months of {strategy} returns "
            f"(fewest allowed: vol_managed.min_months={min_months})",
            "move vol_managed.train_end so both periods hold enough months, or widen "
            "data.start/data.end",
        )
    return rows.set_index("month").sort_index()


def vol_evaluation(
    vol_strategy_returns: pd.DataFrame,
    *,
    cov_type: Literal["HC0", "HC1", "HC2", "HC3"] = "HC3",
    costs_bps: tuple[float, ...] = (1.0, 10.0, 14.0),
    min_months: int = 12,
) -> pd.DataFrame:
    """Evaluate each managed strategy against its unmanaged counterpart, per period.

    Parameters
    ----------
    vol_strategy_returns : DataFrame
        Output of
        :func:`portflow.quant.vol_managed.strategy_returns.vol_strategy_returns` (tidy:
        month, strategy, unmanaged, period, rf, excess_return, total_return, exposure, turnover).
    cov_type : {"HC0", "HC1", "HC2", "HC3"}
        Robust covariance of the alpha regression (module docstring).
    costs_bps : tuple of float
        Costs in basis points per unit of turnover; one ``alpha_net_<c>bp`` column each.
    min_months : int
        Fewest months each period must hold.

    Returns
    -------
    DataFrame of shape (n_managed_strategies * 2, 24 + len(costs_bps))
        One row per (managed strategy, period), periods "train" then "test". Columns:
        ``strategy``, ``unmanaged``, ``period``, ``cov_type``, ``start``, ``end`` (first
        and last month), ``n_months``; ``alpha_annual``, ``alpha_se_annual``,
        ``alpha_tstat``, ``beta``, ``beta_se``, ``r_squared`` (the robust regression);
        ``sharpe_managed``, ``sharpe_unmanaged``, ``appraisal_ratio`` (annualized);
        ``vol_managed``, ``vol_unmanaged`` (annualized), ``vol_scale``,
        ``alpha_scaled_annual``; ``mean_exposure``, ``turnover`` (mean per month);
        ``alpha_net_<c>bp`` (annualized, per cost) and ``break_even_bp``. Returns and
        alphas are decimals per year (0.02 = 2%).

    Raises
    ------
    DataError
        When a period holds fewer than ``min_months`` months.
    """
    pairs = vol_strategy_returns[["strategy", "unmanaged"]].drop_duplicates()
    pairs = pairs[pairs["strategy"] != pairs["unmanaged"]]
    rows = []
    for strategy, unmanaged in pairs.itertuples(index=False):
        for period in PERIODS:
            y = _period(vol_strategy_returns, strategy, period, min_months)
            x = _period(vol_strategy_returns, unmanaged, period, min_months)
            if not y.index.equals(x.index):
                raise ValueError(f"{strategy} and {unmanaged} cover different months")
            rows.append(
                {
                    "strategy": strategy,
                    "unmanaged": unmanaged,
                    "period": period,
                    "cov_type": cov_type,
                    **_period_row(y, x, cov_type, costs_bps),
                }
            )
    return pd.DataFrame(rows)


DISPLAY = {
    "n_months": ("n", "{:.0f}"),
    "alpha_annual": ("alpha %/yr", "{:.2%}"),
    "alpha_tstat": ("t(alpha)", "{:.2f}"),
    "beta": ("beta", "{:.2f}"),
    "r_squared": ("R2", "{:.2f}"),
    "sharpe_unmanaged": ("SR unmanaged", "{:.2f}"),
    "sharpe_managed": ("SR managed", "{:.2f}"),
    "appraisal_ratio": ("appraisal", "{:.2f}"),
    "alpha_scaled_annual": ("alpha scaled %/yr", "{:.2%}"),
    "mean_exposure": ("mean exposure", "{:.2f}"),
    "turnover": ("turnover/mo", "{:.2f}"),
}
"""Columns of the printed evaluation table: source column -> (header, format)."""


def evaluation_markdown(evaluation: pd.DataFrame) -> str:
    """The evaluation as a Markdown table for reports (percent alphas, rounded ratios).

    Parameters
    ----------
    evaluation : DataFrame
        Output of :func:`vol_evaluation`.

    Returns
    -------
    str
        One line per (strategy, period): the :data:`DISPLAY` columns, then every
        ``alpha_net_<c>bp`` column and the break-even cost in bp.
    """
    costs = [c for c in evaluation.columns if c.startswith("alpha_net_")]
    display = {
        **DISPLAY,
        **{c: (c.removeprefix("alpha_net_") + " net %/yr", "{:.2%}") for c in costs},
        "break_even_bp": ("break-even bp", "{:.1f}"),
    }
    headers = ["strategy", "period", *(h for h, _ in display.values())]
    lines = ["| " + " | ".join(headers) + " |", "|---|---|" + "---:|" * len(display)]
    for _, row in evaluation.iterrows():
        cells = [row["strategy"], row["period"]]
        cells += [fmt.format(row[column]) for column, (_, fmt) in display.items()]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
