"""What the report shows for each strategy: its views (figures of the strategy's own
artifacts) and the tear sheet of its headline series against its benchmark.

Every builder copes with every config the schema allows: a sweep without TEV budgets or
without sector rotation, one moment model or both, a benchmark or none, a data section of
its own or the top-level one (inputs are found along the lineage, see ``RunView``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from portflow.quant.industries import ATTRIBUTION
from portflow.report import figures
from portflow.report.figures import Figure
from portflow.report.run_view import MOMENT_MODELS, RunView, Sweep
from portflow.report.tables import allocation_benchmark
from portflow.report.tearsheet import TearSheetInput


def _risk_free(run: RunView, scope: str, stage: str) -> pd.Series:
    return run.load(run.upstream(scope, stage, "risk_free_daily"))["rf"]


# -- beta hedge -------------------------------------------------------------------------


def hedge_figures(run: RunView) -> list[Figure]:
    """Hedged book against the basket and the benchmark; rolling beta and hedge ratio."""
    backtest = run.load("hedge", "hedge_backtest")
    basket = run.load("hedge", "basket_returns").loc[backtest.index]
    benchmark = run.params("hedge", "basket_returns").get("benchmark", "benchmark")
    returns = pd.DataFrame(
        {
            "hedged book (net of costs)": backtest["net_return"],
            "volume-weighted basket": basket["basket"],
            f"benchmark ({benchmark})": basket["benchmark"],
        }
    )
    betas = run.load("hedge", "hedge_rolling_beta")
    hedge_ratio = backtest["short_notional"] / backtest["long_notional"]
    return [
        figures.performance(
            returns,
            key="hedge-performance",
            title="Beta hedge: cumulative return and drawdown",
            caption="Daily returns from the first rebalance; the hedged book earns the "
            "risk-free rate on its cash and pays costs on its trades (module "
            "portflow.quant.hedge.backtest).",
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


def hedge_sheet(run: RunView) -> TearSheetInput:
    backtest = run.load("hedge", "hedge_backtest")
    basket = run.load("hedge", "basket_returns").loc[backtest.index]
    benchmark = run.params("hedge", "basket_returns").get("benchmark", "benchmark")
    return TearSheetInput(
        key="hedge",
        heading=f"Tear sheet: the hedged book against {benchmark}",
        note="The hedged book, net of costs, is this strategy's result; its benchmark is the "
        "index it hedges against (a beta near 0 is the hedge working). Daily returns.",
        returns=backtest["net_return"].rename("hedged book"),
        benchmark=basket["benchmark"].rename(benchmark),
        risk_free=_risk_free(run, "hedge", "hedge_metrics"),
        periods_per_year=252,
        source=run.ref("hedge", "hedge_backtest"),
    )


# -- volatility-managed portfolios ------------------------------------------------------


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


def vol_managed_sheet(run: RunView) -> TearSheetInput:
    evaluation = run.load("vol_managed", "vol_evaluation")
    strategy, unmanaged = evaluation.iloc[0][["strategy", "unmanaged"]]
    returns = run.load("vol_managed", "vol_strategy_returns")
    wide = returns.pivot(index="month", columns="strategy", values="total_return")
    rf = returns[returns["strategy"] == strategy].set_index("month")["rf"]
    return TearSheetInput(
        key="vol",
        heading=f"Tear sheet: {strategy} against {unmanaged} (unmanaged)",
        note=f"The first managed portfolio of the evaluation ({strategy}) against the "
        "portfolio it scales, over the training and test periods together. Monthly total "
        "returns.",
        returns=wide[strategy].rename(str(strategy)),
        benchmark=wide[unmanaged].rename(f"{unmanaged} (unmanaged)"),
        risk_free=rf,
        periods_per_year=12,
        source=run.ref("vol_managed", "vol_strategy_returns"),
    )


# -- allocation backtests ---------------------------------------------------------------


def allocation_figures(run: RunView) -> list[Figure]:
    """Net growth and drawdown of every allocator against the benchmark; weights over time."""
    returns = run.load("allocation", "backtest_returns")
    net = returns.pivot(index="date", columns="allocator", values="net")
    net = net[list(dict.fromkeys(returns["allocator"]))]
    benchmark = allocation_benchmark(run)
    if benchmark is not None:
        net[benchmark.name] = benchmark
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


def allocation_sheet(run: RunView) -> TearSheetInput:
    returns = run.load("allocation", "backtest_returns")
    first = returns["allocator"].iloc[0]
    net = returns[returns["allocator"] == first].set_index("date")["net"]
    benchmark = allocation_benchmark(run)
    against = f" against {benchmark.name}" if benchmark is not None else ""
    return TearSheetInput(
        key="allocation",
        heading=f"Tear sheet: {first}{against}",
        note=f"The config's first allocator ({first}), net of costs; the table above compares "
        "every allocator. Daily returns.",
        returns=net.rename(str(first)),
        benchmark=benchmark,
        risk_free=_risk_free(run, "allocation", "backtest_metrics"),
        periods_per_year=252,
        source=run.ref("allocation", "backtest_returns"),
    )


# -- factor-model active optimization ---------------------------------------------------


def _models(run: RunView) -> list[str]:
    return [m for m in MOMENT_MODELS if f"optimization[{m}]" in run.scopes()]


def optimization_figures(run: RunView) -> list[Figure]:
    """The IR-versus-TE frontier, sector weights, risk decomposition and diversification."""
    models = _models(run)
    if not models:
        return []
    sweep = Sweep.of(run, models[0])
    scope = f"optimization[{sweep.model}]"
    returns = run.load(scope, "optimized_returns")
    growth = returns.pivot_table(index="date", columns="strategy", values="portfolio_return")
    names = returns.pivot_table(index="date", columns="strategy", values="effective_names")
    shown = [c for c in sweep.shown() if c in growth.columns]
    built = [
        figures.performance(
            growth[shown],
            key="optimization-performance",
            title="Active optimization: cumulative return and drawdown",
            caption=f"Monthly returns ({sweep.model} moments) of the middle point of each "
            "sweep against the benchmark; weights decided at the end of a month earn the "
            "next month's return.",
        )
    ]
    frontier = pd.concat([run.load(f"optimization[{m}]", "optimization_report") for m in models])
    frontier = frontier[frontier["problem"] != "benchmark"].assign(
        panel=lambda f: f["moments"] + " factor moments",
        te=lambda f: 100 * f["realized_te"],
        point=lambda f: f["strategy"].str.split("=").str[-1],
    )
    if not frontier.empty:
        built.append(
            figures.scatter(
                frontier,
                x="te",
                y="information_ratio",
                label="point",
                group="problem",
                panel="panel",
                key="optimization-frontier",
                title="Active optimization: information ratio versus tracking error",
                caption="Realized annualized tracking error and information ratio of every "
                "sweep point (labels: gamma or TEV budget), one panel per moment model, one "
                "curve per problem.",
                xlabel="realized tracking error (% per year)",
                ylabel="information ratio",
            )
        )
    weights = run.load(scope, "optimized_weights")
    if sweep.sector is not None:
        problem = "sector_tev" if (weights["problem"] == "sector_tev").any() else "sector_gamma"
        chosen = weights[(weights["problem"] == problem) & (weights["value"] == sweep.sector)]
        chosen = chosen.set_index("date")
        sectors = chosen[[c for c in chosen.columns if c.startswith("sector|")]]
        sectors = sectors.loc[:, (sectors.abs() > 1e-9).any()]  # the industries ever held
        sectors.columns = [c.removeprefix("sector|") for c in sectors.columns]
        what = (
            f"TEV budget {sweep.sector:.0%}"
            if problem == "sector_tev"
            else (f"gamma {sweep.sector:g}")
        )
        built.append(
            figures.stacked_weights(
                sectors,
                key="optimization-sectors",
                title=f"Sector rotation: industry weights over time ({what})",
                caption=f"Industry weights chosen by the sector-rotation problem "
                f"({sweep.model} moments); stocks are held in benchmark proportions inside "
                f"each industry, assigned from their SIC code at each date. {ATTRIBUTION}.",
            )
        )
    risk_point = ("tev", sweep.tev) if sweep.tev is not None else ("gamma", sweep.gamma)
    if risk_point[1] is not None:
        risk = weights[(weights["problem"] == risk_point[0]) & (weights["value"] == risk_point[1])]
        risk = risk.set_index("date")
        contributions = risk[[c for c in risk.columns if c.startswith("risk|")]]
        contributions.columns = [f"factor {c.removeprefix('risk|')}" for c in contributions.columns]
        contributions = contributions.assign(specific=risk["specific_variance"])
        shares = contributions.div(risk["active_variance"], axis=0)
        label = (
            f"TEV budget {risk_point[1]:.0%}"
            if risk_point[0] == "tev"
            else f"gamma {risk_point[1]:g}"
        )
        built.append(
            figures.stacked_weights(
                shares,
                key="optimization-risk",
                title=f"Ex-ante active risk by source ({label})",
                caption="Share of the ex-ante active variance from each factor and from "
                "specific risk at each rebalance date; factor shares can be negative when "
                "factors hedge each other (clipped at 0 in the stack).",
                ylabel="share of active variance",
            )
        )
    built.append(
        figures.lines(
            names[[c for c in shown if c in names.columns]],
            key="optimization-diversification",
            title="Diversification: effective number of names (1 / sum of squared weights)",
            caption="Held portfolios against the benchmark over time.",
            ylabel="effective names",
        )
    )
    return built


def optimization_sheet(run: RunView) -> TearSheetInput | None:
    models = _models(run)
    if not models:
        return None
    sweep = Sweep.of(run, models[0])
    point = sweep.headline()
    if point is None:
        return None
    scope = f"optimization[{sweep.model}]"
    returns = run.load(scope, "optimized_returns")
    rows = returns[returns["strategy"] == point].set_index("date")
    return TearSheetInput(
        key="optimization",
        heading=f"Tear sheet: {point} ({sweep.model} moments) against the benchmark",
        note=f"The middle point of the {'TEV-budget' if point.startswith('tev') else 'gamma'} "
        f"sweep with {sweep.model} factor moments; every point is in the tables above. "
        "Monthly returns.",
        returns=rows["portfolio_return"].rename(point),
        benchmark=rows["benchmark_return"].rename("benchmark"),
        risk_free=rows["rf"],
        periods_per_year=12,
        source=run.ref(scope, "optimized_returns"),
    )


@dataclass(frozen=True)
class Section:
    """A strategy's part of the report."""

    heading: str
    figures: Callable[[RunView], list[Figure]]
    sheet: Callable[[RunView], TearSheetInput | None]


SECTIONS: dict[str, Section] = {
    "hedge": Section("Beta-hedged volume-weighted basket", hedge_figures, hedge_sheet),
    "vol_managed": Section("Volatility-managed portfolios", vol_managed_figures, vol_managed_sheet),
    "optimization": Section(
        "Factor-model active optimization", optimization_figures, optimization_sheet
    ),
    "allocation": Section("Allocation backtests", allocation_figures, allocation_sheet),
}
"""Strategy -> its section, in report order."""
