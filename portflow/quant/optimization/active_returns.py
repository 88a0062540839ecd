"""The ``optimized_returns`` stage: weights decided at t earn the returns of t+1.

For every sweep point and for the benchmark, at every decision date t with a next month
t+1 in the return calendar:

- ``portfolio_return = sum_i w_it r_i,t+1`` (simple monthly returns, not excess);
  ``benchmark_return`` likewise with ``b_t``; ``active_return`` is their difference. A
  held stock that leaves during t+1 (delisted: t+1 is its last monthly return, which
  compounds its returns up to its last day, delisting return included) is held to that
  last return and then dropped; its weight is reported as ``delisted_weight``. A held
  stock without a return in t+1 earns 0 and its weight is reported as ``missing_weight``;
- a decision whose solve failed has no portfolio: its returns are NaN (the failure is
  counted in the report, the portfolio is not replaced by another);
- ``turnover_t = 1/2 sum_i |w_it - w~_it|`` against the previous month's weights drifted
  with month t's returns, ``w~_it = w_i,t-1 (1 + r_it) / (1 + r_p,t)``; NaN at the first
  decision and after a failed one;
- diversification: ``names_held`` (weights above ``holding_threshold``), the effective
  number of names ``1 / sum w^2`` and ``exp(-sum w ln w)`` (weights clipped at 0).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from portflow.quant.optimization.sweep import WEIGHT

BENCHMARK = "benchmark"


def diversification(weights: np.ndarray, holding_threshold: float) -> np.ndarray:
    """Names held, effective number of names and exp(entropy) of each row of ``weights``.

    Parameters
    ----------
    weights : ndarray of shape (n_portfolios, n_stocks)
        NaN rows (no portfolio) give NaN.

    Returns
    -------
    ndarray of shape (n_portfolios, 3)
    """
    w = np.clip(np.nan_to_num(weights, nan=0.0), 0.0, None)
    held = (w > holding_threshold).sum(axis=1).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        effective = 1.0 / (w**2).sum(axis=1)
        entropy = -np.where(w > 0, w * np.log(np.where(w > 0, w, 1.0)), 0.0).sum(axis=1)
    out = np.column_stack([held, effective, np.exp(entropy)])
    out[np.isnan(weights).all(axis=1)] = np.nan
    return out


def last_return_months(monthly: pd.DataFrame) -> np.ndarray:
    """Position of each ticker's last monthly return in ``monthly`` (-1 if none)."""
    valid = monthly.notna().to_numpy()
    last = len(valid) - 1 - valid[::-1].argmax(axis=0)
    return np.where(valid.any(axis=0), last, -1)


