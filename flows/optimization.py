"""The optimization sweep as a subflow, on the task runner its config asks for.

Composition only: the sweeps of every moment model run as a few coarse chunk tasks (one
per chunk of rebalance dates, never one per solve), submitted together so they share the
subflow's runner (``optimization.runner``):

- ``processes`` (the default): the chunk tasks run on Prefect threads, one per worker, and
  each computes in a pool of worker processes (:func:`tasks.optimization.chunk_processes`),
  so the solves of different chunks run on different cores;
- ``threads``: Prefect threads compute the chunks themselves; Clarabel releases the GIL
  while it solves, but the Python around each solve holds it;
- ``dask``: Prefect's Dask task runner on a ``LocalCluster`` or an existing cluster.

A progress artifact follows the chunks as they finish, and every finished chunk is passed
to the listener in :data:`SWEEP_PROGRESS`, if one is set (a terminal progress bar). The
chunks run at most ``max_workers`` at a time (one per core by default), so they finish one
after another and the progress moves; with every chunk running at once they would all
finish at the end.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from contextlib import nullcontext
from contextvars import ContextVar
from dataclasses import dataclass

from prefect import flow
from prefect.artifacts import create_progress_artifact, update_progress_artifact
from prefect.futures import as_completed
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner

from portflow.config import PipelineConfig
from portflow.config.optimization import TaskRunnerConfig
from portflow.quant.optimization.sweep import chunk_ranges
from storage import ArtifactStore, StoreSpec
from tasks.optimization import (
    OPTIMIZATION_CHUNK,
    OPTIMIZED_WEIGHTS,
    chunk_processes,
    optimization_chunk_task,
    optimization_chunks_task,
)
from tasks.run import PipelineRun, resolved
from tasks.stage import StageResult, available_cores, run_logger


@dataclass(frozen=True)
class SweepProgress:
    """Where the sweep stands, after a chunk finished."""

    chunks_done: int
    chunks: int
    """Chunk tasks of every moment model."""
    solves_done: int
    """Sweep points of the finished chunks (one per date and sweep value)."""
    seconds: float
    """Since the first chunk was submitted."""

    @property
    def percent(self) -> float:
        return 100.0 * self.chunks_done / self.chunks if self.chunks else 100.0


SWEEP_PROGRESS: ContextVar[Callable[[SweepProgress], None] | None] = ContextVar(
    "sweep_progress", default=None
)
"""A callable that receives a :class:`SweepProgress` after each chunk; set it around the
flow call (``SWEEP_PROGRESS.set(callback)``) to follow the sweep outside Prefect's UI."""


def workers(config: TaskRunnerConfig) -> int:
    """Chunks computed at once: ``max_workers``, or one per CPU core this process may use."""
    return config.max_workers or available_cores()


def optimization_sweep(
    store_url: StoreSpec,
    settings: PipelineConfig,
    inputs: Mapping[str, StageResult],
    moments: Mapping[str, StageResult],
    run_id: str | None = None,
) -> dict[str, StageResult]:
    """Run the sweeps of every moment model as concurrent chunk tasks. Call inside a flow.

    Parameters
    ----------
    settings : PipelineConfig
        The run's config: its ``optimization.sweep`` section and ``optimization.runner``.
    inputs : mapping
        The ``stock_loadings``, ``benchmark_weights`` and ``stock_industries`` artifacts.
    moments : mapping of {"sample", "regime"} to StageResult
        The ``factor_moments`` / ``regime_factor_moments`` artifact to optimize with.

    Returns
    -------
    dict of str to StageResult
        The ``optimized_weights`` artifact of each moment model.

    All chunk tasks of all models are submitted before any is awaited, so they share the
    flow's task runner (:func:`build_task_runner`).
    """
    run = PipelineRun(store_url, settings, run_id)
    runner = settings.optimization.runner
    pool = chunk_processes(workers(runner)) if runner.kind == "processes" else nullcontext()
    futures = {}
    with pool:
        for model, model_moments in moments.items():
            available = {**inputs, "factor_moments": model_moments}
            futures[model] = [
                run.submit_stage(
                    OPTIMIZATION_CHUNK,
                    available,
                    task=optimization_chunk_task,
                    start=start,
                    end=end,
                    moments=model,
                )
                for start, end in optimization_chunks_task(store_url, model_moments, runner.chunks)
            ]
        submitted = [future for chunk_futures in futures.values() for future in chunk_futures]
        started = time.perf_counter()
        artifact = create_progress_artifact(
            progress=0.0,
            key="optimization-sweep-progress",
            description=f"Chunks of the optimization sweep done, of {len(submitted)}",
        )
        listener = SWEEP_PROGRESS.get()
        solves = 0
        for done, future in enumerate(as_completed(submitted), start=1):
            solves += future.result().rows
            progress = SweepProgress(done, len(submitted), solves, time.perf_counter() - started)
            update_progress_artifact(artifact, progress=progress.percent)
            if listener is not None:
                listener(progress)
    return {
        model: resolved(
            run.submit_stage(
                OPTIMIZED_WEIGHTS, {"optimization_chunk": [f.result() for f in chunk_futures]}
            )
        )
        for model, chunk_futures in futures.items()
    }


