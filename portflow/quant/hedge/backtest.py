"""Backtest of a long-basket / short-benchmark book rebalanced to a rolling beta, financed.

Accounting (money in the quote currency; ``E`` = equity, the capital the returns are on)
-----------------------------------------------------------------------------------------
State at the close of day t, after any trade: long notional ``L_t`` in the basket, short
notional ``S_t >= 0`` in the benchmark (the book is short ``S_t``), equity ``E_t`` and
cash ``C_t = E_t - L_t + S_t``: the equity not in the basket plus the short sale's
proceeds (negative cash is a loan).

1. Drift. Each leg earns its own return over day t:
   ``L_t = L_{t-1} (1 + r_p,t)``, ``S_t = S_{t-1} (1 + r_b,t)``; the market P&L is
   ``PnL_t = L_{t-1} r_p,t - S_{t-1} r_b,t``.
2. Financing over day t, on the previous close's balances:

   - interest ``I_t = C_{t-1} rf_t`` with ``rf_t`` the day's risk-free return
     (``risk_free_daily``): the cash, short proceeds included, earns the risk-free rate
     (a full rebate on the proceeds), and a negative cash balance pays it;
   - borrow fee ``F_t = S_{t-1} x borrow_fee x days_t / 360`` with ``days_t`` the calendar
     days from t-1 to t (the actual/360 accrual of securities lending: a weekend counts 3).

3. Trades at the close of t, paid from cash, each costing ``cost_rate`` per unit of notional:

   - the basket's re-weighting to the next day's volume weights: the basket is re-weighted
     at every close, ``basket_traded_t = basket_turnover_t x L_t`` on the drifted long leg
     (``basket_turnover`` from ``basket_returns``: ``sum_i |w_i,t+1 - w~_i,t|``, a fraction
     of the basket's value);
   - at a decision date d (the first one is the inception d0, with ``L = S = 0`` and
     ``E = capital`` before it), the hedge's rebalance: the equity after the day's P&L and
     financing, ``E*_d = E_{d-1} + PnL_d + I_d - F_d``, and the beta decided at d set

     - ``beta_neutral``:  ``L = E*_d``,             ``S = beta E*_d``
     - ``capital_split``: ``L = E*_d / (1 + beta)``, ``S = beta E*_d / (1 + beta)``

     and ``traded_t = |L_new - L_old| + |S_new - S_old|`` (``L_old``, ``S_old`` drifted).

   ``cost_t = cost_rate x (traded_t + basket_traded_t)`` and ``E_t = E*_t - cost_t``: the
   positions are set from the pre-cost equity. At a rebalance the two trades are charged
   separately; the net trade per name, ``L_new w_i,t+1 - L_old w~_i,t``, is at most their
   sum (triangle inequality), so the charge errs on the side of cost. At d0 the book buys
   the basket straight into its next-day weights (no re-weighting), and on the last date
   the next weights are unknown (``basket_turnover`` is NaN): no re-weighting either.
4. Returns on the previous close's equity: gross ``(PnL_t + I_t - F_t) / E_{t-1}`` (after
   financing, before trading costs), net ``(PnL_t + I_t - F_t - cost_t) / E_{t-1}``.
   Both are the same book (the positions are the ones the costed book holds); gross only
   leaves the day's trading costs out. On d0 the gross return is 0 and the net return is
   ``-cost_d0 / capital``.

Timing: the beta decided at d (estimated with returns up to d, see
``portflow.quant.hedge.beta``) sets positions at d's close, which earn from d+1; the
risk-free return of day t is known at t-1 (a T-bill's yield is quoted in advance).
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
    "cash",
    "equity",
    "interest",
    "borrow_fee",
    "traded_notional",
    "basket_traded",
    "cost",
    "beta",
    "rebalance",
)
LENDING_DAY_COUNT = 360
"""Actual/360: the day count of USD securities-lending fees."""


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
    absent = [c for c in ("basket", "benchmark", "basket_turnover") if c not in basket_returns]
    if absent:
        raise DataError(
            STAGE,
            "basket_returns",
            f"no column {', '.join(absent)}",
            "pass the output of the basket_returns stage",
        )
    if basket_returns[["basket", "benchmark"]].isna().any().any():
        raise DataError(
            STAGE,
            "basket_returns",
            "missing basket or benchmark returns",
            "rebuild basket_returns from complete daily returns",
        )


def _risk_free(risk_free_daily: pd.DataFrame, dates: pd.DatetimeIndex) -> np.ndarray:
    rates = risk_free_daily["rf"].reindex(dates)
    if rates.isna().any():
        gap = dates[rates.isna().to_numpy()]
        raise DataError(
            STAGE,
            "risk_free_daily",
            f"no daily risk-free rate on {len(gap)} backtest dates: "
            + preview(d.strftime("%Y-%m-%d") for d in gap),
            "move data.start/data.end inside the risk-free coverage",
        )
    return rates.to_numpy(dtype=float)


def hedge_backtest(
    basket_returns: pd.DataFrame,
    hedge_rolling_beta: pd.DataFrame,
    risk_free_daily: pd.DataFrame,
    *,
    convention: Literal["beta_neutral", "capital_split"] = "beta_neutral",
    cost_rate: float = 0.0005,
    borrow_fee: float = 0.0,
    capital: float = 1_000_000.0,
) -> pd.DataFrame:
    """Simulate the financed, costed hedged book day by day (accounting: module docstring).

    Parameters
    ----------
    basket_returns : DataFrame of shape (n_dates, >= 3)
        Columns ``basket`` and ``benchmark`` (simple decimal returns per day) and
        ``basket_turnover`` (the basket's re-weighting at each close, a fraction of its
        value; NaN on the last date).
    hedge_rolling_beta : DataFrame of shape (n_rebalances, >= 1)
        Column ``beta`` indexed by decision date (dates of ``basket_returns``); the first
        one is the inception.
    risk_free_daily : DataFrame
        Column ``rf``: risk-free return per trading day (decimal), covering the dates from
        the inception on.
    convention : {"beta_neutral", "capital_split"}
        How beta sets the two legs from the equity.
    cost_rate : float
        Cost per unit of traded notional (decimal, 0.0005 = 5 bp), on the hedge's trades and
        on the basket's re-weighting.
    borrow_fee : float
        Annual fee on the short notional (decimal, 0.003 = 30 bp), accrued actual/360.
    capital : float
        Equity at inception, in money.

    Returns
    -------
    DataFrame of shape (n_dates - position of d0, 13)
        Index ``date`` from the inception d0 to the last date. Flows of day t:
        ``gross_return`` and ``net_return`` (decimal on ``E_{t-1}``), ``interest`` and
        ``borrow_fee`` (money, over day t), ``traded_notional`` (the hedge's rebalance),
        ``basket_traded`` (the basket's re-weighting) and ``cost`` (money, at t's close).
        State at t's close after trading: ``long_notional``, ``short_notional`` (money,
        short as a positive number), ``cash`` and ``equity`` (money, after costs),
        ``beta`` (hedge ratio of the last rebalance on or before t, which set the
        positions held over t+1) and ``rebalance`` (bool, t is a decision date).

    Raises
    ------
    DataError
        Unknown convention, rebalance dates outside the returns, a beta <= -1 under
        ``capital_split``, a missing risk-free rate, or equity that reaches zero.
    """
    _check(basket_returns, hedge_rolling_beta, convention)
    dates = basket_returns.index
    start = dates.get_loc(hedge_rolling_beta.index.min())
    dates = pd.DatetimeIndex(dates[start:])
    rf = _risk_free(risk_free_daily, dates)
    r_p = basket_returns["basket"].to_numpy(dtype=float)[start:]
    r_b = basket_returns["benchmark"].to_numpy(dtype=float)[start:]
    reweighting = np.nan_to_num(basket_returns["basket_turnover"].to_numpy(dtype=float)[start:])
    reweighting[0] = 0.0  # the inception buys the next day's weights directly
    accrual = np.r_[0.0, np.diff(dates.to_numpy()) / np.timedelta64(1, "D")] / LENDING_DAY_COUNT
    betas = hedge_rolling_beta["beta"].reindex(dates).to_numpy(dtype=float)
    rebalance = ~np.isnan(betas)

    n = len(dates)
    out = {name: np.zeros(n) for name in BACKTEST_COLUMNS if name != "rebalance"}
    long = short = 0.0
    equity = float(capital)
    beta = np.nan
    for t in range(n):
        cash = equity - long + short
        pnl = long * r_p[t] - short * r_b[t]
        interest = cash * rf[t] if t > 0 else 0.0
        fee = short * borrow_fee * accrual[t]
        long *= 1.0 + r_p[t]
        short *= 1.0 + r_b[t]
        before = equity
        equity += pnl + interest - fee
        basket_traded = reweighting[t] * long
        traded = 0.0
        if rebalance[t]:
            beta = betas[t]
            new_long, new_short = hedge_legs(equity, beta, convention)
            traded = abs(new_long - long) + abs(new_short - short)
            long, short = new_long, new_short
        cost = cost_rate * (traded + basket_traded)
        equity -= cost
        if equity <= 0.0:
            raise DataError(
                STAGE,
                "equity",
                f"the book lost all its capital on {dates[t]:%Y-%m-%d}",
                "check the beta and the returns; lower the cost rate or use capital_split",
            )
        out["gross_return"][t] = (pnl + interest - fee) / before
        out["net_return"][t] = (pnl + interest - fee - cost) / before
        out["long_notional"][t] = long
        out["short_notional"][t] = short
        out["cash"][t] = equity - long + short
        out["equity"][t] = equity
        out["interest"][t] = interest
        out["borrow_fee"][t] = fee
        out["traded_notional"][t] = traded
        out["basket_traded"][t] = basket_traded
        out["cost"][t] = cost
        out["beta"][t] = beta
    frame = pd.DataFrame(out, index=pd.DatetimeIndex(dates, name="date"))
    frame["rebalance"] = rebalance
    return frame[list(BACKTEST_COLUMNS)]
