"""The self-contained HTML report of a run: one file, images embedded, no scripts."""

from __future__ import annotations

import base64
import datetime as dt
import html

from portflow.report.sections import SECTIONS, RunView
from portflow.report.tables import ResultTable, result_tables, scope_strategy
from storage import ArtifactStore, RunRecord

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; color: #222; }
h1 { margin-bottom: 0.2rem; } .meta { color: #666; margin-top: 0; }
table { border-collapse: collapse; margin: 0.5rem 0 0.3rem; font-size: 0.85rem; }
th, td { border-bottom: 1px solid #ddd; padding: 0.25rem 0.6rem; text-align: right; }
th:first-child, td:first-child { text-align: left; }
figure { margin: 1.2rem 0; } figure img { max-width: 100%; }
figcaption, .note { color: #555; font-size: 0.85rem; }
section { border-top: 2px solid #eee; margin-top: 2rem; }
"""


def _table_html(table: ResultTable) -> str:
    records = table.records()
    header = "".join(f"<th>{html.escape(c)}</th>" for c in records[0])
    rows = "".join(
        "<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in r.values()) + "</tr>"
        for r in records
    )
    return (
        f'<div class="table" id="{table.key}"><h3>{html.escape(table.title)}</h3>'
        f"<table><thead><tr>{header}</tr></thead><tbody>{rows}</tbody></table>"
        f'<p class="note">{html.escape(table.note)} Source: <code>{table.source}</code>.</p></div>'
    )


def _stages_html(record: RunRecord) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(s.get('scope', ''))}</td><td>{s['stage']}</td>"
        f"<td><code>{s['version']}</code></td><td>{s['rows']}</td><td>{s['status']}</td></tr>"
        for s in record.stages
    )
    return (
        "<details><summary>Stages of this run</summary><table><thead><tr><th>scope</th>"
        "<th>stage</th><th>version</th><th>rows</th><th>status</th></tr></thead>"
        f"<tbody>{rows}</tbody></table></details>"
    )


def build_report(store: ArtifactStore, record: RunRecord) -> str:
    """The report of ``record``: per strategy, its figures and its result tables."""
    run = RunView(store, record)
    tables = result_tables(store, record)
    scopes = run.scopes()
    parts = [
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>portflow report — {html.escape(record.config_name)}</title>"
        f"<style>{STYLE}</style></head><body>",
        f"<h1>portflow report — {html.escape(record.config_name)}</h1>",
        f'<p class="meta">run <code>{record.run_id}</code>, finished '
        f"{record.finished_at:%Y-%m-%d %H:%M} UTC; written "
        f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC.</p>",
        _stages_html(record),
    ]
    for strategy, (heading, build) in SECTIONS.items():
        if strategy not in scopes:
            continue
        parts.append(f'<section id="{strategy}"><h2>{html.escape(heading)}</h2>')
        for figure in build(run):
            encoded = base64.b64encode(figure.png).decode()
            parts.append(
                f'<figure id="{figure.key}"><img alt="{html.escape(figure.title)}" '
                f'src="data:image/png;base64,{encoded}"><figcaption>'
                f"{html.escape(figure.caption)}</figcaption></figure>"
            )
        parts += [_table_html(t) for t in tables if scope_strategy(t.scope) == strategy]
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts)