def reused_sweep(
    run: PipelineRun,
    inputs: Mapping[str, StageResult],
    moments: Mapping[str, StageResult],
) -> dict[str, StageResult] | None:
    """The ``optimized_weights`` of every moment model when the store has them all already
    (a warm re-run), found without the sweep subflow, its chunk tasks or a process pool;
    None when any is missing (the subflow then runs and reuses what it can, chunk by chunk).

    The versions are the ones the subflow would give: each chunk's from its inputs and date
    range (:func:`portflow.quant.optimization.sweep.chunk_ranges` of the model's moments),
    and the weights' from the chunks' versions.
    """
    store = ArtifactStore(run.store_url)
    chunks = run.settings.optimization.runner.chunks
    weights = {}
    for model, model_moments in moments.items():
        available = {**inputs, "factor_moments": model_moments}
        refs = [
            run.ref(OPTIMIZATION_CHUNK, available, start=start, end=end, moments=model)
            for start, end in chunk_ranges(store.load(model_moments.ref).index, chunks)
        ]
        reused = run.reused(OPTIMIZED_WEIGHTS, {"optimization_chunk": refs})
        if reused is None:
            return None
        weights[model] = reused
    run_logger().info(
        "optimization sweep reused: %s",
        ", ".join(f"{model} optimized_weights@{w.version}" for model, w in weights.items()),
    )
    return weights


def build_task_runner(config: TaskRunnerConfig) -> TaskRunner:
    """The task runner the config asks for.

    - ``processes`` and ``threads``: ``prefect.task_runners.ThreadPoolTaskRunner`` with
      :func:`workers` threads (with ``processes`` they wait on the chunk process pool
      that :func:`optimization_sweep` opens);
    - ``dask`` with ``address``: ``prefect_dask.DaskTaskRunner(address=...)``, an existing
      cluster (the workers need portflow installed and access to the store URL);
    - ``dask`` without: a ``distributed.LocalCluster`` of ``n_workers`` workers started
      for the flow run and closed after it, each set up by :mod:`portflow.dask_worker`. Its
      worker processes run Prefect's engine, so without a running Prefect server
      (``PREFECT_API_URL``) each starts a temporary one.

    Use as ``some_flow.with_options(task_runner=build_task_runner(config.runner))``.
    """
    if config.kind in ("threads", "processes"):
        return ThreadPoolTaskRunner(max_workers=workers(config))
    from prefect_dask import DaskTaskRunner

    if config.address:
        return DaskTaskRunner(address=config.address)
    return DaskTaskRunner(
        cluster_class="distributed.LocalCluster",
        cluster_kwargs={
            "n_workers": config.n_workers,
            "threads_per_worker": config.threads_per_worker,
            "processes": config.processes,
            "dashboard_address": None,
            "preload": ["portflow.dask_worker"],  # quiet at close: see its docstring
        },
    )


optimization_sweep_flow = flow(name="optimization-sweep")(optimization_sweep)
"""``optimization_sweep`` as a subflow; run it with
``optimization_sweep_flow.with_options(task_runner=build_task_runner(config.runner))``."""
