"""Result tables of a run, read from the store and formatted for people.

One declaration per table says which stage it shows, which columns, with which headers
and number formats. The terminal, the Prefect table artifacts and the HTML report all
render the same :class:`ResultTable` objects.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

import pandas as pd

from portflow.errors import ArtifactError
from portflow.quant.metrics import performance_table
from portflow.report.run_view import RunView, scope_strategy, versions_memo_key
from storage import ArtifactRef, ArtifactStore, RunRecord

__all__ = ["SPECS", "ResultTable", "TableSpec", "result_tables", "scope_strategy"]

PERCENT, RATIO, COUNT = "{:.2%}", "{:.2f}", "{:.0f}"
TRADING_DAYS = 252


@dataclass(frozen=True)
class TableSpec:
    """How to show one stage's output."""

    key: str
    scope: str
    stage: str
    title: str
    columns: dict[str, tuple[str, str]]
    """Source column -> (header, format); a format of ``""`` means str(); empty: every
    column but ``note_column``, already formatted by ``reshape``."""
    label: str | tuple[str, ...] | None = None
    """Column(s) naming each row; None = the index. Their names (or the index's name)
    head the label column."""
    note: str = ""
    note_column: str | None = None
    """A column of notes (several joined by " | ") whose distinct notes join the table note."""
    reshape: Callable[[pd.DataFrame], pd.DataFrame] | None = None
    """Turns the stage output into the table's rows before formatting."""
    extend: Callable[[RunView, pd.DataFrame], pd.DataFrame] | None = None
    """Rows to append, computed from the run (e.g. the benchmark's), in the stage output's
    columns; gets the run and the stage output."""
    terminal: bool = True
    """False for long tables that only the HTML report shows."""


def _crisis_table(crises: pd.DataFrame) -> pd.DataFrame:
    """One row per strategy; total, active and TE per covered window, as formatted cells."""
    covered = crises[crises["coverage"] != "not covered"]
    windows = list(dict.fromkeys(covered["window"]))
    order = list(dict.fromkeys(covered["strategy"]))
    cells = {}
    for window in windows:
        rows = covered[covered["window"] == window].set_index("strategy").reindex(order)
        partial = " (partial)" if (rows["coverage"] == "partial").any() else ""
        for column, header in (
            ("total_return", "total"),
            ("active_return", "active"),
            ("tracking_error", "TE"),
            ("max_drawdown", "max DD"),
        ):
            cells[f"{window.replace('_', ' ')}{partial} {header}"] = [
                "" if pd.isna(v) else f"{v:.1%}" for v in rows[column]
            ]
    table = pd.DataFrame(cells, index=pd.Index(order, name="strategy"))
    missing = [w for w in dict.fromkeys(crises["window"]) if w not in windows]
    table["note"] = f"Not covered by the data: {', '.join(missing)}." if missing else ""
    return table


def _optimization_specs(model: str) -> tuple[TableSpec, TableSpec]:
    moments = {"sample": "rolling-window", "regime": "regime-aware (HMM)"}[model]
    return (
        TableSpec(
            key=f"optimization-{model}",
            scope=f"optimization[{model}]",
            stage="optimization_report",
            title=f"Active optimization, {moments} factor moments: one row per sweep point",
            columns={
                "ann_return": ("return %/yr", PERCENT),
                "sharpe": ("Sharpe", RATIO),
                "active_return": ("active %/yr", PERCENT),
                "realized_te": ("realized TE", PERCENT),
                "ex_ante_te": ("ex-ante TE", PERCENT),
                "te_ratio": ("realized/ex-ante", RATIO),
                "information_ratio": ("IR", RATIO),
                "turnover": ("turnover/mo 1-way", RATIO),
                "turnover_two_way": ("2-way", RATIO),
                "names_held": ("names", "{:.1f}"),
                "effective_names": ("effective names", "{:.1f}"),
                "failures": ("failed solves", COUNT),
                "delisted_weight": ("delisted weight", RATIO),
            },
            label="strategy",
            note="Monthly; weights decided at t earn t+1; TE annualized; realized/ex-ante "
            "above 1 means the risk model understated the active risk taken (the budget "
            "bound the ex-ante TE, not the realized one); IR = active return / realized TE; "
            "turnover 1-way = half of 2-way (sum of |trades|); failed solves are counted, "
            "never replaced; delisted weight: weight in stocks that left during their month, "
            "held to their last return (summed over months). Benchmark weights (dates of "
            "each scheme when they differ):",
            note_column="benchmark_scheme",
        ),
        TableSpec(
            key=f"crises-{model}",
            scope=f"optimization[{model}]",
            stage="crisis_report",
            title=f"Active optimization in crises, {moments} factor moments",
            columns={},
            note="Cumulative total and active return, annualized tracking error and maximum "
            "drawdown inside each crisis window, beside the full sample.",
            note_column="note",
            reshape=_crisis_table,
        ),
    )


