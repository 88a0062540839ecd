"""The ``vol_strategy_returns`` stage: unmanaged and volatility-managed monthly returns.

With weights w (summing to 1), risk-free rate rf_t and the exposures e of month t from
``vol_signals`` (decided with the variance of month t-1), the excess returns are

- ``market``            x_t = r_{m,t} - rf_t
- ``market_managed``    e^c_t x_t                          (the paper's headline case)
- ``basket``            b_t = sum_i w_i (r_{i,t} - rf_t)
- ``basket_common``     e^c_t b_t                          (common signal: the market's)
- ``basket_per_asset``  sum_i w_i e_{i,t} (r_{i,t} - rf_t) (each asset's own signal)

and each total return is the excess return plus rf_t: the part of capital not in the
risky portfolio (1 - e, negative when levered) earns or pays the risk-free rate.

Exposure and turnover
---------------------
``exposure`` is the strategy's gross weight in risky assets, sum_i w_i e_{i,t} (1 for
an unmanaged strategy). ``turnover`` is the change in timing exposure,
sum_i w_i |e_{i,t} - e_{i,t-1}|: the risky notional the managed strategy trades *on top
of* its unmanaged portfolio at the start of month t, per unit of capital, as in the
paper's transaction-cost section (weight drift and the unmanaged basket's own
rebalancing are common to both and not charged); costs are charged on it.
``turnover_two_way`` adds the other side of those trades, the cash (T-bill) account,
whose weight moves by ``-(exposure_t - exposure_{t-1})``: buys plus sells over every
holding, ``turnover + |exposure_t - exposure_{t-1}|``. One-way turnover is half of it,
which equals ``turnover`` when a single signal scales everything (the risky trades all
go one way). Before its first month the strategy is taken to hold the unmanaged
portfolio (e = 1), so the first month's turnover is the move from 1 into the managed
exposure.

pandas does the work.
"""

from __future__ import annotations

import pandas as pd

from portflow.errors import DataError, preview

STAGE = "vol_strategy_returns"

UNMANAGED = {
    "market": "market",
    "market_managed": "market",
    "basket": "basket",
    "basket_common": "basket",
    "basket_per_asset": "basket",
}
"""Each strategy and its unmanaged counterpart (itself for an unmanaged strategy)."""

COLUMNS = (
    "month",
    "strategy",
    "unmanaged",
    "period",
    "rf",
    "excess_return",
    "total_return",
    "exposure",
    "turnover",
    "turnover_two_way",
)


def basket_weights(
    monthly_returns: pd.DataFrame, market: str, weights: dict[str, float] | None
) -> pd.Series:
    """The configured weights, or equal weights over every ticker but the market."""
    if weights is None:
        tickers = [c for c in monthly_returns.columns if c != market]
        return pd.Series(1.0 / len(tickers), index=tickers, name="weight")
    return pd.Series(weights, name="weight", dtype=float)


def timing_turnover(exposures: pd.DataFrame, weights: pd.Series) -> pd.Series:
    """``sum_i w_i |e_{i,t} - e_{i,t-1}|`` with e = 1 (unmanaged) before the first month.

    Parameters
    ----------
    exposures : DataFrame of shape (n_months, n_assets)
        Exposure per consecutive calendar month (rows) and asset.
    weights : Series of shape (n_assets,)
        Basket weights.
    """
    previous = exposures.shift(1)
    previous.iloc[0] = 1.0
    return (exposures - previous).abs().mul(weights, axis=1).sum(axis=1)


def _months(
    monthly_returns: pd.DataFrame, risk_free_monthly: pd.DataFrame, signal_months: pd.Index
) -> pd.DatetimeIndex:
    months = pd.DatetimeIndex(signal_months)
    months = months[
        (months >= monthly_returns.index.min()) & (months <= monthly_returns.index.max())
    ]
    if months.empty:
        raise DataError(
            STAGE,
            "monthly_returns",
            f"no month of returns ({monthly_returns.index.min():%Y-%m}.."
            f"{monthly_returns.index.max():%Y-%m}) has a signal "
            f"({signal_months.min():%Y-%m}..{signal_months.max():%Y-%m})",
            "compute vol_signals and the returns from the same data",
        )
    rf = risk_free_monthly["rf"].reindex(months)
    if rf.isna().any():
        raise DataError(
            STAGE,
            "risk_free_monthly.rf",
            f"no risk-free rate for {preview(f'{m:%Y-%m}' for m in months[rf.isna()])}",
            "supply a risk-free series that covers the sample, or move data.end / "
            "vol_managed.test_end inside its coverage",
        )
    return months


def _check_returns(returns: pd.DataFrame) -> None:
    gaps = returns.isna()
    if gaps.any().any():
        where = [f"{t} {m:%Y-%m}" for m, t in gaps.stack().loc[lambda s: s].index]
        raise DataError(
            STAGE,
            "monthly_returns",
            f"{len(where)} missing monthly returns inside the strategy's months "
            f"(a listing, delisting or gap): {preview(where)}",
            "choose tickers listed over the whole sample (data.tickers, vol_managed.weights) "
            "or move vol_managed.train_start/test_end",
        )


