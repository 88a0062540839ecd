"""The report task: the run's HTML report and the store's index page, announced in the
Prefect UI as a markdown artifact with copyable paths.

A report shows what the run's artifacts hold, so two runs with the same artifact versions
and config show the same figures and tables. :func:`report_key` hashes that content: every
(scope, stage, version) of the run, its config, and the version of the report's code. When
a report with the run's key exists (an earlier run's: a warm re-run), the run's report is a
short page that says so and opens that report, instead of drawing its figures again; the
report of every run keeps its address, ``<store>/_reports/<run_id>.html``.
"""

from __future__ import annotations

import hashlib
import html
import multiprocessing
import re
from concurrent.futures import ProcessPoolExecutor
from itertools import repeat

from prefect.artifacts import create_markdown_artifact

from portflow.report.index import INDEX_NAME, build_index
from portflow.report.run_view import RunView
from portflow.report.style import STYLE
from storage import ArtifactStore, RunRecord, StoreSpec
from storage.versions import canonical_json, module_version
from tasks import pipeline_task
from tasks.stage import available_cores, warn

REPORT_MODULE = "portflow.report.html"
"""The module that builds a report: its code version (with every portflow module it
imports) is part of :func:`report_key`."""
KEY_META = "portflow-report-key"
"""The ``<meta>`` name under which a report page records its :func:`report_key`."""
OF_META = "portflow-report-of"
"""The ``<meta>`` name under which a page pointing to another run's report names that run."""
HEAD_BYTES = 4096
"""Bytes read from the start of a report page to find its keys (they are in its head)."""


def report_key(record: RunRecord) -> str:
    """The content of ``record``'s report, as a hash: its stages' versions, its config and
    the report code's version (the same key means the same figures and tables)."""
    payload = {
        "stages": [[row.get("scope", ""), row["stage"], row["version"]] for row in record.stages],
        "config_name": record.config_name,
        "config": record.config,
        "report_code": module_version(REPORT_MODULE),
    }
    return hashlib.sha256(canonical_json(payload).encode()).hexdigest()[:16]


def _meta(page_head: str, name: str) -> str | None:
    found = re.search(rf"<meta name='{name}' content='([^']*)'>", page_head)
    return found.group(1) if found else None


def written_report(store: ArtifactStore, run_id: str) -> tuple[str, str] | None:
    """``(key, run id of the full report)`` of the report page of ``run_id``: the run
    itself, or the run its page points to; None without a page or a key."""
    try:
        with store.fs.open(store.report_url(run_id), "rb") as page:
            head = page.read(HEAD_BYTES).decode("utf-8", "replace")
    except FileNotFoundError:
        return None
    key = _meta(head, KEY_META)
    return None if key is None else (key, _meta(head, OF_META) or run_id)


def report_with_key(store: ArtifactStore, record: RunRecord, key: str) -> str | None:
    """The run id of an existing full report whose key is ``key`` (newest first), if any."""
    for earlier in reversed(store.runs()):
        if earlier.run_id == record.run_id or report_key(earlier) != key:
            continue
        written = written_report(store, earlier.run_id)
        if written is not None and written[0] == key:
            return written[1]
    return None


def pointer_page(record: RunRecord, key: str, target: str) -> str:
    """The report page of a run whose report is ``target``'s: it says why and opens it."""
    title = f"portflow report — {html.escape(record.config_name)}"
    link = f"{html.escape(target)}.html"
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<meta name='{KEY_META}' content='{key}'><meta name='{OF_META}' content='{target}'>"
        f"<meta http-equiv='refresh' content='0; url={link}'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{title}</title><style>{STYLE}</style></head><body><h1>{title}</h1>"
        f"<p>Run <code>{html.escape(record.run_id)}</code> (finished "
        f"{record.finished_at:%Y-%m-%d %H:%M} UTC) has the same artifact versions and "
        f"config as run <code>{html.escape(target)}</code>, so its report is that run's: "
        f'<a href="{link}">open the report</a>. Its own stages and times are in its run '
        f"record (<code>portflow runs show {html.escape(record.run_id[:8])}</code>); "
        f"<code>portflow report {html.escape(record.run_id[:8])}</code> draws it anew.</p>"
        "</body></html>"
    )


