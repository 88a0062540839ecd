"""The set-up of portflow's Dask workers: the heartbeat that races the cluster's close is
not printed; everything else distributed logs is."""

import inspect
import logging

import distributed.worker
from distributed import Client, LocalCluster

from flows.optimization import build_task_runner
from portflow.config.optimization import TaskRunnerConfig
from portflow.dask_worker import TEARDOWN_RACE, TeardownRaceFilter, dask_setup


def record(message: str, level: int = logging.ERROR) -> logging.LogRecord:
    return logging.LogRecord("distributed.worker", level, __file__, 1, message, None, None)


def test_the_filter_drops_the_teardown_race_and_nothing_else():
    keep = TeardownRaceFilter()
    assert not any(keep.filter(record(message)) for message in TEARDOWN_RACE)
    assert keep.filter(record("Unexpected exception during heartbeat. Closing worker."))
    assert keep.filter(record("Worker is at 85% memory usage.", logging.WARNING))


def test_the_messages_are_the_ones_the_installed_distributed_logs():
    """An upgrade of distributed that rewords them fails here, not silently in a terminal."""
    source = inspect.getsource(distributed.worker.Worker.heartbeat)
    assert all(f'"{message}"' in source for message in TEARDOWN_RACE)


def test_debug_keeps_every_record(monkeypatch):
    logger = logging.getLogger("distributed.worker")
    before = list(logger.filters)
    monkeypatch.setenv("PORTFLOW_DEBUG", "1")
    dask_setup(object())
    assert logger.filters == before


def test_every_worker_process_of_the_local_cluster_has_the_filter():
    runner = build_task_runner(TaskRunnerConfig(kind="dask", n_workers=2, processes=True))
    with LocalCluster(**runner.cluster_kwargs) as cluster, Client(cluster) as client:
        filters = client.run(
            lambda: [type(f).__name__ for f in logging.getLogger("distributed.worker").filters]
        )
    assert len(filters) == 2 and all(f == ["TeardownRaceFilter"] for f in filters.values())
