"""What the report shows for each strategy: which artifacts, turned into which figures."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from portflow.quant.industries import ATTRIBUTION
from portflow.report import figures
from portflow.report.figures import Figure
from storage import ArtifactRef, ArtifactStore, RunRecord


@dataclass(frozen=True)
class RunView:
    """Read access to the artifacts of one run, by (scope, stage)."""

    store: ArtifactStore
    record: RunRecord

    def _ref(self, scope: str, stage: str) -> ArtifactRef:
        (version,) = [
            s["version"]
            for s in self.record.stages
            if s.get("scope") == scope and s["stage"] == stage
        ]
        return ArtifactRef(stage, version)

    def load(self, scope: str, stage: str) -> pd.DataFrame:
        """The run's output of ``stage`` in ``scope`` (a strategy or a data scope)."""
        return self.store.load(self._ref(scope, stage))

    def benchmark(self, data_scope: str) -> str | None:
        """The benchmark ticker of a universe, as recorded when it was ingested."""
        return self.store.manifest(self._ref(data_scope, "market_data")).params.get("benchmark")

    def scopes(self) -> set[str]:
        return {s.get("scope") for s in self.record.stages}


def hedge_figures(run: RunView) -> list[Figure]:
    """Hedged book against the basket and the benchmark; rolling beta and hedge ratio."""
    backtest = run.load("hedge", "hedge_backtest")
    basket = run.load("hedge", "basket_returns").loc[backtest.index]
    returns = pd.DataFrame(
        {
            "hedged book (net of costs)": backtest["net_return"],
            "volume-weighted basket": basket["basket"],
            "benchmark": basket["benchmark"],
        }
    )
    betas = run.load("hedge", "hedge_rolling_beta")
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


def vol_managed_figures(run: RunView) -> list[Figure]:
    """Managed and unmanaged market and basket; exposures over time."""
    returns = run.load("vol_managed", "vol_strategy_returns")
    wide = returns.pivot(index="month", columns="strategy", values="total_return")
    test_start = returns.loc[returns["period"] == "test", "month"].min()
    signals = run.load("vol_managed", "vol_signals")
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


def allocation_figures(run: RunView) -> list[Figure]:
    """Net growth and drawdown of every allocator against the benchmark; weights over time."""
    returns = run.load("allocation", "backtest_returns")
    net = returns.pivot(index="date", columns="allocator", values="net")
    daily = run.load("allocation.data", "daily_returns")
    metrics = run.load("allocation", "backtest_metrics")
    benchmark = [
        c
        for c in daily.columns
        if c not in set(metrics.columns)
        and c not in set(run.load("allocation", "allocation_weights")["ticker"])
    ]
    if benchmark:
        net[f"benchmark ({benchmark[0]})"] = daily.loc[net.index, benchmark[0]]
    held = run.load("allocation", "allocation_weights")
    weights = {
        name: frame.pivot(index="date", columns="ticker", values="held")
        for name, frame in held.groupby("allocator", sort=False)
    }
    return [
        figures.performance(
            net,
            key="allocation-performance",
            title="Allocation backtests: cumulative net return and drawdown",
            caption="Daily returns net of costs; weights drift between rebalances.",
        ),
        figures.weights_grid(
            weights,
            key="allocation-weights",
            title="Allocation backtests: weights held over time",
            caption="Drifted weights at each close (rebalanced to the allocator's targets on "
            "rebalance dates); cash when weights sum below 100%.",
        ),
    ]


