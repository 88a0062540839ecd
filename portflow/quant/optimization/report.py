"""The report stages of the active optimization: sweep metrics, the frontier, crises.

``optimization_report`` (:func:`optimization_report`): one row per sweep point and for the
benchmark, over the months with a realized return. The columns ``realized_te`` and
``information_ratio`` of the gamma and TEV rows are the IR-versus-TE frontier.

``crisis_report`` (:func:`crisis_report`): total and active return, maximum drawdown and
tracking error inside each configured crisis window, beside the full sample.

Conventions (monthly returns, 12 periods a year):

- Sharpe ratio, annualized return and volatility, drawdowns: ``portflow.quant.metrics``;
- active return ``a = r_p - r_b``; realized tracking error ``std(a, ddof=1) sqrt(12)``;
  information ratio ``12 mean(a) / realized TE`` (arithmetic, like the Sharpe ratio);
- ex-ante TE: the mean over decisions of the annualized ex-ante tracking error, so
  ``te_ratio = realized / ex-ante`` near 1 means the risk model's risk was the risk taken;
- turnover: the mean monthly one-way turnover ``1/2 sum_i |w_it - w~_it|`` of
  ``optimized_returns`` and the two-way ``turnover_two_way``, twice it (buys plus sells);
- decisions and failures count every decision of ``optimized_weights`` (the last one
  too, though it earns no return), for the benchmark as for the strategies: the
  benchmark decides at every decision date, and fails (``no_benchmark``) where
  ``benchmark_weights`` has no weights; failures are decisions whose status is neither
  ``optimal`` nor ``optimal_inaccurate`` (infeasible, solver errors, dates without
  tradable stocks or usable moments); their statuses are listed with counts in
  ``failure_statuses``.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from portflow.quant import metrics
from portflow.quant.optimization.active_problem import SOLVED
from portflow.quant.optimization.active_returns import BENCHMARK

PERIODS = metrics.PERIODS_PER_YEAR["monthly"]
FULL_SAMPLE = "full_sample"
KEYS = ["moments", "problem", "strategy", "value"]


def _failures(status: pd.Series) -> tuple[int, str]:
    failed = status[~status.isin([*SOLVED, BENCHMARK])]
    counts = failed.value_counts().sort_index()
    return int(failed.size), "; ".join(f"{s}: {c}" for s, c in counts.items())


def _tracking_error(active: pd.Series) -> float:
    return float(active.std(ddof=1) * np.sqrt(PERIODS)) if active.size >= 2 else np.nan


def _summary(rows: pd.DataFrame, decisions: pd.Series) -> dict:
    failures, statuses = _failures(decisions)
    realized = rows.dropna(subset=["portfolio_return"])
    returns = realized.set_index("date")["portfolio_return"]
    active = realized["active_return"]
    te = _tracking_error(active)
    enough = len(realized) >= 2
    return {
        "decisions": len(decisions),
        "failures": failures,
        "inaccurate": int(decisions.eq("optimal_inaccurate").sum()),
        "failure_statuses": statuses,
        "n_periods": len(realized),
        "ann_return": metrics.annualized_return(returns, PERIODS) if enough else np.nan,
        "ann_volatility": metrics.annualized_volatility(returns, PERIODS) if enough else np.nan,
        "sharpe": (
            metrics.sharpe_ratio(returns, realized.set_index("date")["rf"], PERIODS)
            if enough
            else np.nan
        ),
        "max_drawdown": metrics.max_drawdown(returns) if enough else np.nan,
        "active_return": float(active.mean() * PERIODS) if enough else np.nan,
        "realized_te": te,
        "information_ratio": float(active.mean() * PERIODS / te) if te and te > 0 else np.nan,
        "ex_ante_te": float(realized["ex_ante_te"].mean()) if enough else np.nan,
        "te_ratio": (
            te / realized["ex_ante_te"].mean()
            if enough and realized["ex_ante_te"].mean() > 0
            else np.nan
        ),
        "turnover": float(realized["turnover"].mean()),
        "turnover_two_way": 2.0 * float(realized["turnover"].mean()),
        "names_held": float(realized["names_held"].mean()),
        "effective_names": float(realized["effective_names"].mean()),
        "entropy_names": float(realized["entropy_names"].mean()),
        "delisted_weight": float(realized["delisted_weight"].sum()),
        "benchmark_scheme": _schemes(rows["benchmark_scheme"]),
    }


def _benchmark_decisions(
    optimized_weights: pd.DataFrame, benchmark_weights: pd.DataFrame
) -> pd.Series:
    """The benchmark's status at every decision date of the sweep."""
    dates = pd.DatetimeIndex(sorted(optimized_weights["date"].unique()))
    held = dates.isin(pd.DatetimeIndex(benchmark_weights["date"].unique()))
    return pd.Series(np.where(held, BENCHMARK, "no_benchmark"), index=dates, name="status")


def _schemes(schemes: pd.Series) -> str:
    """``cap_weight`` when every date used it, else the count of dates of each scheme."""
    counts = schemes.value_counts().sort_index()
    if len(counts) <= 1:
        return str(counts.index[0]) if len(counts) else "none"
    return "; ".join(f"{scheme}: {n} dates" for scheme, n in counts.items())


