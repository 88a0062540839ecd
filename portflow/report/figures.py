"""Figures of the report: pure functions from numbers to PNG images.

Built on ``matplotlib.figure.Figure`` directly (no pyplot state, safe in worker threads),
with the constrained layout so that labels never overlap. Every figure has a title,
labelled axes with units and a legend placed outside the data (above the panel or beside
it); date axes use matplotlib's concise date labels and log axes a few 1-2-5 ticks.
The numbers come from ``portflow.quant``; this module only draws them.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.colors import TwoSlopeNorm
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure as MplFigure
from matplotlib.lines import Line2D
from matplotlib.ticker import (
    FixedLocator,
    FuncFormatter,
    MaxNLocator,
    NullLocator,
    PercentFormatter,
)

from portflow.quant.metrics import drawdown

DPI = 110
WIDTH = 10.0
"""Inches: 1,100 pixels at :data:`DPI`, the width of the report's text column."""
MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@dataclass(frozen=True)
class Figure:
    """A rendered figure: a stable key (the HTML id), a title, a caption and PNG bytes."""

    key: str
    title: str
    caption: str
    png: bytes


def _new(height: float, title: str, width: float = WIDTH) -> MplFigure:
    """A figure with its title (set first, so that legends placed outside go below it)."""
    figure = MplFigure(figsize=(width, height), layout="constrained")
    figure.suptitle(title, fontsize=12, fontweight="bold")
    return figure


def _legend_below(
    figure: MplFigure, handles: list, labels: list[str] | None = None, *, columns: int
) -> None:
    """One legend for the whole figure, below its axes (never over the data), in at most
    ``columns`` columns."""
    labels = labels if labels is not None else [h.get_label() for h in handles]
    figure.legend(
        handles,
        labels,
        loc="outside lower center",
        ncol=max(1, min(len(handles), columns)),
        fontsize=8,
        frameon=False,
    )


def _render(figure: MplFigure, key: str, title: str, caption: str) -> Figure:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    return Figure(key, title, caption, buffer.getvalue())


def _dates(axis: Axes) -> None:
    """Concise, non-overlapping date labels on the x axis."""
    locator = AutoDateLocator(minticks=4, maxticks=10)
    axis.xaxis.set_major_locator(locator)
    axis.xaxis.set_major_formatter(ConciseDateFormatter(locator))


def _legend_above(axis: Axes, handles=None, labels=None) -> None:
    """A legend in a row above the panel, so that it never covers the data."""
    handles, labels = axis.get_legend_handles_labels() if handles is None else (handles, labels)
    if not handles:
        return
    columns = min(len(handles), 4 if max(len(str(label)) for label in labels) > 18 else 6)
    axis.legend(
        handles,
        labels,
        loc="lower left",
        bbox_to_anchor=(0.0, 1.01),
        ncol=columns,
        fontsize=8,
        frameon=False,
        borderaxespad=0.0,
    )


def log_ticks(low: float, high: float) -> list[float]:
    """Readable ticks for a log axis from ``low`` to ``high`` (> 0): 1-2-5 per decade,
    thinned to powers of ten over many decades, refined over a narrow range."""
    first, last = math.floor(math.log10(low)), math.ceil(math.log10(high))
    for mantissas in ((1, 2, 5), (1, 1.5, 2, 3, 5, 7)):
        ticks = [
            round(m * 10.0**e, 10)
            for e in range(first, last + 1)
            for m in mantissas
            if low <= m * 10.0**e <= high
        ]
        if len(ticks) >= 3:
            break
    if len(ticks) < 3:
        ticks = [t for t in MaxNLocator(nbins=5).tick_values(low, high) if low <= t <= high]
    if len(ticks) > 8:
        ticks = [t for t in ticks if math.isclose(math.log10(t) % 1, 0, abs_tol=1e-9)]
    return [round(float(t), 10) for t in ticks] or [low, high]