def optimization_figures(run: RunView) -> list[Figure]:
    """The IR-versus-TE frontier, sector weights, risk decomposition and diversification."""
    models = [m for m in ("sample", "regime") if f"optimization[{m}]" in run.scopes()]
    frontier = pd.concat([run.load(f"optimization[{m}]", "optimization_report") for m in models])
    frontier = frontier[frontier["problem"] != "benchmark"].assign(
        curve=lambda f: f["moments"] + " moments, " + f["problem"],
        te=lambda f: 100 * f["realized_te"],
        point=lambda f: f["strategy"].str.split("=").str[-1],
    )
    model = models[0]
    weights = run.load(f"optimization[{model}]", "optimized_weights")
    sector_runs = weights[weights["problem"] == "sector_tev"]
    budget = sorted(sector_runs["value"].unique())[len(sector_runs["value"].unique()) // 2]
    chosen = sector_runs[sector_runs["value"] == budget].set_index("date")
    sectors = chosen[[c for c in chosen.columns if c.startswith("sector|")]]
    sectors = sectors.loc[:, (sectors.abs() > 1e-9).any()]  # the industries ever held
    sectors.columns = [c.removeprefix("sector|") for c in sectors.columns]
    tev = weights[weights["problem"] == "tev"]
    tev_budget = sorted(tev["value"].unique())[len(tev["value"].unique()) // 2]
    risk = tev[tev["value"] == tev_budget].set_index("date")
    contributions = risk[[c for c in risk.columns if c.startswith("risk|")]]
    contributions.columns = [f"factor {c.removeprefix('risk|')}" for c in contributions.columns]
    contributions = contributions.assign(specific=risk["specific_variance"])
    shares = contributions.div(risk["active_variance"], axis=0)
    returns = run.load(f"optimization[{model}]", "optimized_returns")
    shown = ("benchmark", "gamma=5", f"tev={tev_budget:g}", f"sector_tev={budget:g}")
    growth = returns.pivot_table(index="date", columns="strategy", values="portfolio_return")
    names = returns.pivot_table(index="date", columns="strategy", values="effective_names")
    return [
        figures.performance(
            growth[[c for c in shown if c in growth.columns]],
            key="optimization-performance",
            title="Active optimization: cumulative return and drawdown",
            caption=f"Monthly returns ({model} moments) of a few sweep points against the "
            "benchmark; weights decided at the end of a month earn the next month's return.",
        ),
        figures.scatter(
            frontier,
            x="te",
            y="information_ratio",
            label="point",
            group="curve",
            key="optimization-frontier",
            title="Active optimization: information ratio versus tracking error",
            caption="Realized annualized tracking error and information ratio of every sweep "
            "point (labels: gamma or TEV budget), by moment model and problem.",
            xlabel="realized tracking error (% per year)",
            ylabel="information ratio",
        ),
        figures.stacked_weights(
            sectors,
            key="optimization-sectors",
            title=f"Sector rotation: industry weights over time (TEV budget {budget:.0%})",
            caption=f"Industry weights chosen by the sector-rotation problem ({model} "
            "moments); stocks are held in benchmark proportions inside each industry, "
            f"assigned from their SIC code at each date. {ATTRIBUTION}.",
        ),
        figures.stacked_weights(
            shares,
            key="optimization-risk",
            title=f"Ex-ante active risk by source (TEV budget {tev_budget:.0%})",
            caption="Share of the ex-ante active variance from each factor and from specific "
            "risk at each rebalance date; factor shares can be negative when factors hedge "
            "each other (clipped at 0 in the stack).",
            ylabel="share of active variance (%)",
        ),
        figures.lines(
            names[[c for c in shown if c in names.columns]],
            key="optimization-diversification",
            title="Diversification: effective number of names (1 / sum of squared weights)",
            caption="Held portfolios against the benchmark over time.",
            ylabel="effective names",
        ),
    ]


SECTIONS: dict[str, tuple[str, Callable[[RunView], list[Figure]]]] = {
    "hedge": ("Beta-hedged volume-weighted basket", hedge_figures),
    "vol_managed": ("Volatility-managed portfolios", vol_managed_figures),
    "optimization": ("Factor-model active optimization", optimization_figures),
    "allocation": ("Allocation backtests", allocation_figures),
}
"""Strategy -> (section heading, figure builder), in report order."""