def optimization_report(
    optimized_returns: pd.DataFrame,
    optimized_weights: pd.DataFrame,
    benchmark_weights: pd.DataFrame,
) -> pd.DataFrame:
    """Metrics of every sweep point and of the benchmark.

    Parameters
    ----------
    optimized_returns : DataFrame
        ``optimized_returns`` stage: the realized months.
    optimized_weights : DataFrame
        ``optimized_weights`` stage: every decision with its status, the last one
        included (it has no realized month), so that every failure is counted.
    benchmark_weights : DataFrame
        ``benchmark_weights`` stage (long: date, ticker, weight, scheme): the dates on
        which the benchmark has weights, for its decisions.

    Returns
    -------
    DataFrame of shape (n_strategies, 27)
        Columns ``moments``, ``problem``, ``strategy``, ``value``, ``decisions``,
        ``failures``, ``inaccurate``, ``failure_statuses``, ``n_periods``, ``ann_return``,
        ``ann_volatility``, ``sharpe``, ``max_drawdown``, ``active_return`` (annualized,
        arithmetic), ``realized_te``, ``information_ratio``, ``ex_ante_te``, ``te_ratio``,
        ``turnover`` (mean monthly one-way), ``turnover_two_way``, ``names_held``,
        ``effective_names``, ``entropy_names`` (means over time), ``delisted_weight`` (weight
        held in stocks that left during their holding month, held to their last return;
        summed over the months) and ``benchmark_scheme`` (how b was weighted:
        ``equal_weight`` offline, the sample having no market caps; the number of dates of
        each scheme when they differ).
    """
    statuses = {key: rows["status"] for key, rows in optimized_weights.groupby(KEYS)}
    benchmark = _benchmark_decisions(optimized_weights, benchmark_weights)
    rows = []
    grouped = optimized_returns.groupby(KEYS, sort=False, dropna=False)
    for key, group in grouped:
        moments, problem, strategy, value = key
        decisions = benchmark if problem == BENCHMARK else statuses[key]
        rows.append(
            {"moments": moments, "problem": problem, "strategy": strategy, "value": value}
            | _summary(group, decisions)
        )
    return pd.DataFrame(rows)


def _window_row(rows: pd.DataFrame, months: pd.PeriodIndex, available: pd.PeriodIndex) -> dict:
    present = months.isin(available)
    coverage = "covered" if present.all() else "partial" if present.any() else "not covered"
    inside = rows[rows["date"].dt.to_period("M").isin(months)].dropna(subset=["portfolio_return"])
    if inside.empty:
        return {"coverage": coverage, "months": 0} | dict.fromkeys(
            [
                "total_return",
                "benchmark_return",
                "active_return",
                "max_drawdown",
                "tracking_error",
            ],  # fmt: skip
            np.nan,
        )
    total = float(np.prod(1.0 + inside["portfolio_return"]) - 1.0)
    benchmark = float(np.prod(1.0 + inside["benchmark_return"]) - 1.0)
    return {
        "coverage": coverage,
        "months": len(inside),
        "total_return": total,
        "benchmark_return": benchmark,
        "active_return": total - benchmark,
        "max_drawdown": metrics.max_drawdown(inside["portfolio_return"]),
        "tracking_error": _tracking_error(inside["active_return"]),
    }


def crisis_report(
    optimized_returns: pd.DataFrame, *, crisis_windows: dict[str, tuple[dt.date, dt.date]]
) -> pd.DataFrame:
    """Performance inside each crisis window, beside the full sample.

    Parameters
    ----------
    optimized_returns : DataFrame
        ``optimized_returns`` stage (``date`` is the month the return is earned).
    crisis_windows : dict of str to (date, date)
        Name -> (start, end); the window is every calendar month from start's to end's.

    Returns
    -------
    DataFrame
        One row per (strategy, window), the ``full_sample`` window first: ``moments``,
        ``problem``, ``strategy``, ``value``, ``window``, ``start``, ``end`` (month-ends),
        ``coverage`` (``covered``, ``partial`` or ``not covered`` by the realized months;
        a window outside the data is reported, not an error), ``months`` (with a
        return), ``total_return`` and ``benchmark_return`` (compounded over the window),
        ``active_return`` (their difference), ``max_drawdown`` (within the window) and
        ``tracking_error`` (annualized, NaN under 2 months).
    """
    available = pd.PeriodIndex(optimized_returns["date"].dt.to_period("M").unique())
    windows = {}
    if len(available):
        windows[FULL_SAMPLE] = (available.min(), available.max())
    for name, (start, end) in crisis_windows.items():
        windows[name] = (pd.Period(start, "M"), pd.Period(end, "M"))
    rows = []
    grouped = optimized_returns.groupby(KEYS, sort=False, dropna=False)
    for (moments, problem, strategy, value), group in grouped:
        for name, (first, last) in windows.items():
            months = pd.period_range(first, last, freq="M")
            rows.append(
                {
                    "moments": moments,
                    "problem": problem,
                    "strategy": strategy,
                    "value": value,
                    "window": name,
                    "start": first.to_timestamp(how="end").normalize(),
                    "end": last.to_timestamp(how="end").normalize(),
                }
                | _window_row(group, months, available)
            )
    return pd.DataFrame(rows)