def _exposures(vol_signals: pd.DataFrame, market: str, tickers: list[str]):
    common = vol_signals[vol_signals["signal"] == "common"]
    if set(common["asset"]) != {market}:
        raise DataError(
            STAGE,
            "market",
            f"the common signal is built from {preview(sorted(set(common['asset'])))}, "
            f"not the market {market}",
            "run vol_signals and vol_strategy_returns with the same market",
        )
    per_asset = vol_signals[vol_signals["signal"] == "per_asset"].pivot(
        index="month", columns="asset", values="exposure"
    )
    missing = [t for t in tickers if t not in per_asset.columns]
    if missing:
        raise DataError(
            STAGE,
            "vol_managed.weights",
            f"no per-asset signal for {preview(missing)}",
            "name the same basket in vol_signals (assets) and vol_strategy_returns (weights)",
        )
    periods = common.set_index("month")["period"]
    return common.set_index("month")["exposure"], per_asset[tickers], periods


def _long(strategies: dict[str, tuple], rf: pd.Series, period: pd.Series) -> pd.DataFrame:
    rows = []
    for strategy, (excess, exposure, turnover) in strategies.items():
        cash_trade = timing_turnover(exposure.to_frame("e"), pd.Series({"e": 1.0}))
        rows.append(
            pd.DataFrame(
                {
                    "month": excess.index,
                    "strategy": strategy,
                    "unmanaged": UNMANAGED[strategy],
                    "period": period.to_numpy(),
                    "rf": rf.to_numpy(),
                    "excess_return": excess.to_numpy(),
                    "total_return": (excess + rf).to_numpy(),
                    "exposure": exposure.to_numpy(),
                    "turnover": turnover.to_numpy(),
                    "turnover_two_way": (turnover + cash_trade).to_numpy(),
                }
            )
        )
    return pd.concat(rows, ignore_index=True)[list(COLUMNS)]


def vol_strategy_returns(
    monthly_returns: pd.DataFrame,
    risk_free_monthly: pd.DataFrame,
    vol_signals: pd.DataFrame,
    *,
    market: str,
    weights: dict[str, float] | None = None,
) -> pd.DataFrame:
    """Monthly excess and total returns of the unmanaged and managed strategies.

    Parameters
    ----------
    monthly_returns : DataFrame of shape (n_months, n_tickers)
        Simple monthly returns indexed by month-end, the market among the columns.
    risk_free_monthly : DataFrame of shape (n_months, 1)
        Column ``rf``, decimal risk-free return per month.
    vol_signals : DataFrame
        Output of :func:`portflow.quant.vol_managed.signals.vol_signals`: the exposure held in
        each ``month``, decided at the previous month-end.
    market : str
        The market's ticker.
    weights : dict of str to float, optional
        Basket weights (sum 1); None = equal weights over every ticker but the market.

    Returns
    -------
    DataFrame of shape (5 * n_months, 10)
        Tidy, columns :data:`COLUMNS`: ``month`` (month-end t), ``strategy`` (a key of
        :data:`UNMANAGED`), ``unmanaged`` (its unmanaged counterpart), ``period`` ("train",
        "test" or "full"), ``rf``, ``excess_return`` and ``total_return`` (decimal per
        month), ``exposure`` (gross weight in risky assets), ``turnover`` and
        ``turnover_two_way`` (module docstring).
        The months are those with a signal inside the returns' range.

    Raises
    ------
    DataError
        Unknown tickers, a month with no risk-free rate, a missing return of the market
        or a basket asset in a strategy month.
    """
    if market not in monthly_returns.columns:
        raise DataError(
            STAGE,
            "market",
            f"{market} not in monthly_returns (columns: {preview(monthly_returns.columns, 25)})",
            "pass the benchmark ticker of the ingested data",
        )
    w = basket_weights(monthly_returns, market, weights)
    unknown = [t for t in w.index if t not in monthly_returns.columns]
    if unknown:
        raise DataError(
            STAGE,
            "vol_managed.weights",
            f"{preview(unknown)} not in monthly_returns",
            "weight only tickers of the configured data (data.tickers)",
        )
    common, per_asset, period = _exposures(vol_signals, market, list(w.index))
    months = _months(monthly_returns, risk_free_monthly, common.index)
    returns = monthly_returns.reindex(months)[list(dict.fromkeys([market, *w.index]))]
    _check_returns(returns)
    rf = risk_free_monthly["rf"].reindex(months)
    common, per_asset, period = common.reindex(months), per_asset.reindex(months), period[months]

    excess = returns.sub(rf, axis=0)
    market_excess = excess[market]
    basket_excess = excess[w.index].mul(w, axis=1).sum(axis=1)
    ones, zeros = pd.Series(1.0, index=months), pd.Series(0.0, index=months)
    common_turnover = timing_turnover(common.to_frame("e"), pd.Series({"e": 1.0}))
    strategies = {
        "market": (market_excess, ones, zeros),
        "market_managed": (common * market_excess, common, common_turnover),
        "basket": (basket_excess, ones, zeros),
        "basket_common": (common * basket_excess, common, common_turnover),
        "basket_per_asset": (
            (per_asset * excess[w.index]).mul(w, axis=1).sum(axis=1),
            per_asset.mul(w, axis=1).sum(axis=1),
            timing_turnover(per_asset, w),
        ),
    }
    return _long(strategies, rf, period)
