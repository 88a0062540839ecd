"""The report task: the run's HTML report and the store's index page, announced in the
Prefect UI as a markdown artifact with copyable paths."""

from __future__ import annotations

from prefect.artifacts import create_markdown_artifact

from portflow.report.html import build_report
from portflow.report.index import INDEX_NAME, build_index
from storage import ArtifactStore, RunRecord
from tasks import pipeline_task


def write_index(store: ArtifactStore) -> str:
    """Rewrite ``<store>/_reports/index.html`` (every run, newest first); return its URL."""
    records = store.runs()
    reports = {r.run_id for r in records if store.fs.exists(store.report_url(r.run_id))}
    return store.save_report(INDEX_NAME, build_index(store, records, reports))


def write_report(store: ArtifactStore, record: RunRecord) -> str:
    """Build the report of ``record``, save it in the store, refresh the index; return the
    report's URL."""
    url = store.save_report(record.run_id, build_report(store, record))
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
def report_task(store_url: str, record: RunRecord) -> str:
    """Write the HTML report and the index, and publish where they are."""
    store = ArtifactStore(store_url)
    url = write_report(store, record)
    create_markdown_artifact(
        key="report",
        markdown=report_markdown(store, record, url),
        description="Where the HTML report of this run is",
    )
    return url