def _log_axis(axis: Axes, values: pd.DataFrame | pd.Series) -> None:
    axis.set_yscale("log")
    finite = np.asarray(values, dtype=float)
    finite = finite[np.isfinite(finite) & (finite > 0)]
    if finite.size == 0:
        return
    axis.yaxis.set_major_locator(FixedLocator(log_ticks(finite.min(), finite.max())))
    axis.yaxis.set_minor_locator(NullLocator())
    axis.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))


def palette(n: int) -> list:
    """``n`` distinct colors: matplotlib's default cycle up to 10, ``tab20`` up to 20."""
    if n <= 10:
        return [f"C{i}" for i in range(n)]
    return [colormaps["tab20"](i % 20) for i in range(n)]


MAX_AREAS = 20
"""Most assets drawn as their own area; the rest are summed into one "others" area."""


def largest_columns(frames: list[pd.DataFrame], limit: int = MAX_AREAS) -> list[str]:
    """Column names across ``frames``, in first-seen order, keeping the ``limit - 1``
    largest by mean weight when there are more than ``limit``."""
    columns = list(dict.fromkeys(c for frame in frames for c in frame.columns))
    if len(columns) <= limit:
        return columns
    means = pd.concat([frame.fillna(0.0).mean() for frame in frames], axis=1).mean(axis=1)
    keep = set(means.sort_values(ascending=False).index[: limit - 1])
    return [c for c in columns if c in keep]


def _with_others(frame: pd.DataFrame, keep: list[str]) -> pd.DataFrame:
    """``frame`` restricted to ``keep`` (in that order), the other columns summed."""
    kept = frame.reindex(columns=keep).fillna(0.0).clip(lower=0.0)
    rest = [c for c in frame.columns if c not in keep]
    if rest:
        kept[f"others ({len(rest)})"] = frame[rest].fillna(0.0).clip(lower=0.0).sum(axis=1)
    return kept


def _percent(axis: Axes, which: str = "y") -> None:
    target = axis.yaxis if which == "y" else axis.xaxis
    target.set_major_formatter(PercentFormatter(xmax=1.0, decimals=0))


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
    figure = _new(6.5, title)
    growth_axis, drawdown_axis = figure.subplots(
        2, 1, sharex=True, gridspec_kw={"height_ratios": [2, 1]}
    )
    growth = {}
    for name, series in returns.items():
        series = series.dropna()
        growth[name] = (1 + series).cumprod()
        growth_axis.plot(growth[name], label=str(name), linewidth=1.2)
        drawdown_axis.plot(drawdown(series), label=str(name), linewidth=1.0)
    _log_axis(growth_axis, pd.concat(growth.values()) if growth else pd.Series(dtype=float))
    growth_axis.set_ylabel("growth of 1 (log scale)")
    drawdown_axis.set_ylabel("drawdown")
    _percent(drawdown_axis)
    for label, date in (splits or {}).items():
        for axis in (growth_axis, drawdown_axis):
            axis.axvline(date, color="grey", linestyle="--", linewidth=0.8)
        growth_axis.annotate(
            label,
            (date, 0.02),
            xytext=(4, 0),
            textcoords="offset points",
            xycoords=("data", "axes fraction"),
            va="bottom",
            fontsize=8,
            color="grey",
        )
    _legend_above(growth_axis)
    _dates(drawdown_axis)
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
    """One panel of lines (one per column) over dates, optionally with a shaded band."""
    figure = _new(4.2, title)
    axis = figure.subplots()
    for name, values in series.items():
        values = values.dropna()  # columns may be observed on different dates
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
    _dates(axis)
    axis.grid(alpha=0.3)
    _legend_above(axis)
    return _render(figure, key, title, caption)


