"""The store's index page: every run, newest first, with a link to its report, its config
name, its date and the headline figures of each strategy it ran."""

from __future__ import annotations

import html
from contextlib import suppress

from portflow.errors import ArtifactError, PortflowError
from portflow.report.run_view import MOMENT_MODELS, RunView, Sweep, versions_memo_key
from portflow.report.style import STYLE
from storage import ArtifactStore, RunRecord

INDEX_NAME = "index"
"""The index is written as the report named ``index`` (``<store>/_reports/index.html``);
run ids are UUIDs, so it never collides with a run's report."""


def _hedge(run: RunView) -> str:
    row = run.load("hedge", "hedge_metrics").loc["hedged_net"]
    return (
        f"hedged book {row['ann_return']:.1%}/yr, Sharpe {row['sharpe']:.2f}, "
        f"max DD {row['max_drawdown']:.1%}, beta {row['realized_beta']:.2f}"
    )


def _vol_managed(run: RunView) -> str:
    evaluation = run.load("vol_managed", "vol_evaluation")
    first = evaluation.iloc[0]
    rows = evaluation[evaluation["strategy"] == first["strategy"]].set_index("period")
    period = "test" if "test" in rows.index else rows.index[0]
    row = rows.loc[period]
    return (
        f"{first['strategy']} ({period}): alpha {row['alpha_annual']:.1%}/yr "
        f"(t {row['alpha_tstat']:.2f}), Sharpe {row['sharpe_managed']:.2f} vs "
        f"{row['sharpe_unmanaged']:.2f} unmanaged"
    )


def _optimization(run: RunView) -> str:
    model = next(m for m in MOMENT_MODELS if f"optimization[{m}]" in run.scopes())
    point = Sweep.of(run, model).headline() or "benchmark"
    report = run.load(f"optimization[{model}]", "optimization_report").set_index("strategy")
    row = report.loc[point]
    return (
        f"{point} ({model}): IR {row['information_ratio']:.2f}, realized TE "
        f"{row['realized_te']:.1%}, Sharpe {row['sharpe']:.2f}"
    )


def _allocation(run: RunView) -> str:
    metrics = run.load("allocation", "backtest_metrics")
    best = metrics["sharpe"].idxmax()
    first = metrics.index[0]
    text = f"{first}: {metrics.loc[first, 'ann_return']:.1%}/yr, Sharpe "
    text += f"{metrics.loc[first, 'sharpe']:.2f}"
    if best != first:
        text += f"; best Sharpe {best} {metrics.loc[best, 'sharpe']:.2f}"
    return text


HEADLINES = {
    "hedge": _hedge,
    "vol_managed": _vol_managed,
    "optimization": _optimization,
    "allocation": _allocation,
}
"""Strategy -> one line of its headline figures, from its small result tables."""


def headline_figures(run: RunView) -> dict[str, str]:
    """Strategy -> its headline figures; a line saying why when they cannot be read."""
    lines = {}
    for strategy in run.strategies():
        try:
            lines[strategy] = HEADLINES[strategy](run)
        except (PortflowError, KeyError, StopIteration) as error:
            lines[strategy] = f"{UNAVAILABLE} ({error})"
    return lines


UNAVAILABLE = "unavailable"


def remembered_headlines(store: ArtifactStore, record: RunRecord, frames: dict) -> dict[str, str]:
    """:func:`headline_figures` of ``record``, made once per set of versions and then read
    from their memo in the store (the index is rewritten by every run, from every run);
    ``frames`` is shared by the runs of one index."""
    key = versions_memo_key("headlines", record, __name__)
    memo = store.read_memo(key)
    figures = memo.get("headlines") if memo is not None else None
    if isinstance(figures, dict) and all(isinstance(v, str) for v in figures.values()):
        return figures
    figures = headline_figures(RunView(store, record, _frames=frames))
    if not any(text.startswith(UNAVAILABLE) for text in figures.values()):  # may be passing
        with suppress(ArtifactError):  # a read-only store: no memo, nothing else lost
            store.save_memo(key, {"headlines": figures})
    return figures


def build_index(store: ArtifactStore, records: list[RunRecord], reports: set[str]) -> str:
    """The index page of ``records`` (newest first); ``reports``: run ids with a report."""
    rows = []
    frames: dict = {}  # one load per artifact: re-runs share most of their versions
    for record in sorted(records, key=lambda r: r.started_at, reverse=True):
        figures = remembered_headlines(store, record, frames)
        link = (
            f'<a href="{html.escape(record.run_id)}.html"><code>{record.run_id[:8]}</code></a>'
            if record.run_id in reports
            else f"<code>{record.run_id[:8]}</code> (no report: <code>portflow report "
            f"{record.run_id[:8]}</code>)"
        )
        lines = "".join(
            f"<li><b>{html.escape(name)}</b>: {html.escape(text)}</li>"
            for name, text in figures.items()
        )
        rows.append(
            f"<tr><td>{link}</td><td>{html.escape(record.config_name)}</td>"
            f"<td>{record.finished_at:%Y-%m-%d %H:%M}</td>"
            f'<td class="text"><ul class="plain">{lines or "<li>shared stages only</li>"}'
            "</ul></td></tr>"
        )
    body = (
        "<table><thead><tr><th>report</th><th>config</th><th>finished (UTC)</th>"
        f'<th class="text">headline figures</th></tr></thead><tbody>{"".join(rows)}</tbody>'
        "</table>"
        if rows
        else "<p>No runs yet: <code>portflow run default</code>.</p>"
    )
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>portflow runs — {html.escape(store.url)}</title><style>{STYLE}</style>"
        f"</head><body><h1>portflow runs</h1><p class='meta'>Store <code>"
        f"{html.escape(store.url)}</code>: {len(records)} run(s), newest first.</p>"
        f"<div class='table'>{body}</div></body></html>"
    )