PERCENT_METRICS = {"ann_return", "ann_volatility", "max_drawdown", "ann_cost"}


def _mean_plus_minus_std(summary: pd.DataFrame) -> pd.DataFrame:
    """Seed summary (strategy, metric, mean, std, n_runs) -> one row per multi-seed strategy."""
    repeated = summary[summary["n_runs"] > 1]
    cells = repeated.assign(
        cell=[
            f"{m:.2%} ± {s:.2%}" if metric in PERCENT_METRICS else f"{m:.2f} ± {s:.2f}"
            for metric, m, s in repeated[["metric", "mean", "std"]].itertuples(index=False)
        ]
    )
    table = cells.pivot(index="strategy", columns="metric", values="cell")
    table["n_runs"] = repeated.groupby("strategy")["n_runs"].first()
    return table


def allocation_benchmark(run: RunView) -> pd.Series | None:
    """The allocation universe's benchmark over the backtest's dates, or None without one.

    Held like an allocator: bought at the close of the first backtest date, so its return
    on that date is 0 (an allocator's is its purchase cost only). Named ``benchmark
    (TICKER)``.
    """
    ticker = run.params("allocation", "allocation_targets").get("benchmark")
    daily = run.load(run.upstream("allocation", "backtest_returns", "daily_returns"))
    if not ticker or ticker not in daily.columns:
        return None
    dates = pd.DatetimeIndex(sorted(run.load("allocation", "backtest_returns")["date"].unique()))
    returns = daily[ticker].reindex(dates)
    returns.iloc[0] = 0.0
    return returns.rename(f"benchmark ({ticker})")


def _allocation_benchmark_row(run: RunView, metrics: pd.DataFrame) -> pd.DataFrame:
    """The benchmark's row of the allocation table: the same metrics over the same dates."""
    returns = allocation_benchmark(run)
    if returns is None:
        return metrics.iloc[:0]
    rf = run.load(run.upstream("allocation", "backtest_metrics", "risk_free_daily"))["rf"]
    row = performance_table(returns.to_frame(), rf, TRADING_DAYS)
    row.index.name = metrics.index.name
    return row


PERFORMANCE = {
    "ann_return": ("return %/yr", PERCENT),
    "ann_volatility": ("volatility %/yr", PERCENT),
    "sharpe": ("Sharpe", RATIO),
    "sortino": ("Sortino", RATIO),
    "max_drawdown": ("max drawdown", PERCENT),
}
"""The columns of ``portflow.quant.metrics.performance_table`` every strategy reports."""

