"""A strategy's tear sheet: the union of quantstats' full report and pyfolio's returns
tear sheet that applies to one return series against its benchmark.

Four figures (cumulative and log-cumulative returns with the underwater curve and the
worst drawdowns shaded; rolling Sharpe ratio, volatility and beta; the monthly-returns
heatmap beside the calendar-year returns; the distribution of returns) and two tables
(key statistics beside the benchmark's; the worst five drawdowns with their dates and
recovery). Every number comes from :mod:`portflow.quant.performance`.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from portflow.quant import performance
from portflow.quant.metrics import drawdown
from portflow.report import figures
from portflow.report.figures import Figure
from portflow.report.tables import ResultTable
from storage import ArtifactRef

ROLLING_WINDOW = {252: 126, 12: 12}
"""Periods per year -> rolling window: six months of days, or a year of months."""
HORIZON = {
    252: ("day", "trading days", "daily returns"),
    12: ("month", "months", "monthly returns"),
}
"""Periods per year -> (period, plural, label of the returns)."""
WORST = 5

PCT, RATIO, DATE = "{:.2%}", "{:.2f}", "date"
STATISTICS: dict[str, tuple[str, str]] = {
    "start": ("first period", DATE),
    "end": ("last period", DATE),
    "n_periods": ("periods", "{:d}"),
    "cumulative_return": ("cumulative return", PCT),
    "ann_return": ("annualized return (CAGR)", PCT),
    "ann_volatility": ("annualized volatility", PCT),
    "sharpe": ("Sharpe ratio", RATIO),
    "sortino": ("Sortino ratio", RATIO),
    "max_drawdown": ("maximum drawdown", PCT),
    "longest_drawdown": ("longest drawdown (periods)", "{:d}"),
    "calmar": ("Calmar ratio", RATIO),
    "skew": ("skew", RATIO),
    "excess_kurtosis": ("excess kurtosis", RATIO),
    "value_at_risk": ("value at risk (5%, one period)", PCT),
    "expected_shortfall": ("expected shortfall (5%, one period)", PCT),
    "tail_ratio": ("tail ratio (95% / 5% quantile)", RATIO),
    "best_period": ("best period", PCT),
    "worst_period": ("worst period", PCT),
    "best_month": ("best month", PCT),
    "worst_month": ("worst month", PCT),
    "best_year": ("best year", PCT),
    "worst_year": ("worst year", PCT),
    "positive_periods": ("positive periods", "{:.1%}"),
    "positive_months": ("positive months", "{:.1%}"),
    "beta": ("beta to the benchmark", RATIO),
    "alpha": ("alpha (annualized)", PCT),
    "correlation": ("correlation with the benchmark", RATIO),
    "tracking_error": ("tracking error (annualized)", PCT),
    "information_ratio": ("information ratio", RATIO),
}
"""Statistic -> (row label, format) of the key-statistics table."""


@dataclass(frozen=True)
class TearSheetInput:
    """One return series against its benchmark.

    Attributes
    ----------
    key : str
        HTML id prefix, e.g. ``"hedge"``.
    heading : str
        What the tear sheet is of, e.g. "Tear sheet: hedged book (net) vs NASDAQ".
    note : str
        Why this series (the headline of its strategy) and how it is measured.
    returns : Series
        Simple returns per period of the strategy; its name labels it.
    benchmark : Series or None
        The benchmark's returns on the same dates; its name labels it.
    risk_free : Series or float
        Risk-free return per period (decimal).
    periods_per_year : int
        252 (daily) or 12 (monthly).
    source : ArtifactRef
        The artifact holding ``returns`` (cited under the tables).
    """

    key: str
    heading: str
    note: str
    returns: pd.Series
    benchmark: pd.Series | None
    risk_free: pd.Series | float
    periods_per_year: int
    source: ArtifactRef


@dataclass(frozen=True)
class Heading:
    """A sub-heading inside a strategy section, with an id and an explanatory note."""

    key: str
    text: str
    note: str = ""


def _cell(value: object, fmt: str) -> str:
    if value is None or (not isinstance(value, pd.Timestamp) and pd.isna(value)):
        return ""
    if fmt == DATE:
        return f"{pd.Timestamp(value):%Y-%m-%d}"
    if fmt == "{:d}":
        return f"{int(value):d}"
    text = fmt.format(float(value))
    return text[1:] if text.startswith("-") and not text.strip("-0.%") else text  # no "-0.00%"


def _statistics_table(sheet: TearSheetInput, columns: dict[str, pd.Series]) -> ResultTable:
    rows = {
        label: [_cell(stats.get(name), fmt) for stats in columns.values()]
        for name, (label, fmt) in STATISTICS.items()
        if any(name in stats for stats in columns.values())
    }
    frame = pd.DataFrame.from_dict(rows, orient="index", columns=list(columns))
    frame.index.name = "statistic"
    return ResultTable(
        key=f"{sheet.key}-statistics",
        scope=sheet.key,
        title="Key statistics",
        frame=frame,
        note="Geometric annualized return; Sharpe and Sortino over the risk-free rate; "
        "historical value at risk; calendar months and years compounded; beta and alpha "
        "from excess returns on the benchmark's excess returns.",
        source=sheet.source,
        terminal=False,
    )


def _drawdown_table(sheet: TearSheetInput, worst: pd.DataFrame) -> ResultTable:
    unit = HORIZON[sheet.periods_per_year][1]
    frame = pd.DataFrame(
        {
            "last high": [_cell(v, DATE) or "initial capital" for v in worst["peak"]],
            "under water from": [_cell(v, DATE) for v in worst["start"]],
            "valley": [_cell(v, DATE) for v in worst["valley"]],
            "recovered on": [_cell(v, DATE) or "not recovered" for v in worst["recovery"]],
            "depth": [_cell(v, PCT) for v in worst["depth"]],
            f"{unit} under water": [str(v) for v in worst["periods"]],
        },
        index=pd.Index([str(i) for i in worst.index], name="rank"),
    )
    return ResultTable(
        key=f"{sheet.key}-drawdowns",
        scope=sheet.key,
        title=f"Worst {WORST} drawdowns of {sheet.returns.name}",
        frame=frame,
        note="Depth from the last high (the initial capital counts as one) to the valley; "
        "recovered on the first date back at that high; shaded in the figure above.",
        source=sheet.source,
        terminal=False,
    )


def tear_sheet(sheet: TearSheetInput) -> list[Heading | Figure | ResultTable]:
    """The heading, figures and tables of one tear sheet."""
    returns = sheet.returns.dropna()
    name = str(returns.name)
    benchmark = sheet.benchmark.reindex(returns.index) if sheet.benchmark is not None else None
    series = {name: returns}
    if benchmark is not None:
        series[str(benchmark.name)] = benchmark
    ppy, window = sheet.periods_per_year, ROLLING_WINDOW[sheet.periods_per_year]
    period, periods, horizon = HORIZON[ppy]
    worst = performance.worst_drawdowns(returns, WORST)
    wealth = pd.DataFrame({label: performance.wealth(s) for label, s in series.items()})
    rolling = {
        "Sharpe ratio": pd.DataFrame(
            {
                label: performance.rolling_sharpe(s, sheet.risk_free, window, ppy)
                for label, s in series.items()
            }
        ),
        "volatility (annualized)": pd.DataFrame(
            {label: performance.rolling_volatility(s, window, ppy) for label, s in series.items()}
        ),
    }
    if benchmark is not None:
        rolling["beta to the benchmark"] = performance.rolling_beta(
            returns, benchmark, window
        ).to_frame(name)
    yearly = pd.DataFrame(
        {label: performance.calendar_returns(s, "year") for label, s in series.items()}
    )
    yearly.index = yearly.index.year
    samples = {horizon: pd.DataFrame(series)}
    markers = {
        horizon: {
            f"VaR 5% ({name})": performance.value_at_risk(returns),
            f"expected shortfall 5% ({name})": performance.expected_shortfall(returns),
        }
    }
    if ppy != 12:
        monthly = {label: performance.calendar_returns(s, "month") for label, s in series.items()}
        samples["monthly returns (calendar months)"] = pd.DataFrame(monthly)
    statistics = {
        label: performance.summary_statistics(s, benchmark, sheet.risk_free, ppy)
        for label, s in series.items()
    }
    against = f" against {benchmark.name}" if benchmark is not None else ""
    return [
        Heading(f"{sheet.key}-tearsheet", sheet.heading, sheet.note),
        figures.tear_sheet_returns(
            wealth,
            drawdown(returns),
            worst,
            key=f"{sheet.key}-tearsheet-returns",
            title=f"{name}: cumulative returns and drawdowns{against}",
            caption=f"Cumulative return (top), growth of 1 on a log scale (middle) and the "
            f"drawdown of {name} (bottom); the worst {WORST} drawdowns are shaded and "
            "numbered by depth (table below).",
        ),
        figures.tear_sheet_rolling(
            rolling,
            key=f"{sheet.key}-tearsheet-rolling",
            title=f"{name}: rolling statistics over {window} {periods}",
            caption=f"Trailing {window}-{period} windows ending at each date: Sharpe ratio "
            "over the risk-free rate, annualized volatility"
            + (", and the OLS beta to the benchmark." if benchmark is not None else "."),
            reference={"Sharpe ratio": 0.0, "beta to the benchmark": 1.0},
            percent=("volatility (annualized)",),
        ),
        figures.tear_sheet_calendar(
            performance.monthly_return_table(returns),
            yearly,
            key=f"{sheet.key}-tearsheet-calendar",
            title=f"{name}: monthly and yearly returns",
            caption="Returns compounded per calendar month (cells, in %) and per calendar "
            "year (bars); a first or last month or year the data only partly covers is "
            "compounded over the periods it has.",
        ),
        figures.tear_sheet_distribution(
            samples,
            markers,
            key=f"{sheet.key}-tearsheet-distribution",
            title=f"{name}: distribution of returns",
            caption="Histograms of period returns, with the historical 5% value at risk and "
            "expected shortfall of the strategy; returns beyond the 0.5% and 99.5% quantiles "
            "are counted in the outermost bins.",
        ),
        _statistics_table(sheet, statistics),
        _drawdown_table(sheet, worst),
    ]
