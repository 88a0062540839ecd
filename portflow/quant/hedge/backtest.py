"""Backtest of a long-basket / short-benchmark book rebalanced to a rolling beta, with costs.

Accounting (money in the quote currency; ``E`` = equity, the capital the returns are on)
-----------------------------------------------------------------------------------------
State at the close of day t, after any rebalance: long notional ``L_t`` in the basket,
short notional ``S_t >= 0`` in the benchmark (the book is short ``S_t``), equity ``E_t``.
The short sale proceeds sit as cash; no interest is credited on cash or proceeds, and no
borrow fee or financing is charged (so the excess return over the risk-free rate is
conservative by about ``rf`` times the cash balance).

1. Drift. Between rebalances each leg earns its own return:
   ``L_t = L_{t-1} (1 + r_p,t)``, ``S_t = S_{t-1} (1 + r_b,t)``, and the day's P&L is
   ``PnL_t = L_{t-1} r_p,t - S_{t-1} r_b,t``. The long leg earns the basket's return, so
   the basket is re-weighted to its volume weights inside the long leg at no cost (the
   basket's own re-weighting is part of its definition, reported as ``basket_turnover``
   by ``basket_returns``).
2. Rebalance at the close of a decision date d (the first one is the inception d0, with
   ``L = S = 0`` and ``E = capital`` before it). The equity after the day's P&L,
   ``E*_d = E_{d-1} + PnL_d``, and the beta decided at d set the targets:

   - ``beta_neutral``:  ``L = E*_d``,             ``S = beta E*_d``
   - ``capital_split``: ``L = E*_d / (1 + beta)``, ``S = beta E*_d / (1 + beta)``

   Traded notional ``|L_new - L_old| + |S_new - S_old|`` (``L_old``, ``S_old`` drifted),
   cost ``cost_rate x traded``, paid from cash at d's close, so the positions are set
   from the pre-cost equity and ``E_d = E*_d - cost_d``.
3. Returns on the previous close's equity: gross ``PnL_t / E_{t-1}``, net
   ``(PnL_t - cost_t) / E_{t-1}``. Both are the same book (the positions are the ones
   the costed book holds); gross only leaves the day's costs out. On d0 the gross return
   is 0 and the net return is ``-cost_d0 / capital``.

Timing: the beta decided at d (estimated with returns up to d, see
``portflow.quant.hedge.beta``) sets positions at d's close, which earn from d+1.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from portflow.errors import DataError, preview

STAGE = "hedge_backtest"
CONVENTIONS = ("beta_neutral", "capital_split")

BACKTEST_COLUMNS = (
    "gross_return",
    "net_return",
    "long_notional",
    "short_notional",
    "equity",
    "traded_notional",
    "cost",
    "beta",
    "rebalance",
)


def hedge_legs(
    equity: float, beta: float, convention: Literal["beta_neutral", "capital_split"]
) -> tuple[float, float]:
    """Target (long, short) notionals for ``equity`` under a hedge-ratio convention.

    Both are in money; the short notional is a positive number the book is short.
    """
    if convention == "beta_neutral":
        return equity, beta * equity
    return equity / (1.0 + beta), beta * equity / (1.0 + beta)


def _check(basket_returns: pd.DataFrame, rolling_beta: pd.DataFrame, convention: str) -> None:
    if convention not in CONVENTIONS:
        raise DataError(
            STAGE,
            "hedge.convention",
            f"unknown convention {convention!r}",
            f"choose one of {', '.join(CONVENTIONS)}",
        )
    if rolling_beta.empty or rolling_beta["beta"].isna().any():
        raise DataError(
            STAGE,
            "rolling_beta",
            "no rebalance dates, or a rebalance without a beta",
            "rebuild the rolling beta (check hedge.beta_window and hedge.rebalance_every)",
        )
    unknown = rolling_beta.index.difference(basket_returns.index)
    if len(unknown):
        raise DataError(
            STAGE,
            "rolling_beta",
            f"{len(unknown)} rebalance dates not in basket_returns: "
            + preview(d.strftime("%Y-%m-%d") for d in unknown),
            "estimate the rolling beta from the same basket_returns",
        )
    if convention == "capital_split" and (rolling_beta["beta"] <= -1.0).any():
        bad = rolling_beta.index[rolling_beta["beta"] <= -1.0]
        raise DataError(
            STAGE,
            "hedge.convention",
            "capital_split needs beta > -1 (it divides by 1 + beta), but beta <= -1 on "
            + preview(d.strftime("%Y-%m-%d") for d in bad),
            "use convention beta_neutral",
        )
    if basket_returns[["basket", "benchmark"]].isna().any().any():
        raise DataError(
            STAGE,
            "basket_returns",
            "missing basket or benchmark returns",
            "rebuild basket_returns from complete daily returns",
        )


def hedge_backtest(
    basket_returns: pd.DataFrame,
    hedge_rolling_beta: pd.DataFrame,
    *,
    convention: Literal["beta_neutral", "capital_split"] = "beta_neutral",
    cost_rate: float = 0.0005,
    capital: float = 1_000_000.0,
) -> pd.DataFrame:
    """Simulate the hedged book day by day (see the module docstring for the accounting).

    Parameters
    ----------
    basket_returns : DataFrame of shape (n_dates, >= 2)
        Columns ``basket`` and ``benchmark``: simple decimal returns per day.
    hedge_rolling_beta : DataFrame of shape (n_rebalances, >= 1)
        Column ``beta`` indexed by decision date (dates of ``basket_returns``); the first
        one is the inception.
    convention : {"beta_neutral", "capital_split"}
        How beta sets the two legs from the equity.
    cost_rate : float
        Cost per unit of traded notional (decimal, 0.0005 = 5 bp).
    capital : float
        Equity at inception, in money.

    Returns
    -------
    DataFrame of shape (n_dates - position of d0, 9)
        Index ``date`` from the inception d0 to the last date. Flows of day t:
        ``gross_return`` and ``net_return`` (decimal on ``E_{t-1}``),
        ``traded_notional`` and ``cost`` (money, at t's close). State at t's close after
        trading: ``long_notional``, ``short_notional`` (money, short as a positive
        number), ``equity`` (money, after costs), ``beta`` (hedge ratio of the last
        rebalance on or before t, which set the positions held over t+1) and
        ``rebalance`` (bool, t is a decision date).

    Raises
    ------
    DataError
        Unknown convention, rebalance dates outside the returns, a beta <= -1 under
        ``capital_split``, or equity that reaches zero.
    """
    _check(basket_returns, hedge_rolling_beta, convention)
    dates = basket_returns.index
    start = dates.get_loc(hedge_rolling_beta.index.min())
    dates = dates[start:]
    r_p = basket_returns["basket"].to_numpy(dtype=float)[start:]
    r_b = basket_returns["benchmark"].to_numpy(dtype=float)[start:]
    betas = hedge_rolling_beta["beta"].reindex(dates).to_numpy(dtype=float)
    rebalance = ~np.isnan(betas)

    n = len(dates)
    out = {name: np.zeros(n) for name in BACKTEST_COLUMNS if name != "rebalance"}
    long = short = 0.0
    equity = float(capital)
    beta = np.nan
    for t in range(n):
        if t > 0:
            pnl = long * r_p[t] - short * r_b[t]
            long *= 1.0 + r_p[t]
            short *= 1.0 + r_b[t]
        else:
            pnl = 0.0
        before = equity
        equity += pnl
        traded = cost = 0.0
        if rebalance[t]:
            beta = betas[t]
            new_long, new_short = hedge_legs(equity, beta, convention)
            traded = abs(new_long - long) + abs(new_short - short)
            cost = cost_rate * traded
            long, short = new_long, new_short
            equity -= cost
        if equity <= 0.0:
            raise DataError(
                STAGE,
                "equity",
                f"the book lost all its capital on {dates[t]:%Y-%m-%d}",
                "check the beta and the returns; lower the cost rate or use capital_split",
            )
        out["gross_return"][t] = pnl / before
        out["net_return"][t] = (pnl - cost) / before
        out["long_notional"][t] = long
        out["short_notional"][t] = short
        out["equity"][t] = equity
        out["traded_notional"][t] = traded
        out["cost"][t] = cost
        out["beta"][t] = beta
    frame = pd.DataFrame(out, index=pd.DatetimeIndex(dates, name="date"))
    frame["rebalance"] = rebalance
    return frame[list(BACKTEST_COLUMNS)]
