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
from portflow.report.tables import ResultTable, result_tables
from portflow.report.tearsheet import Heading, tear_sheet
from storage import ArtifactStore, RunRecord

STYLE = """
* { box-sizing: border-box; }
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1140px;
       padding: 0 20px; color: #222; line-height: 1.4; }
h1 { margin-bottom: 0.2rem; } .meta { color: #666; margin-top: 0; }
nav { font-size: 0.9rem; margin: 0.8rem 0 1.5rem; }
nav ul { list-style: none; padding: 0; margin: 0.2rem 0; display: flex; flex-wrap: wrap;
         gap: 0.3rem 1.2rem; }
div.table { max-width: 100%; overflow-x: auto; margin: 0.8rem 0 1.4rem; }
table { border-collapse: collapse; margin: 0.4rem 0 0.3rem; font-size: 0.82rem; }
th, td { border-bottom: 1px solid #ddd; padding: 0.25rem 0.4rem; text-align: right;
         vertical-align: top; }
th { font-weight: 600; min-width: 3.5em; vertical-align: bottom; }
td { white-space: nowrap; font-variant-numeric: tabular-nums; }
th:first-child, td:first-child { text-align: left; white-space: normal; min-width: 8em; }
th.text, td.text { text-align: left; white-space: normal; overflow-wrap: anywhere;
                   min-width: 12em; }
figure { margin: 1.2rem 0; } figure img { max-width: 100%; height: auto; display: block; }
figcaption, .note { color: #555; font-size: 0.85rem; overflow-wrap: anywhere; }
section { border-top: 2px solid #eee; margin-top: 2rem; }
h3.tearsheet { border-top: 1px dashed #ccc; padding-top: 1rem; margin-top: 2rem; }
pre { max-width: 100%; overflow-x: auto; white-space: pre-wrap; overflow-wrap: anywhere;
      background: #f7f7f7; padding: 0.6rem; font-size: 0.8rem; }
code { overflow-wrap: anywhere; }
ul.plain { list-style: none; margin: 0; padding: 0; }
"""


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


def build_report(store: ArtifactStore, record: RunRecord) -> str:
    """The report of ``record``: per strategy, its figures, result tables and tear sheet."""
    run = RunView(store, record)
    tables = result_tables(store, record)
    sections, links = [], []
    for strategy in run.strategies():
        section = SECTIONS[strategy]
        blocks: list[Heading | Figure | ResultTable] = [*section.figures(run)]
        blocks += [t for t in tables if scope_strategy(t.scope) == strategy]
        sheet = section.sheet(run)
        if sheet is not None:
            blocks += tear_sheet(sheet)
        sub = "".join(
            f' · <a href="#{b.key}">tear sheet</a>' for b in blocks if isinstance(b, Heading)
        )
        links.append(f'<li><a href="#{strategy}">{html.escape(section.heading)}</a>{sub}</li>')
        sections.append(
            f'<section id="{strategy}"><h2>{html.escape(section.heading)}</h2>'
            + "".join(_block_html(b) for b in blocks)
            + "</section>"
        )
    links.append('<li><a href="#run">The run: parameters, versions, data</a></li>')
    links.append('<li><a href="index.html">All runs in this store</a></li>')
    title = f"portflow report — {html.escape(record.config_name)}"
    return "\n".join(
        [
            "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{title}</title><style>{STYLE}</style></head><body>",
            f"<h1>{title}</h1>",
            f'<p class="meta">run <code>{record.run_id}</code>, finished '
            f"{record.finished_at:%Y-%m-%d %H:%M} UTC; written "
            f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC.</p>",
            f"<nav><ul>{''.join(links)}</ul></nav>",
            *sections,
            _run_section(run),
            "</body></html>",
        ]
    )