def write_index(store: ArtifactStore) -> str:
    """Rewrite ``<store>/_reports/index.html`` (every run, newest first); return its URL."""
    records = store.runs()
    reports = {r.run_id for r in records if store.fs.exists(store.report_url(r.run_id))}
    return store.save_report(INDEX_NAME, build_index(store, records, reports))


def drawing_processes(store: ArtifactStore, strategies: int) -> int:
    """Processes that draw the report's strategy sections: one per core, at most one per
    strategy; none (draw here) for an in-memory store, which other processes cannot read."""
    if "memory" in store.fs.protocol or strategies < 2:
        return 0
    return min(strategies, available_cores())


def draw_sections(store: ArtifactStore, record: RunRecord) -> list[tuple[str, str]] | None:
    """Every strategy section of the report, drawn in parallel processes (matplotlib holds
    the GIL, so threads would take turns); None when they are to be drawn in this process:
    one core, an in-memory store, or a section that failed in its worker (warned; drawn
    again here, it raises its error as it is)."""
    strategies = RunView(store, record).strategies()
    processes = drawing_processes(store, len(strategies))
    if not processes:
        return None
    from portflow.report.html import draw_section

    context = multiprocessing.get_context("forkserver")  # never fork a threaded process
    try:
        with ProcessPoolExecutor(processes, mp_context=context) as pool:
            drawn = pool.map(draw_section, repeat(store.location), repeat(record), strategies)
            return list(drawn)
    except Exception as error:  # noqa: BLE001 (drawn again in this process, which raises it)
        problem = str(error).splitlines()[0] if str(error) else ""
        warn(f"report: a worker process failed ({type(error).__name__}: {problem}); drawing here")
        return None


def write_report(store: ArtifactStore, record: RunRecord) -> str:
    """Build the report of ``record``, save it in the store, refresh the index; return the
    report's URL."""
    from portflow.report.html import build_report  # matplotlib: only when a report is drawn

    key = f"<meta name='{KEY_META}' content='{report_key(record)}'>"
    html_page = build_report(store, record, head=key, sections=draw_sections(store, record))
    url = store.save_report(record.run_id, html_page)
    write_index(store)
    return url


def report_markdown(store: ArtifactStore, record: RunRecord, url: str) -> str:
    """Where the report is, as text to copy: browsers refuse file:// links from a web page,
    and a path also works for object stores and in a terminal."""
    index = store.report_url(INDEX_NAME)
    return "\n".join(
        [
            f"# portflow report of run `{record.run_id}` ({record.config_name})",
            "",
            "A self-contained HTML file (figures, tables, tear sheets, config, versions and "
            "data provenance). Open it in a browser from this path:",
            "",
            f"```\n{url}\n```",
            "",
            "Every run's report, newest first, with its headline figures:",
            "",
            f"```\n{index}\n```",
            "",
            f"Rewrite it with `portflow report {record.run_id[:8]} --store {store.url}`.",
        ]
    )


@pipeline_task(name="report")
def report_task(store_url: StoreSpec, record: RunRecord) -> str:
    """Write the HTML report (or point to an earlier run's report of the same content) and
    the index, and publish where they are."""
    store = ArtifactStore(store_url)
    key = report_key(record)
    same = report_with_key(store, record, key)
    if same is None:
        url = write_report(store, record)
    else:
        url = store.save_report(record.run_id, pointer_page(record, key, same))
        write_index(store)
    create_markdown_artifact(
        key="report",
        markdown=report_markdown(store, record, url),
        description="Where the HTML report of this run is",
    )
    return url
