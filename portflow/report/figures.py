"""Figures of the report: pure functions from stage outputs to PNG images.

Built on ``matplotlib.figure.Figure`` directly (no pyplot state, safe in worker threads).
Every figure has a title, labelled axes with units and a legend.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import pandas as pd
from matplotlib.figure import Figure as MplFigure
from matplotlib.ticker import ScalarFormatter

from portflow.quant.metrics import drawdown

DPI = 110


@dataclass(frozen=True)
class Figure:
    """A rendered figure: a stable key (the HTML id), a title, a caption and PNG bytes."""

    key: str
    title: str
    caption: str
    png: bytes


def _render(figure: MplFigure, key: str, title: str, caption: str) -> Figure:
    figure.suptitle(title, fontsize=12, fontweight="bold")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    return Figure(key, title, caption, buffer.getvalue())


def performance(
    returns: pd.DataFrame,
    *,
    key: str,
    title: str,
    caption: str,
    splits: dict[str, pd.Timestamp] | None = None,
) -> Figure:
    """Growth of 1 (log scale) and drawdown of each column of ``returns``.

    Parameters
    ----------
    returns : DataFrame of shape (n_periods, n_series)
        Simple returns per period, one column per strategy or benchmark.
    splits : dict of str to Timestamp, optional
        Vertical markers, e.g. ``{"test starts": date}``.
    """
    figure = MplFigure(figsize=(10, 6.5))
    growth_axis, drawdown_axis = figure.subplots(
        2, 1, sharex=True, gridspec_kw={"height_ratios": [2, 1]}
    )
    for name, series in returns.items():
        series = series.dropna()
        growth_axis.plot((1 + series).cumprod(), label=str(name), linewidth=1.2)
        drawdown_axis.plot(100 * drawdown(series), label=str(name), linewidth=1.0)
    growth_axis.set_yscale("log")
    growth_axis.yaxis.set_major_formatter(ScalarFormatter())
    growth_axis.yaxis.set_minor_formatter(ScalarFormatter())
    growth_axis.tick_params(axis="y", which="minor", labelsize=7)
    growth_axis.set_ylabel("growth of 1 (log scale)")
    drawdown_axis.set_ylabel("drawdown (%)")
    drawdown_axis.set_xlabel("date")
    for label, date in (splits or {}).items():
        for axis in (growth_axis, drawdown_axis):
            axis.axvline(date, color="grey", linestyle="--", linewidth=0.8)
        growth_axis.annotate(
            label,
            (date, 1),
            xytext=(4, 4),
            textcoords="offset points",
            xycoords=("data", "axes fraction"),
            va="bottom",
            fontsize=8,
        )
    growth_axis.legend(loc="upper left", fontsize=8)
    growth_axis.grid(alpha=0.3)
    drawdown_axis.grid(alpha=0.3)
    return _render(figure, key, title, caption)


def lines(
    series: pd.DataFrame,
    *,
    key: str,
    title: str,
    caption: str,
    ylabel: str,
    band: tuple[pd.Series, pd.Series] | None = None,
    step: bool = False,
) -> Figure:
    """One panel of lines (one per column), optionally with a shaded band."""
    figure = MplFigure(figsize=(10, 4))
    axis = figure.subplots()
    for name, values in series.items():
        if step:
            axis.step(values.index, values, where="post", label=str(name), linewidth=1.2)
        else:
            axis.plot(values.index, values, label=str(name), linewidth=1.2)
    if band is not None:
        low, high = band
        axis.fill_between(
            low.index, low, high, step="post" if step else None, alpha=0.2, label="95% interval"
        )
    axis.set_ylabel(ylabel)
    axis.set_xlabel("date")
    axis.grid(alpha=0.3)
    axis.legend(loc="upper left", fontsize=8)
    return _render(figure, key, title, caption)


def stacked_weights(
    weights: pd.DataFrame, *, key: str, title: str, caption: str, ylabel: str = "weight (%)"
) -> Figure:
    """Stacked areas of weights over time (columns: assets, sectors or allocators' assets)."""
    figure = MplFigure(figsize=(10, 4.5))
    axis = figure.subplots()
    clean = weights.fillna(0.0).clip(lower=0.0)
    axis.stackplot(
        clean.index, (100 * clean).T.to_numpy(), labels=[str(c) for c in clean], alpha=0.85
    )
    axis.set_ylabel(ylabel)
    axis.set_xlabel("date")
    axis.set_ylim(0, max(100.0, float(100 * clean.sum(axis=1).max())))
    axis.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8)
    axis.grid(alpha=0.3)
    return _render(figure, key, title, caption)


def weights_grid(weights: dict[str, pd.DataFrame], *, key: str, title: str, caption: str) -> Figure:
    """Small multiples: stacked weights over time, one panel per portfolio."""
    names = list(weights)
    columns = 2
    rows = -(-len(names) // columns)
    figure = MplFigure(figsize=(11, 2.6 * rows))
    axes = figure.subplots(rows, columns, sharex=True, sharey=True, squeeze=False).ravel()
    tickers = sorted({t for frame in weights.values() for t in frame.columns})
    colors = dict(zip(tickers, [f"C{i}" for i in range(len(tickers))], strict=True))
    for axis, name in zip(axes, names, strict=False):
        frame = weights[name].fillna(0.0).clip(lower=0.0)
        axis.stackplot(
            frame.index,
            (100 * frame).T.to_numpy(),
            colors=[colors[t] for t in frame.columns],
            alpha=0.85,
        )
        axis.set_title(name, fontsize=9)
        axis.set_ylim(0, 100)
        axis.set_ylabel("weight (%)")
        axis.grid(alpha=0.3)
    for axis in axes[len(names) :]:
        axis.set_visible(False)
    handles = [axes[0].fill_between([], [], color=colors[t], label=t) for t in tickers]
    figure.legend(handles=handles, loc="lower center", ncol=len(tickers), fontsize=8)
    figure.subplots_adjust(bottom=0.12 / rows)
    return _render(figure, key, title, caption)


def scatter(
    points: pd.DataFrame,
    *,
    x: str,
    y: str,
    label: str,
    key: str,
    title: str,
    caption: str,
    xlabel: str,
    ylabel: str,
    group: str | None = None,
) -> Figure:
    """Labelled points joined by lines per group, e.g. an IR-versus-TE frontier."""
    figure = MplFigure(figsize=(8, 5))
    axis = figure.subplots()
    groups = points.groupby(group) if group else [("", points)]
    for name, frame in groups:
        frame = frame.sort_values(x)
        axis.plot(frame[x], frame[y], marker="o", label=str(name) or None)
        for _, row in frame.iterrows():
            axis.annotate(
                str(row[label]),
                (row[x], row[y]),
                xytext=(3, 3),
                textcoords="offset points",
                fontsize=7,
            )
    axis.set_xlabel(xlabel)
    axis.set_ylabel(ylabel)
    axis.grid(alpha=0.3)
    if group:
        axis.legend(fontsize=8)
    return _render(figure, key, title, caption)
