"""The ``pipeline`` flow: every stage of a config, reusing versions that already exist."""

from __future__ import annotations

import datetime as dt
import uuid

from prefect import flow
from prefect.artifacts import create_markdown_artifact
from prefect.runtime import flow_run

from portflow.config import PipelineConfig, load_config
from portflow.storage import ArtifactStore, RunRecord
from portflow.tasks.ingest import ingest
from portflow.tasks.returns import (
    daily_returns_task,
    monthly_returns_task,
    monthly_variance_task,
    prices_task,
    risk_free_daily_task,
    risk_free_monthly_task,
)
from portflow.tasks.stage import StageResult


def summary_markdown(config: PipelineConfig, run_id: str, results: list[StageResult]) -> str:
    """Markdown table of the stages of a run: version, rows, computed or reused."""
    lines = [
        f"# portflow run `{run_id}` — {config.name}",
        "",
        "| stage | version | rows | status | seconds |",
        "|---|---|---:|---|---:|",
    ]
    lines += [
        f"| {r.stage} | `{r.version}` | {r.rows} | {r.status} | {r.seconds:.2f} |" for r in results
    ]
    computed = sum(r.status == "computed" for r in results)
    lines += ["", f"{computed} computed, {len(results) - computed} reused."]
    return "\n".join(lines)


@flow(name="pipeline", log_prints=True)
def pipeline(config: str = "default", store_root: str | None = None) -> RunRecord:
    """Run every stage of a portflow config, reusing artifact versions that already exist.

    The same parameters drive ``portflow run``, deployment runs and UI-triggered runs.
    (Google-style arguments: Prefect shows them as descriptions in the UI form.)

    Args:
        config: Config name in configs/ (default, mag7) or a path to a YAML config.
        store_root: Artifact store root, a path or fsspec URL; empty uses the config's.

    Returns:
        The run record: the version of every stage, computed or reused.
    """
    settings = load_config(config)
    store_url = store_root or settings.store.root
    run_id = flow_run.id or uuid.uuid4().hex
    started_at = dt.datetime.now(dt.UTC)

    ingested = ingest(store_url, settings.data, run_id)
    prices = prices_task(store_url, ingested.market_data, settings.prices, run_id)
    daily = daily_returns_task(store_url, prices, run_id)
    monthly = monthly_returns_task.submit(store_url, daily, run_id)
    variance = monthly_variance_task.submit(store_url, daily, settings.monthly, run_id)
    rf_daily = risk_free_daily_task.submit(store_url, ingested.risk_free_source, daily, run_id)
    rf_monthly = risk_free_monthly_task.submit(
        store_url, ingested.risk_free_source, monthly, run_id
    )
    results = [
        *ingested.results,
        prices,
        daily,
        *(future.result() for future in (monthly, variance, rf_monthly, rf_daily)),
    ]

    record = RunRecord(
        run_id=str(run_id),
        config_name=settings.name,
        config=settings.model_dump(mode="json"),
        started_at=started_at,
        finished_at=dt.datetime.now(dt.UTC),
        stages=[r.as_row() for r in results],
    )
    ArtifactStore(store_url).save_run(record)
    create_markdown_artifact(
        key="pipeline-summary",
        markdown=summary_markdown(settings, record.run_id, results),
        description=f"Stages of portflow run {record.run_id}",
    )
    return record
