"""Set-up run in each worker of the Dask ``LocalCluster`` that portflow starts.

A Dask preload (``LocalCluster(preload=[__name__])``): distributed imports this module in
every worker process and calls :func:`dask_setup` with the worker.

When the cluster closes at the end of the sweep, a worker can send its heartbeat just as the
scheduler goes away. distributed then logs "Failed to communicate with scheduler during
heartbeat." at ERROR with a 40-line ``CommClosedError`` traceback (or, when the scheduler
has already dropped the worker, "Scheduler was unaware of this worker" at WARNING), although
the run finished and nothing was lost (LiberTEM#1643 reports the same record; see
dask/distributed#7192 for the comm races of a cluster's shutdown). On a cluster that
portflow starts and closes itself these two records only ever say that it is closing, so
they are dropped; ``portflow --debug`` (``PORTFLOW_DEBUG``) keeps them.
"""

from __future__ import annotations

import logging
import os

TEARDOWN_RACE = frozenset(
    {
        "Failed to communicate with scheduler during heartbeat.",
        "Scheduler was unaware of this worker; shutting down.",
    }
)
"""The messages of ``distributed.worker`` that a heartbeat racing the cluster's close logs."""


class TeardownRaceFilter(logging.Filter):
    """Drops :data:`TEARDOWN_RACE` records; passes every other record."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.msg not in TEARDOWN_RACE


def dask_setup(worker: object) -> None:
    """Install :class:`TeardownRaceFilter` on ``distributed.worker`` (once per process),
    unless ``PORTFLOW_DEBUG`` is set."""
    if os.environ.get("PORTFLOW_DEBUG"):
        return
    logger = logging.getLogger("distributed.worker")
    if not any(isinstance(f, TeardownRaceFilter) for f in logger.filters):
        logger.addFilter(TeardownRaceFilter())
