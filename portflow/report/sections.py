"""What the report shows for each strategy: which artifacts, turned into which figures."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from portflow.report import figures
from portflow.report.figures import Figure

Load = Callable[[str, str], pd.DataFrame]
"""``load(scope, stage)``: the run's artifact of that stage, as a DataFrame."""


def hedge_figures(load: Load) -> list[Figure]:
    """Hedged book against the basket and the benchmark; rolling beta and hedge ratio."""
    backtest = load("hedge", "hedge_backtest")
    basket = load("hedge", "basket_returns").loc[backtest.index]
    returns = pd.DataFrame(
        {
            "hedged book (net of costs)": backtest["net_return"],
            "volume-weighted basket": basket["basket"],
            "benchmark": basket["benchmark"],
        }
    )
    betas = load("hedge", "hedge_rolling_beta")
    hedge_ratio = backtest["short_notional"] / backtest["long_notional"]
    return [
        figures.performance(
            returns,
            key="hedge-performance",
            title="Beta hedge: cumulative return and drawdown",
            caption="Daily returns from the first rebalance; the hedged book pays costs on "
            "traded notional at each rebalance.",
        ),
        figures.lines(
            pd.DataFrame(
                {
                    "rolling beta at rebalance": betas["beta"],
                    "hedge ratio (short / long notional)": hedge_ratio,
                }
            ),
            key="hedge-beta",
            title="Beta hedge: rolling beta and hedge ratio",
            caption="Beta re-estimated on the trailing window at each rebalance (95% "
            "interval from its standard error); the hedge ratio drifts between rebalances.",
            ylabel="beta, ratio",
            step=True,
            band=(betas["beta"] - 1.96 * betas["beta_se"], betas["beta"] + 1.96 * betas["beta_se"]),
        ),
    ]


def vol_managed_figures(load: Load) -> list[Figure]:
    """Managed and unmanaged market and basket; exposures over time."""
    returns = load("vol_managed", "vol_strategy_returns")
    wide = returns.pivot(index="month", columns="strategy", values="total_return")
    test_start = returns.loc[returns["period"] == "test", "month"].min()
    signals = load("vol_managed", "vol_signals")
    exposures = signals.pivot_table(
        index="month", columns="signal", values="exposure", aggfunc="mean"
    )
    exposures.columns = [
        f"{c} signal" + (" (mean over assets)" if c == "per_asset" else "")
        for c in exposures.columns
    ]
    return [
        figures.performance(
            wide,
            key="vol-performance",
            title="Volatility-managed portfolios: cumulative return and drawdown",
            caption="Monthly total returns; managed = exposure k / variance of the previous "
            "month, k calibrated on the training window.",
            splits={"test starts": test_start} if pd.notna(test_start) else None,
        ),
        figures.lines(
            exposures,
            key="vol-exposures",
            title="Volatility-managed portfolios: exposure over time",
            caption="Exposure held in each month, decided at the end of the previous month "
            "(1 = the unmanaged portfolio).",
            ylabel="exposure (x unmanaged)",
        ),
    ]


SECTIONS: dict[str, tuple[str, Callable[[Load], list[Figure]]]] = {
    "hedge": ("Beta-hedged volume-weighted basket", hedge_figures),
    "vol_managed": ("Volatility-managed portfolios", vol_managed_figures),
}
"""Strategy -> (section heading, figure builder), in report order."""
