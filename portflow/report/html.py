"""The self-contained HTML report of a run: one file, images embedded, no scripts.

Per strategy: its views, its result tables and its tear sheet; then the run itself (its
parameters, config, versions and data provenance). Tables wrap their headers and scroll
inside their own box when they cannot fit, so that nothing is wider than the page.
"""

from __future__ import annotations

import base64
import datetime as dt
import html

import pandas as pd

from portflow.report import provenance
from portflow.report.figures import Figure
from portflow.report.provenance import InfoTable
from portflow.report.run_view import RunView, scope_strategy
from portflow.report.sections import SECTIONS
from portflow.report.style import STYLE
from portflow.report.tables import ResultTable, result_tables
from portflow.report.tearsheet import Heading, tear_sheet
from storage import ArtifactStore, RunRecord, StoreSpec


def _frame_html(frame: pd.DataFrame, text_columns: tuple[str, ...] = ()) -> str:
    """A table of string cells; the index is the first column, headed by its name."""
    header = f"<th>{html.escape(str(frame.index.name or ''))}</th>" + "".join(
        f'<th class="text">{html.escape(str(c))}</th>'
        if c in text_columns
        else f"<th>{html.escape(str(c))}</th>"
        for c in frame.columns
    )
    rows = "".join(
        f"<tr><td>{html.escape(str(label))}</td>"
        + "".join(
            f'<td class="text">{html.escape(str(v))}</td>'
            if column in text_columns
            else f"<td>{html.escape(str(v))}</td>"
            for column, v in zip(frame.columns, cells, strict=True)
        )
        + "</tr>"
        for label, cells in zip(frame.index, frame.itertuples(index=False), strict=True)
    )
    return f"<table><thead><tr>{header}</tr></thead><tbody>{rows}</tbody></table>"


def _table_html(table: ResultTable) -> str:
    return (
        f'<div class="table" id="{table.key}"><h4>{html.escape(table.title)}</h4>'
        f"{_frame_html(table.frame)}"
        f'<p class="note">{html.escape(table.note)} Source: <code>{table.source}</code>.</p></div>'
    )


def _info_html(table: InfoTable) -> str:
    return (
        f'<div class="table" id="{table.key}"><h3>{html.escape(table.title)}</h3>'
        f"{_frame_html(table.frame, tuple(table.frame.columns))}"
        f'<p class="note">{html.escape(table.note)}</p></div>'
    )


def _figure_html(figure: Figure) -> str:
    encoded = base64.b64encode(figure.png).decode()
    return (
        f'<figure id="{figure.key}"><img alt="{html.escape(figure.title)}" '
        f'src="data:image/png;base64,{encoded}"><figcaption>'
        f"{html.escape(figure.caption)}</figcaption></figure>"
    )


def _block_html(block: Heading | Figure | ResultTable) -> str:
    if isinstance(block, Figure):
        return _figure_html(block)
    if isinstance(block, ResultTable):
        return _table_html(block)
    return (
        f'<h3 class="tearsheet" id="{block.key}">{html.escape(block.text)}</h3>'
        f'<p class="note">{html.escape(block.note)}</p>'
    )


def _stages_html(record: RunRecord) -> str:
    frame = pd.DataFrame(
        {
            "stage": [s["stage"] for s in record.stages],
            "version": [s["version"] for s in record.stages],
            "rows": [s.get("rows", "") for s in record.stages],
            "status": [s["status"] for s in record.stages],
        },
        index=pd.Index([s.get("scope", "") for s in record.stages], name="scope"),
    )
    return (
        f'<details id="run-stages"><summary>The {len(record.stages)} stages of this run and '
        f'their versions</summary><div class="table">{_frame_html(frame)}</div></details>'
    )


def _run_section(run: RunView) -> str:
    return "".join(
        [
            '<section id="run"><h2>The run: parameters, versions and data</h2>',
            _info_html(provenance.run_table(run)),
            _info_html(provenance.data_table(run)),
            _info_html(provenance.versions_table(run)),
            _stages_html(run.record),
            '<details id="run-config"><summary>Config of this run (YAML)</summary>'
            f"<pre>{html.escape(provenance.config_yaml(run))}</pre></details>",
            "</section>",
        ]
    )


def strategy_section(store: ArtifactStore, record: RunRecord, strategy: str) -> tuple[str, str]:
    """One strategy's part of the report: its navigation entry and its section (figures,
    result tables and tear sheet). Sections do not depend on each other, so the report
    task can draw them in parallel processes."""
    run = RunView(store, record)
    section = SECTIONS[strategy]
    blocks: list[Heading | Figure | ResultTable] = [*section.figures(run)]
    blocks += [t for t in result_tables(store, record) if scope_strategy(t.scope) == strategy]
    sheet = section.sheet(run)
    if sheet is not None:
        blocks += tear_sheet(sheet)
    sub = "".join(f' · <a href="#{b.key}">tear sheet</a>' for b in blocks if isinstance(b, Heading))
    link = f'<li><a href="#{strategy}">{html.escape(section.heading)}</a>{sub}</li>'
    return link, (
        f'<section id="{strategy}"><h2>{html.escape(section.heading)}</h2>'
        + "".join(_block_html(b) for b in blocks)
        + "</section>"
    )


def draw_section(store: StoreSpec, record: RunRecord, strategy: str) -> tuple[str, str]:
    """:func:`strategy_section` of the store at ``store`` (its URL and fsspec options):
    what a worker process of the report task runs (this module imports no Prefect)."""
    return strategy_section(ArtifactStore(store), record, strategy)


def build_report(
    store: ArtifactStore,
    record: RunRecord,
    head: str = "",
    sections: list[tuple[str, str]] | None = None,
) -> str:
    """The report of ``record``: per strategy, its figures, result tables and tear sheet.

    ``head``: more elements for the page's head (the report task's content key).
    ``sections``: the :func:`strategy_section` of every strategy of the run, in
    ``RunView.strategies()`` order, when drawn elsewhere; drawn here otherwise.
    """
    run = RunView(store, record)
    if sections is None:
        sections = [strategy_section(store, record, name) for name in run.strategies()]
    links = [link for link, _ in sections]
    links.append('<li><a href="#run">The run: parameters, versions, data</a></li>')
    links.append('<li><a href="index.html">All runs in this store</a></li>')
    title = f"portflow report — {html.escape(record.config_name)}"
    return "\n".join(
        [
            "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"{head}<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{title}</title><style>{STYLE}</style></head><body>",
            f"<h1>{title}</h1>",
            f'<p class="meta">run <code>{record.run_id}</code>, finished '
            f"{record.finished_at:%Y-%m-%d %H:%M} UTC; written "
            f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC.</p>",
            f"<nav><ul>{''.join(links)}</ul></nav>",
            *(body for _, body in sections),
            _run_section(run),
            "</body></html>",
        ]
    )