SPECS = (
    TableSpec(
        key="hedge-metrics",
        scope="hedge",
        stage="hedge_metrics",
        title="Beta hedge: performance of the hedged book, the basket and the benchmark",
        columns={
            **PERFORMANCE,
            "turnover": ("turnover/yr 2-way", RATIO),
            "turnover_one_way": ("1-way", RATIO),
            "realized_beta": ("realized beta", RATIO),
        },
        note="Daily returns; Sharpe over the daily risk-free rate (mean excess / std, x sqrt "
        "252). The book is financed: its cash and the short's proceeds earn the risk-free "
        "rate, the short pays the borrow fee (hedge.borrow_fee, actual/360), and costs "
        "(hedge.cost_rate) are paid on the hedge's rebalances and on the basket's daily "
        "re-weighting to its volume weights; gross = before those costs. Turnover per year "
        "as a multiple of equity: 2-way counts buys and sells, 1-way is half. Basket "
        "weights from:",
        note_column="volume_measure",
    ),
    TableSpec(
        key="hedge-regression",
        scope="hedge",
        stage="hedge_regression",
        title="Beta hedge: full-sample OLS on the benchmark (statsmodels)",
        columns={
            "alpha": ("alpha/day", "{:.5f}"),
            "alpha_t": ("t(alpha)", RATIO),
            "beta": ("beta", "{:.3f}"),
            "beta_se": ("se(beta)", "{:.3f}"),
            "beta_t": ("t(beta)", RATIO),
            "r_squared": ("R2", RATIO),
            "n_obs": ("n", COUNT),
            "cov_type": ("errors", ""),
        },
        note="'hedged' is r_basket - beta r_benchmark with the full-sample beta: its beta is 0.",
    ),
    TableSpec(
        key="vol-evaluation",
        scope="vol_managed",
        stage="vol_evaluation",
        title="Volatility-managed portfolios: managed on unmanaged (Moreira & Muir 2017)",
        # N, the errors used and the volatility-matched alpha are in the vol-paper table.
        columns={
            "alpha_annual": ("alpha %/yr", PERCENT),
            "alpha_tstat": ("t(alpha)", RATIO),
            "beta": ("beta", RATIO),
            "r_squared": ("R2", RATIO),
            "sharpe_unmanaged": ("SR unmanaged", RATIO),
            "sharpe_managed": ("SR managed", RATIO),
            "appraisal_ratio": ("appraisal", RATIO),
            "mean_exposure": ("mean exposure", RATIO),
            "max_exposure": ("max exposure", "{:.1f}"),
            "turnover_one_way": ("turnover/mo 1-way", RATIO),
            "turnover_two_way": ("2-way", RATIO),
            "alpha_net_14bp": ("14bp net %/yr", PERCENT),
            "break_even_bp": ("break-even bp", "{:.1f}"),
        },
        label=("strategy", "period"),
        note="Standard errors as in the paper table's errors column; alphas annualized (x12); "
        "costs in bp per unit of |change in exposure| per month; turnover per month, 2-way "
        "counts the cash leg, 1-way is half.",
        note_column="note",
    ),
    TableSpec(
        key="vol-paper",
        scope="vol_managed",
        stage="vol_evaluation",
        title="Volatility-managed portfolios as in Moreira & Muir (2017), Table I: the "
        "volatility-matched managed series on the unmanaged one",
        columns={
            "alpha_scaled_annual": ("alpha %/yr", PERCENT),
            "alpha_scaled_se_annual": ("(se)", PERCENT),
            "alpha_tstat": ("t(alpha)", RATIO),
            "beta_scaled": ("beta", RATIO),
            "r_squared": ("R2", RATIO),
            "n_months": ("N", COUNT),
            "rmse_scaled_annual": ("RMSE %/yr", PERCENT),
            "appraisal_ratio": ("appraisal", RATIO),
            "cov_type": ("errors", ""),
        },
        label=("strategy", "period"),
        note="The managed series scaled to the unmanaged one's volatility over the period "
        "(the paper's c, ex post: for comparison only); monthly regressions, alpha, its "
        "error and RMSE (residual s.d.) times 12. Published for the market, 1926-2015: "
        "alpha 4.86 (1.56) %/yr, beta 0.61, R2 0.37 (README: the samples compared).",
        note_column="note",
    ),
    *_optimization_specs("sample"),
    *_optimization_specs("regime"),
    TableSpec(
        key="allocation-metrics",
        scope="allocation",
        stage="backtest_metrics",
        title="Allocation backtests: net of costs, one row per allocator and seed",
        columns={
            **PERFORMANCE,
            "calmar": ("Calmar", RATIO),
            "ann_turnover": ("turnover/yr 2-way", RATIO),
            "ann_turnover_one_way": ("1-way", RATIO),
            "ann_cost": ("cost %/yr", PERCENT),
            "n_rebalances": ("rebalances", COUNT),
        },
        note="Daily net returns; weights drift between rebalances; Sharpe over the daily "
        "risk-free rate; turnover per year after the first purchase, 2-way sums buys and "
        "sells, 1-way is half. The benchmark is bought at the close of the first backtest "
        "date and held, without costs.",
        note_column="note",
        extend=_allocation_benchmark_row,
    ),
    TableSpec(
        key="allocation-seeds",
        scope="allocation",
        stage="backtest_seed_summary",
        title="Allocation backtests: mean ± standard deviation over seeds",
        columns={
            "ann_return": ("return %/yr", ""),
            "ann_volatility": ("volatility %/yr", ""),
            "sharpe": ("Sharpe", ""),
            "max_drawdown": ("max drawdown", ""),
            "ann_turnover": ("turnover/yr 2-way", ""),
            "ann_turnover_one_way": ("1-way", ""),
            "n_runs": ("seeds", ""),
        },
        note="Stochastic allocators (the LSTM) are trained once per seed; each seed is a run.",
        reshape=_mean_plus_minus_std,
    ),
)