def stacked_weights(
    weights: pd.DataFrame, *, key: str, title: str, caption: str, ylabel: str = "weight"
) -> Figure:
    """Stacked areas of weights (decimals) over time; columns: assets, sectors or sources."""
    figure = _new(4.5, title)
    axis = figure.subplots()
    clean = _with_others(weights, largest_columns([weights]))
    axis.stackplot(
        clean.index,
        clean.T.to_numpy(),
        labels=[str(c) for c in clean],
        colors=palette(clean.shape[1]),
        alpha=0.85,
    )
    axis.set_ylabel(ylabel)
    axis.set_ylim(0, max(1.0, float(clean.sum(axis=1).max())))
    _percent(axis)
    _dates(axis)
    axis.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8, frameon=False)
    axis.grid(alpha=0.3)
    return _render(figure, key, title, caption)


def weights_grid(weights: dict[str, pd.DataFrame], *, key: str, title: str, caption: str) -> Figure:
    """Small multiples: stacked weights (decimals) over time, one panel per portfolio."""
    names = list(weights)
    columns = 2 if len(names) > 1 else 1
    rows = -(-len(names) // columns)
    figure = _new(1.0 + 2.4 * rows, title, WIDTH + 1)
    axes = figure.subplots(rows, columns, sharex=True, sharey=True, squeeze=False).ravel()
    keep = largest_columns(list(weights.values()))
    frames = {name: _with_others(frame, keep) for name, frame in weights.items()}
    tickers = list(dict.fromkeys(t for frame in frames.values() for t in frame.columns))
    colors = dict(zip(tickers, palette(len(tickers)), strict=True))
    for axis, name in zip(axes, names, strict=False):
        frame = frames[name]
        axis.stackplot(
            frame.index,
            frame.T.to_numpy(),
            colors=[colors[t] for t in frame.columns],
            alpha=0.85,
        )
        axis.set_title(name, fontsize=9)
        axis.set_ylim(0, 1)
        _percent(axis)
        axis.grid(alpha=0.3)
        _dates(axis)
        axis.tick_params(axis="x", labelbottom=True, labelsize=8)
    for axis in axes[::columns]:
        axis.set_ylabel("weight held")
    for axis in axes[len(names) :]:
        axis.set_visible(False)
    handles = [axes[0].fill_between([], [], color=colors[t], label=t) for t in tickers]
    _legend_below(figure, handles, columns=10)
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
    panel: str | None = None,
) -> Figure:
    """Labelled points joined by lines per group, e.g. an IR-versus-TE frontier: one panel
    per value of ``panel`` (sharing the axes), the legend above the panels, off the points.
    A group keeps its color in every panel."""
    panels = list(dict.fromkeys(points[panel])) if panel else [None]
    figure = _new(5.0, title)
    axes = figure.subplots(1, len(panels), sharex=True, sharey=True, squeeze=False).ravel()
    groups = list(dict.fromkeys(points[group])) if group else [None]
    colors = dict(zip(groups, palette(len(groups)), strict=True))
    for axis, name in zip(axes, panels, strict=True):
        inside = points if panel is None else points[points[panel] == name]
        for curve in groups:
            frame = inside if group is None else inside[inside[group] == curve]
            if frame.empty:
                continue
            frame = frame.sort_values(x)
            axis.plot(frame[x], frame[y], marker="o", color=colors[curve], label=curve)
            for _, row in frame.iterrows():
                axis.annotate(
                    str(row[label]),
                    (row[x], row[y]),
                    xytext=(3, 3),
                    textcoords="offset points",
                    fontsize=7,
                )
        if name is not None:
            axis.set_title(str(name), fontsize=9)
        axis.set_xlabel(xlabel)
        axis.grid(alpha=0.3)
    axes[0].set_ylabel(ylabel)
    if group:
        handles = [Line2D([], [], color=colors[g], marker="o", label=str(g)) for g in groups]
        _legend_below(figure, handles, columns=4)
    return _render(figure, key, title, caption)


# -- tear sheets ------------------------------------------------------------------------