def _realized(weights: np.ndarray, returns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Portfolio returns (missing stock returns earn 0) and the weight on missing returns."""
    missing = np.isnan(returns)
    gross = np.nansum(weights * np.where(missing, 0.0, returns), axis=1)
    gross[np.isnan(weights).all(axis=1)] = np.nan
    return gross, np.nansum(np.abs(weights) * missing, axis=1)


def _turnover(weights: np.ndarray, returns_t: np.ndarray, consecutive: np.ndarray) -> np.ndarray:
    """One-way turnover of each row against the previous row drifted by ``returns_t``.

    ``returns_t[j]`` are the stock returns of month t_j (between decisions j-1 and j);
    ``consecutive[j]`` says decision j-1 was the month before decision j.
    """
    turnover = np.full(len(weights), np.nan)
    for j in range(1, len(weights)):
        previous = weights[j - 1]
        if not consecutive[j] or np.isnan(previous).all() or np.isnan(weights[j]).all():
            continue
        grown = previous * (1.0 + np.nan_to_num(returns_t[j], nan=0.0))
        drifted = grown / grown.sum()
        turnover[j] = 0.5 * np.nansum(np.abs(np.nan_to_num(weights[j]) - drifted))
    return turnover


def _series(
    decisions: pd.DatetimeIndex,
    weights: np.ndarray,
    monthly: pd.DataFrame,
    holding_threshold: float,
) -> pd.DataFrame:
    """Realized figures of one weight history on the monthly calendar."""
    realized_at = decisions + pd.offsets.MonthEnd(1)
    has_next = realized_at.isin(monthly.index)
    stock_returns = monthly.reindex(realized_at).to_numpy(float)
    gross, missing = _realized(weights, stock_returns)
    last = last_return_months(monthly)
    position = monthly.index.get_indexer(realized_at)
    leaves = (last[None, :] == position[:, None]) & (last[None, :] < len(monthly) - 1)
    delisted = np.nansum(np.abs(weights) * leaves, axis=1)
    returns_t = monthly.reindex(decisions).to_numpy(float)
    consecutive = np.r_[False, (decisions[1:] == decisions[:-1] + pd.offsets.MonthEnd(1))]
    frame = pd.DataFrame(
        {
            "date": realized_at,
            "decided": decisions,
            "portfolio_return": gross,
            "missing_weight": missing,
            "delisted_weight": delisted,
            "turnover": _turnover(weights, returns_t, consecutive),
        }
    )
    frame[["names_held", "effective_names", "entropy_names"]] = diversification(
        weights, holding_threshold
    )
    return frame[has_next]


def optimized_returns(
    optimized_weights: pd.DataFrame,
    benchmark_weights: pd.DataFrame,
    holding_returns: pd.DataFrame,
    risk_free_monthly: pd.DataFrame,
    *,
    holding_threshold: float,
) -> pd.DataFrame:
    """Realized monthly returns of every sweep point and of the benchmark.

    Parameters
    ----------
    optimized_weights : DataFrame
        ``optimized_weights`` stage: one row per (decision date, strategy), ``w|<ticker>``.
    benchmark_weights : DataFrame
        ``benchmark_weights`` stage (long: date, ticker, weight, scheme).
    holding_returns : DataFrame of shape (n_months, n_tickers)
        Simple returns of the monthly holding periods, labeled by month-end (the
        ``holding_returns`` stage: calendar months when rebalancing on the last trading
        day, periods from first trading day to first trading day otherwise); the
        risk-free rate of the calendar month with the same label stands for its period.
    risk_free_monthly : DataFrame of shape (n_months, 1)
        Column ``rf``.
    holding_threshold : float
        Weight above which a stock counts as held.

    Returns
    -------
    DataFrame
        One row per (realization month, strategy), strategies first then the benchmark
        (``problem`` and ``strategy`` = ``benchmark``): ``date`` (t+1), ``decided`` (t),
        ``moments``, ``problem``, ``strategy``, ``value``, ``status``,
        ``portfolio_return``, ``benchmark_return``, ``active_return``, ``rf``,
        ``ex_ante_te`` (annualized, decided at t), ``turnover``, ``names_held``,
        ``effective_names``, ``entropy_names``, ``missing_weight``, ``delisted_weight``,
        ``benchmark_scheme`` (how ``b_t`` of the decision date was weighted: ``cap_weight``
        or ``equal_weight``).
    """
    tickers = [c.removeprefix(WEIGHT) for c in optimized_weights.columns if c.startswith(WEIGHT)]
    monthly = holding_returns.reindex(columns=tickers)
    rf = risk_free_monthly["rf"]
    bench = benchmark_weights.pivot(index="date", columns="ticker", values="weight")
    bench = bench.reindex(columns=tickers).fillna(0.0)
    scheme = benchmark_weights.groupby("date")["scheme"].first()

    decisions = pd.DatetimeIndex(sorted(optimized_weights["date"].unique()))
    bench_weights = bench.reindex(decisions).to_numpy(float, copy=True)
    bench_weights[~decisions.isin(bench.index)] = np.nan
    benchmark = _series(decisions, bench_weights, monthly, holding_threshold)
    benchmark_by_date = benchmark.set_index("decided")["portfolio_return"]
    moments = optimized_weights["moments"].iloc[0] if len(optimized_weights) else ""

    frames = []
    keys = ["moments", "problem", "strategy", "value"]
    for (moment, problem, strategy, value), rows in optimized_weights.groupby(keys, sort=False):
        rows = rows.sort_values("date")
        decided = pd.DatetimeIndex(rows["date"])
        weights = rows[[WEIGHT + t for t in tickers]].to_numpy(float)
        frame = _series(decided, weights, monthly, holding_threshold)
        kept = rows.set_index("date").loc[frame["decided"]]
        frame = frame.assign(
            moments=moment,
            problem=problem,
            strategy=strategy,
            value=value,
            status=kept["status"].to_numpy(),
            ex_ante_te=kept["ex_ante_te"].to_numpy(),
        )
        frames.append(frame)
    benchmark = benchmark.assign(
        moments=moments,
        problem=BENCHMARK,
        strategy=BENCHMARK,
        value=np.nan,
        status=np.where(benchmark["portfolio_return"].notna(), BENCHMARK, "no_benchmark"),
        ex_ante_te=0.0,
    )
    frame = pd.concat([*frames, benchmark], ignore_index=True)
    frame["benchmark_return"] = benchmark_by_date.reindex(frame["decided"]).to_numpy()
    frame["active_return"] = frame["portfolio_return"] - frame["benchmark_return"]
    frame["rf"] = rf.reindex(frame["date"]).to_numpy()
    frame["benchmark_scheme"] = scheme.reindex(frame["decided"]).fillna("none").to_numpy()
    columns = [
        "date", "decided", "moments", "problem", "strategy", "value", "status",
        "portfolio_return", "benchmark_return", "active_return", "rf", "ex_ante_te",
        "turnover", "names_held", "effective_names", "entropy_names", "missing_weight",
        "delisted_weight", "benchmark_scheme",
    ]  # fmt: skip
    return frame[columns]
