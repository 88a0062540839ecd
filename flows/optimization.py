"""The optimization sweep as a subflow, on the task runner its config asks for.

Composition only: the sweeps of every moment model run as a few coarse chunk tasks (one
per chunk of rebalance dates), submitted together so they share the subflow's runner:
Prefect threads locally, or Prefect's Dask task runner on a ``LocalCluster`` or an existing
cluster. A progress artifact follows the chunks as they finish.
"""

from __future__ import annotations

from collections.abc import Mapping

from prefect import flow
from prefect.artifacts import create_progress_artifact, update_progress_artifact
from prefect.futures import as_completed
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner

from portflow.config import PipelineConfig
from portflow.config.optimization import TaskRunnerConfig
from storage import StoreSpec
from tasks.optimization import (
    OPTIMIZATION_CHUNK,
    OPTIMIZED_WEIGHTS,
    optimization_chunks_task,
)
from tasks.run import PipelineRun
from tasks.stage import StageResult


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
        The run's config: its ``optimization.sweep`` section and ``optimization.runner.chunks``.
    inputs : mapping
        The ``stock_loadings``, ``benchmark_weights`` and ``stock_industries`` artifacts.
    moments : mapping of {"sample", "regime"} to StageResult
        The ``factor_moments`` / ``regime_factor_moments`` artifact to optimize with.

    Returns
    -------
    dict of str to StageResult
        The ``optimized_weights`` artifact of each moment model.

    All chunk tasks of all models are submitted before any is awaited, so they share the
    flow's task runner (:func:`build_task_runner`: threads, or a Dask cluster).
    """
    run = PipelineRun(store_url, settings, run_id)
    chunks = settings.optimization.runner.chunks
    futures = {}
    for model, model_moments in moments.items():
        available = {**inputs, "factor_moments": model_moments}
        futures[model] = [
            run.submit_stage(OPTIMIZATION_CHUNK, available, start=start, end=end, moments=model)
            for start, end in optimization_chunks_task(store_url, model_moments, chunks)
        ]
    submitted = [future for chunk_futures in futures.values() for future in chunk_futures]
    progress = create_progress_artifact(
        progress=0.0,
        key="optimization-sweep-progress",
        description=f"Chunks of the optimization sweep done, of {len(submitted)}",
    )
    for done, _ in enumerate(as_completed(submitted), start=1):
        update_progress_artifact(progress, progress=100.0 * done / len(submitted))
    return {
        model: run.submit_stage(
            OPTIMIZED_WEIGHTS, {"optimization_chunk": [f.result() for f in chunk_futures]}
        ).result()
        for model, chunk_futures in futures.items()
    }


def build_task_runner(config: TaskRunnerConfig) -> TaskRunner:
    """The task runner the config asks for.

    - ``threads``: ``prefect.task_runners.ThreadPoolTaskRunner(max_workers)``;
    - ``dask`` with ``address``: ``prefect_dask.DaskTaskRunner(address=...)``, an existing
      cluster (the workers need portflow installed and access to the store URL);
    - ``dask`` without: a ``distributed.LocalCluster`` of ``n_workers`` workers started
      for the flow run and closed after it.

    Use as ``some_flow.with_options(task_runner=build_task_runner(config.runner))``.
    """
    if config.kind == "threads":
        return ThreadPoolTaskRunner(max_workers=config.max_workers)
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
        },
    )


optimization_sweep_flow = flow(name="optimization-sweep")(optimization_sweep)
"""``optimization_sweep`` as a subflow; run it with
``optimization_sweep_flow.with_options(task_runner=build_task_runner(config.runner))``."""