@dataclass(frozen=True)
class ResultTable:
    """A formatted table: every cell a string, ready for any renderer."""

    key: str
    scope: str
    title: str
    frame: pd.DataFrame
    note: str
    source: ArtifactRef
    terminal: bool = True

    @property
    def label_header(self) -> str:
        """The header of the row-label column (the frame's index name)."""
        return str(self.frame.index.name or "series")

    def as_json(self) -> dict[str, Any]:
        """The table as JSON (:meth:`from_json` reads it back)."""
        return {
            "key": self.key,
            "scope": self.scope,
            "title": self.title,
            "note": self.note,
            "source": str(self.source),
            "terminal": self.terminal,
            "label_header": self.label_header,
            "labels": list(self.frame.index),
            "columns": list(self.frame.columns),
            "cells": self.frame.to_numpy().tolist(),
        }

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> ResultTable:
        """The table of :meth:`as_json`'s ``value``; KeyError, TypeError or ValueError
        when it is not one."""
        stage, _, version = value["source"].partition("@")
        cells, columns = value["cells"], value["columns"]
        if not all(isinstance(cell, str) for row in cells for cell in row) or any(
            len(row) != len(columns) for row in cells
        ):
            raise ValueError("a result table holds one string per column in every row")
        frame = pd.DataFrame(  # as _formatted makes it
            {column: [row[i] for row in cells] for i, column in enumerate(columns)},
            index=pd.Index(list(value["labels"]), name=str(value["label_header"])),
        )
        return cls(
            str(value["key"]),
            str(value["scope"]),
            str(value["title"]),
            frame,
            str(value["note"]),
            ArtifactRef(stage, version),
            bool(value["terminal"]),
        )

    def records(self) -> list[dict[str, str]]:
        """One dict per row, the row label first under :attr:`label_header`."""
        return [
            {self.label_header: label, **dict(zip(self.frame.columns, cells, strict=True))}
            for label, cells in zip(
                self.frame.index, self.frame.itertuples(index=False), strict=True
            )
        ]


def _formatted(raw: pd.DataFrame, spec: TableSpec) -> pd.DataFrame:
    if spec.label is None:
        labels, header = raw.index.astype(str), raw.index.name or "series"
    else:
        names = [spec.label] if isinstance(spec.label, str) else list(spec.label)
        labels, header = raw[names].astype(str).agg(" / ".join, axis=1), " / ".join(names)
    columns = spec.columns or {c: (c, "") for c in raw.columns if c != spec.note_column}
    cells = {
        header: [
            fmt.format(v) if fmt and pd.notna(v) else ("" if pd.isna(v) else str(v))
            for v in raw[column]
        ]
        for column, (header, fmt) in columns.items()
        if column in raw.columns
    }
    return pd.DataFrame(cells, index=pd.Index(list(labels), name=str(header)))


def tables_memo_key(record: RunRecord) -> str:
    """The memo of the result tables of ``record``'s versions, under the current code."""
    return versions_memo_key("tables", record, __name__)


_MAKING = threading.Lock()
"""Held while a process looks up or makes result tables."""


def result_tables(store: ArtifactStore, record: RunRecord) -> list[ResultTable]:
    """The result tables of every strategy the run executed.

    They are made once per set of versions: the first time, from the artifacts, then
    from their memo in the store (a re-run's Prefect artifacts, report and terminal read
    one small file instead of every result artifact).
    """
    key = tables_memo_key(record)
    with _MAKING:  # the run's report and Prefect artifacts ask at once: made once
        memo = store.read_memo(key)
        if memo is not None:
            try:
                return [ResultTable.from_json(table) for table in memo["tables"]]
            except (KeyError, TypeError, ValueError):
                pass  # not one of ours: made again below
        tables = _result_tables(store, record)
        with suppress(ArtifactError):  # a read-only store: no memo, nothing else lost
            store.save_memo(key, {"tables": [table.as_json() for table in tables]})
        return tables


def _result_tables(store: ArtifactStore, record: RunRecord) -> list[ResultTable]:
    run = RunView(store, record)
    tables = []
    for spec in SPECS:
        ref = run.ref(spec.scope, spec.stage)
        if ref is None:
            continue
        raw = run.load(ref)
        if spec.extend is not None:
            raw = pd.concat([raw, spec.extend(run, raw)])
        if spec.reshape is not None:
            raw = spec.reshape(raw)
        if raw.empty:
            continue
        note = spec.note
        if spec.note_column:
            notes = {n for v in raw[spec.note_column].dropna() for n in str(v).split(" | ") if n}
            note = " ".join([note, *(f"{n.rstrip('.')}." for n in sorted(notes))])
        frame = _formatted(raw, spec)
        tables.append(
            ResultTable(spec.key, spec.scope, spec.title, frame, note, ref, spec.terminal)
        )
    return tables