def tear_sheet_returns(
    returns: pd.DataFrame,
    underwater: pd.Series,
    worst: pd.DataFrame,
    *,
    key: str,
    title: str,
    caption: str,
) -> Figure:
    """Cumulative return (linear), growth of 1 (log) and the underwater curve.

    Parameters
    ----------
    returns : DataFrame of shape (n_periods, 2)
        Wealth (growth of 1) of the strategy (first column) and its benchmark.
    underwater : Series of shape (n_periods,)
        The strategy's drawdown (decimal, <= 0).
    worst : DataFrame
        Worst drawdown periods (``start``, ``recovery``, indexed by rank), shaded.
    """
    figure = _new(8.0, title)
    linear, logarithmic, water = figure.subplots(
        3, 1, sharex=True, gridspec_kw={"height_ratios": [2, 2, 1.3]}
    )
    for position, (name, wealth) in enumerate(returns.items()):
        style = {"linewidth": 1.3 if position == 0 else 1.0, "color": f"C{position}"}
        linear.plot(wealth.index, wealth - 1.0, label=str(name), **style)
        logarithmic.plot(wealth.index, wealth, **style)
    linear.set_ylabel("cumulative return")
    _percent(linear)
    _log_axis(logarithmic, returns)
    logarithmic.set_ylabel("growth of 1 (log scale)")
    water.fill_between(underwater.index, underwater, 0.0, color="C3", alpha=0.5, linewidth=0)
    water.set_ylabel("drawdown")
    _percent(water)
    last = underwater.index[-1]
    for rank, period in worst.iterrows():
        end = period["recovery"] if pd.notna(period["recovery"]) else last
        for axis in (linear, logarithmic, water):
            axis.axvspan(period["start"], end, color="grey", alpha=0.12, linewidth=0)
        water.annotate(
            str(rank),
            (period["valley"], period["depth"]),
            xytext=(0, -2),
            textcoords="offset points",
            ha="center",
            va="top",
            fontsize=7,
        )
    water.set_ylim(min(float(underwater.min()) * 1.25, -0.01), 0.0)
    for axis in (linear, logarithmic, water):
        axis.grid(alpha=0.3)
    _legend_above(linear)
    _dates(water)
    return _render(figure, key, title, caption)


def tear_sheet_rolling(
    panels: dict[str, pd.DataFrame],
    *,
    key: str,
    title: str,
    caption: str,
    reference: dict[str, float] | None = None,
    percent: tuple[str, ...] = (),
) -> Figure:
    """Stacked panels of rolling statistics sharing the date axis.

    Parameters
    ----------
    panels : dict of str to DataFrame
        Panel y-label -> lines (one column per series).
    reference : dict of str to float, optional
        Panel y-label -> a horizontal reference line (e.g. beta 1, Sharpe 0).
    percent : tuple of str
        Panels whose values are decimals shown as percentages.
    """
    figure = _new(2.2 * len(panels) + 0.8, title)
    axes = figure.subplots(len(panels), 1, sharex=True, squeeze=False).ravel()
    for axis, (label, frame) in zip(axes, panels.items(), strict=True):
        for position, (name, values) in enumerate(frame.items()):
            axis.plot(values.index, values, label=str(name), linewidth=1.1, color=f"C{position}")
        if reference and label in reference:
            axis.axhline(reference[label], color="grey", linewidth=0.8, linestyle="--")
        axis.set_ylabel(label)
        if label in percent:
            _percent(axis)
        axis.grid(alpha=0.3)
    _legend_above(axes[0])
    _dates(axes[-1])
    return _render(figure, key, title, caption)


