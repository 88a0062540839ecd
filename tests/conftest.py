"""Hermetic test session: temporary Prefect home, no telemetry, no network."""

import os
import tempfile

_PREFECT_HOME = tempfile.mkdtemp(prefix="portflow-prefect-")
os.environ["PREFECT_HOME"] = _PREFECT_HOME
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ["DO_NOT_TRACK"] = "1"
os.environ["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"] = "90"
os.environ["PORTFLOW_PREFECT_DISCOVER"] = "0"  # never a developer's `portflow serve`
for name in ("PREFECT_API_URL", "PORTFLOW_STORE", "PORTFLOW_DEBUG"):
    os.environ.pop(name, None)

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def prefect_harness():
    """One temporary Prefect server for the whole session (``portflow.prefect_server``):
    its own database, a patient start that retries every transient error, always stopped,
    even when pytest is ended by a signal or killed. Yields its ``PrefectAPI`` (``.url``);
    ``PREFECT_API_URL`` points at it meanwhile, so CLI runs in tests use it too."""
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    from portflow.prefect_server import prefect_api

    with (
        prefect_api(discover=False) as api,
        temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}),
    ):
        yield api


@pytest.fixture(scope="session")
def default_run(prefect_harness, tmp_path_factory):
    """One computed run of configs/default.yaml for the session: (store root, run record).

    Tests that run the pipeline again start from a copy of this store (``copy_store``), so
    each is isolated and only what it changes is recomputed.
    """
    from flows.pipeline import pipeline

    root = tmp_path_factory.mktemp("default-run") / "artifacts"
    record = pipeline(config="default", store_root=str(root))
    return root, record


@pytest.fixture
def copy_store(default_run, tmp_path):
    """A private copy of the session's default-run store: returns its root path."""
    import shutil

    def copy(name: str = "artifacts"):
        target = tmp_path / name
        shutil.copytree(default_run[0], target)
        return target

    return copy


@pytest.fixture
def inline_run():
    """``inline_run(store, settings, run_id)`` -> the RunRecord of the shared stages of every
    data section and the hedge, run in this thread without Prefect, as the flow scopes them
    (``data``, ``hedge.data``) and saved in the store (store: a root or a StoreLocation)."""
    import datetime as dt

    from flows.pipeline import hedge_stages, shared_stages
    from storage import ArtifactStore, RunRecord
    from tasks.run import PipelineRun, resolved

    def run(store, settings, run_id: str) -> RunRecord:
        started = dt.datetime.now(dt.UTC)
        pipeline = PipelineRun(store, settings, run_id, inline=True)
        universes = {}
        for scope, data in [("data", settings.data), ("hedge.data", settings.data_for("hedge"))]:
            key = data.model_dump_json()
            if key not in universes:
                universes[key] = shared_stages(pipeline, resolved(pipeline.ingest(data)), scope)
        hedge_stages(pipeline, universes[settings.data_for("hedge").model_dump_json()])
        record = pipeline.run_record(started)
        ArtifactStore(store).save_run(record)
        return record

    return run
