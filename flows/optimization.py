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

from portflow.config.optimization import ActiveOptimizationConfig, TaskRunnerConfig
from tasks.optimization import (
    optimization_chunk_task,
    optimization_chunks_task,
    optimized_weights_task,
)
from tasks.stage import StageResult


def optimization_sweep(
    store_url: str,
    stock_loadings: StageResult,
    moments: Mapping[str, StageResult],
    benchmark_weights: StageResult,
    config: ActiveOptimizationConfig,
    chunks: int,
    run_id: str | None = None,
) -> dict[str, StageResult]:
    """Run the sweeps of every moment model as concurrent chunk tasks. Call inside a flow.

    Parameters
    ----------
    moments : mapping of {"sample", "regime"} to StageResult
        The ``factor_moments`` / ``regime_factor_moments`` artifacts to optimize with.
    chunks : int
        Chunks of rebalance dates per model (``optimization.runner.chunks``).

    Returns
    -------
    dict of str to StageResult
        The ``optimized_weights`` artifact of each moment model.

    All chunk tasks of all models are submitted before any is awaited, so they share the
    flow's task runner (:func:`build_task_runner`: threads, or a Dask cluster).
    """
    futures = {}
    for name, model_moments in moments.items():
        ranges = optimization_chunks_task(store_url, model_moments, chunks)
        futures[name] = [
            optimization_chunk_task.submit(
                store_url,
                stock_loadings,
                model_moments,
                benchmark_weights,
                config,
                name,
                start,
                end,
                run_id,
            )
            for start, end in ranges
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
        name: optimized_weights_task(store_url, [f.result() for f in chunk_futures], run_id)
        for name, chunk_futures in futures.items()
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
