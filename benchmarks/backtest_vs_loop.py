"""Vectorized backtester vs a straightforward day-by-day Python loop, in one run.

20 years (5040 business days) x 500 assets of synthetic returns from
``portflow.sources.synthetic.generate``; target weights from inverse volatility over 252
days, for three schedules (monthly, every day, never). Both engines get the same targets
and the same cost model (5 bp proportional + 1 bp per traded asset); the script checks
that drifted weights, held weights, turnover, costs and gross and net returns agree to
1e-10 and prints the time of each engine (best of ``--repeat`` runs) and their ratio.

Run: ``.venv/bin/python benchmarks/backtest_vs_loop.py`` (about half a minute).
The allocator calls are the same in both and are timed once, separately.
"""

from __future__ import annotations

import argparse
import datetime as dt
import time

import numpy as np
import pandas as pd

from portflow.quant.allocation.allocators import InverseVolatility, investable_returns
from portflow.quant.allocation.backtest import (
    TRADE_TOLERANCE,
    rebalance_schedule,
    simulate,
    target_weights,
)
from portflow.quant.prices import price_panel
from portflow.quant.returns import daily_returns
from portflow.sources.synthetic import BENCHMARK, generate

PROPORTIONAL_COST = 0.0005
FIXED_COST = 0.0001


def loop_backtest(returns: pd.DataFrame, targets: pd.DataFrame) -> dict[str, np.ndarray]:
    """The reference: walk the days one by one, drifting the weights by hand."""
    frame = returns.loc[targets.index[0] :, targets.columns]
    r = frame.to_numpy()
    rebalance_rows = dict(
        zip(frame.index.get_indexer(targets.index), targets.to_numpy(), strict=True)
    )
    n_days, n_assets = r.shape
    drifted = np.zeros((n_days, n_assets))
    held = np.zeros((n_days, n_assets))
    gross = np.zeros(n_days)
    cost = np.zeros(n_days)
    turnover = np.zeros(n_days)
    weights = np.zeros(n_assets)  # in cash before the first trade
    for day in range(n_days):
        if day > 0:
            gross[day] = weights @ r[day]
            value = (1.0 - weights.sum()) + weights @ (1.0 + r[day])  # cash + assets
            weights = weights * (1.0 + r[day]) / value
        drifted[day] = weights
        if day in rebalance_rows:
            trade = rebalance_rows[day] - weights
            turnover[day] = np.abs(trade).sum()
            n_trades = (np.abs(trade) > TRADE_TOLERANCE).sum()
            cost[day] = PROPORTIONAL_COST * turnover[day] + FIXED_COST * n_trades
            weights = rebalance_rows[day].copy()
        held[day] = weights
    net = (1.0 + gross) * (1.0 - cost) - 1.0
    return {
        "drifted": drifted,
        "held": held,
        "gross": gross,
        "turnover": turnover,
        "cost": cost,
        "net": net,
    }


def vectorized_backtest(returns: pd.DataFrame, targets: pd.DataFrame) -> dict[str, np.ndarray]:
    result = simulate(returns, targets, proportional_cost=PROPORTIONAL_COST, fixed_cost=FIXED_COST)
    daily = result.returns
    return {
        "drifted": result.drifted.to_numpy(),
        "held": result.held.to_numpy(),
        **{column: daily[column].to_numpy() for column in ("gross", "turnover", "cost", "net")},
    }


def best_time(function, repeat: int):
    times, output = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        output = function()
        times.append(time.perf_counter() - started)
    return min(times), output


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--years", type=int, default=20)
    parser.add_argument("--assets", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    n_days = 252 * args.years
    market, _ = generate(seed=7, n_assets=args.assets, n_days=n_days, start=dt.date(2000, 1, 3))
    returns = investable_returns(daily_returns(price_panel(market.daily)), None, BENCHMARK)
    print(f"returns: {returns.shape[0]} days x {returns.shape[1]} assets (synthetic)")

    total_loop = total_vector = 0.0
    for schedule in ("monthly", "every_n_days", "never"):
        dates = rebalance_schedule(returns.index, rebalance=schedule, every=1, first=251)
        started = time.perf_counter()
        targets = target_weights(returns, InverseVolatility(), window=252, dates=dates)
        allocator_seconds = time.perf_counter() - started

        loop_seconds, expected = best_time(
            lambda targets=targets: loop_backtest(returns, targets), args.repeat
        )
        vector_seconds, actual = best_time(
            lambda targets=targets: vectorized_backtest(returns, targets), args.repeat
        )
        worst = max(np.max(np.abs(actual[k] - expected[k])) for k in expected)
        assert worst < 1e-10, f"{schedule}: engines disagree by {worst:.2e}"
        total_loop += loop_seconds
        total_vector += vector_seconds
        label = "daily" if schedule == "every_n_days" else schedule
        print(
            f"{label:>8}: {len(dates):5d} rebalances | loop {loop_seconds * 1e3:8.1f} ms | "
            f"vectorized {vector_seconds * 1e3:7.1f} ms | "
            f"ratio {loop_seconds / vector_seconds:5.1f}x"
            f" | max |diff| {worst:.1e} | allocator calls {allocator_seconds:5.2f} s"
        )
    print(f"all schedules: loop / vectorized = {total_loop / total_vector:.1f}x")


if __name__ == "__main__":
    main()
