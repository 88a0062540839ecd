"""The report task: the run's HTML report into the store, linked from the Prefect UI."""

from __future__ import annotations

from prefect.artifacts import create_link_artifact

from portflow.report.html import build_report
from storage import ArtifactStore, RunRecord
from tasks import pipeline_task


def write_report(store: ArtifactStore, record: RunRecord) -> str:
    """Build the report of ``record``, save it in the store and return its URL."""
    return store.save_report(record.run_id, build_report(store, record))


@pipeline_task(name="report")
def report_task(store_url: str, record: RunRecord) -> str:
    """Write the HTML report and publish a link artifact to it."""
    url = write_report(ArtifactStore(store_url), record)
    create_link_artifact(
        key="report",
        link=url,
        link_text=f"portflow report {record.run_id}",
        description="Self-contained HTML report (figures and tables) of this run",
    )
    return url