def tear_sheet_calendar(
    table: pd.DataFrame,
    yearly: pd.DataFrame,
    *,
    key: str,
    title: str,
    caption: str,
) -> Figure:
    """Monthly-returns heatmap (years x months) beside the calendar-year returns.

    Parameters
    ----------
    table : DataFrame of shape (n_years, 12 or more)
        Calendar-month returns (decimals), columns 1..12 (others ignored), index: years.
    yearly : DataFrame of shape (n_years, n_series)
        Calendar-year returns of the strategy and its benchmark, index: years.
    """
    months = table[list(range(1, 13))]
    years = list(months.index)
    figure = _new(1.6 + 0.32 * len(years), title)
    heat, bars = figure.subplots(1, 2, sharey=True, gridspec_kw={"width_ratios": [3, 1.2]})
    values = months.to_numpy(dtype=float)
    bound = float(np.nanmax(np.abs(values))) if np.isfinite(values).any() else 0.01
    norm = TwoSlopeNorm(vcenter=0.0, vmin=-max(bound, 1e-4), vmax=max(bound, 1e-4))
    heat.imshow(values, cmap="RdYlGn", norm=norm, aspect="auto", interpolation="nearest")
    for row, column in zip(*np.nonzero(np.isfinite(values)), strict=True):
        value = values[row, column]
        heat.text(
            column,
            row,
            f"{100 * value:.1f}",
            ha="center",
            va="center",
            fontsize=7,
            color="black" if abs(value) < 0.6 * bound else "white",
        )
    heat.set_xticks(range(12), MONTH_NAMES, fontsize=8)
    heat.set_yticks(range(len(years)), [str(y) for y in years], fontsize=8)
    heat.set_xlabel("month (returns in %)")
    heat.set_ylabel("year")
    heat.set_title("monthly returns", fontsize=9)
    positions = np.arange(len(years))
    height = 0.8 / max(yearly.shape[1], 1)
    for i, (name, column) in enumerate(yearly.items()):
        bars.barh(
            positions - 0.4 + height * (i + 0.5),
            column.reindex(years).to_numpy(dtype=float),
            height=height,
            label=str(name),
            color=f"C{i}",
        )
    bars.axvline(0.0, color="grey", linewidth=0.8)
    bars.set_xlabel("calendar-year return")
    _percent(bars, "x")
    bars.grid(alpha=0.3, axis="x")
    bars.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), fontsize=8, frameon=False, ncol=1)
    heat.set_ylim(len(years) - 0.5, -0.5)
    return _render(figure, key, title, caption)


TAIL = 0.005
"""Histograms span the 0.5% to 99.5% quantiles; returns beyond fall in the outer bins."""


def tear_sheet_distribution(
    samples: dict[str, pd.DataFrame],
    markers: dict[str, dict[str, float]],
    *,
    key: str,
    title: str,
    caption: str,
) -> Figure:
    """Histograms of returns, one panel per horizon, strategy and benchmark overlaid.

    Parameters
    ----------
    samples : dict of str to DataFrame
        Horizon label (e.g. "daily returns") -> returns (decimals), one column per series.
    markers : dict of str to dict
        Horizon label -> {marker label: value}: vertical lines (e.g. the strategy's VaR).
    """
    figure = _new(3.8, title)
    axes = figure.subplots(1, len(samples), squeeze=False).ravel()
    for axis, (label, frame) in zip(axes, samples.items(), strict=True):
        data = [frame[c].dropna().to_numpy() for c in frame]
        # The central 99% sets the range; the tails are counted in the outer bins.
        low, high = np.quantile(np.concatenate(data), [TAIL, 1 - TAIL])
        data = [np.clip(values, low, high) for values in data]
        bins = int(np.clip(2 * np.sqrt(len(data[0])), 10, 80))
        edges = np.histogram_bin_edges(np.concatenate(data), bins=bins)
        for position, (name, values) in enumerate(zip(frame.columns, data, strict=True)):
            axis.hist(
                values,
                bins=edges,
                alpha=0.55 if position == 0 else 0.4,
                color=f"C{position}",
                label=str(name),
            )
        for position, (name, value) in enumerate(markers.get(label, {}).items()):
            style = ("--", ":")[position % 2]
            axis.axvline(value, color="black", linestyle=style, linewidth=1, label=name)
        axis.set_xlabel(label)
        axis.set_ylabel("periods")
        _percent(axis, "x")
        axis.grid(alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    for axis in axes[1:]:
        for handle, text in zip(*axis.get_legend_handles_labels(), strict=True):
            if text not in labels:
                handles.append(handle)
                labels.append(text)
    _legend_below(figure, handles, labels, columns=4)
    return _render(figure, key, title, caption)
