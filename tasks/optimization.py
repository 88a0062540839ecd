"""The factor-model active optimization stages (DESIGN.md strategy 3).

DAG (the sweep itself runs as chunk tasks in ``flows/optimization.py``)::

    factor_source -> factor_data -> stock_loadings -> benchmark_weights, stock_industries
                                 -> factor_moments | regime_factor_moments
    -> optimization_chunk (one per chunk of rebalance dates) -> optimized_weights
    daily_returns -> holding_returns (the periods the weights are held over)
    -> optimized_returns -> optimization_report, crisis_report
"""

from __future__ import annotations

import datetime as dt
import logging
import multiprocessing
from collections.abc import Iterator, Mapping
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from prefect import get_run_logger
from prefect.exceptions import MissingContextError

from portflow.quant.optimization.active_returns import optimized_returns
from portflow.quant.optimization.benchmark_weights import benchmark_weights
from portflow.quant.optimization.factor_data import align_factor_data
from portflow.quant.optimization.factor_moments import (
    rolling_factor_loadings,
    sample_factor_moments,
)
from portflow.quant.optimization.regimes import regime_factor_moments
from portflow.quant.optimization.report import crisis_report, optimization_report
from portflow.quant.optimization.stock_industries import stock_industries
from portflow.quant.optimization.sweep import (
    chunk_ranges,
    combine_chunks,
    optimize_active_portfolios,
)
from portflow.quant.returns import holding_returns
from storage import ArtifactStore, StoreSpec
from tasks import pipeline_task
from tasks.stage import Inputs, Stage, StageResult, reused_result, run_stage

FACTOR_DATA = Stage(
    "factor_data",
    align_factor_data,
    inputs=("factor_source", "monthly_returns", "risk_free_monthly"),
    config="optimization.factors",
    # The source's own settings (path, dataset...) reach it through factor_source.
    fields=("source", "factors"),
)
STOCK_LOADINGS = Stage(
    "stock_loadings",
    rolling_factor_loadings,
    inputs=("monthly_returns", "risk_free_monthly", "factor_data", "prices"),
    config="optimization.moments",
    context=("benchmark",),
)
BENCHMARK_WEIGHTS = Stage(
    "benchmark_weights",
    benchmark_weights,
    inputs=("stock_loadings", "market_data"),
    config="optimization.benchmark",
)
STOCK_INDUSTRIES = Stage(
    "stock_industries",
    stock_industries,
    inputs=("stock_loadings", "market_data"),
    config="optimization.sweep",
    fields=("industries",),
)
FACTOR_MOMENTS = Stage(
    "factor_moments",
    sample_factor_moments,
    inputs=("factor_data",),
    config="optimization.moments",
)
REGIME_FACTOR_MOMENTS = Stage(
    "regime_factor_moments",
    regime_factor_moments,
    inputs=("factor_data",),
    config="optimization.regimes",
)
OPTIMIZATION_CHUNK = Stage(
    "optimization_chunk",
    optimize_active_portfolios,
    # factor_moments: the moments of the model being swept (sample or regime).
    inputs=("stock_loadings", "factor_moments", "benchmark_weights", "stock_industries"),
    config="optimization.sweep",
    context=("start", "end", "moments"),
)
OPTIMIZED_WEIGHTS = Stage("optimized_weights", combine_chunks, inputs=("optimization_chunk",))
HOLDING_RETURNS = Stage(
    "holding_returns",
    holding_returns,
    inputs=("daily_returns",),
    config="optimization.returns",
    fields=("rebalance_day",),
)
OPTIMIZED_RETURNS = Stage(
    "optimized_returns",
    optimized_returns,
    inputs=("optimized_weights", "benchmark_weights", "holding_returns", "risk_free_monthly"),
    config="optimization.returns",
    fields=("holding_threshold",),
)
OPTIMIZATION_REPORT = Stage(
    "optimization_report",
    optimization_report,
    inputs=("optimized_returns", "optimized_weights", "benchmark_weights"),
)
CRISIS_REPORT = Stage(
    "crisis_report", crisis_report, inputs=("optimized_returns",), config="optimization.report"
)

OPTIMIZATION_INPUTS = (
    FACTOR_DATA,
    STOCK_LOADINGS,
    BENCHMARK_WEIGHTS,
    STOCK_INDUSTRIES,
    HOLDING_RETURNS,
)
"""Before the moments; needs ``factor_source`` and a universe; context ``benchmark``."""
MOMENTS = {"sample": FACTOR_MOMENTS, "regime": REGIME_FACTOR_MOMENTS}
"""The factor-moment stage of each ``optimization.moment_models`` entry."""
OPTIMIZATION_RESULTS = (OPTIMIZED_RETURNS, OPTIMIZATION_REPORT, CRISIS_REPORT)
"""After the sweep, per moment model."""


@pipeline_task(name="optimization_chunks")
def optimization_chunks_task(
    store_url: StoreSpec, factor_moments: StageResult, chunks: int
) -> list[tuple[dt.date, dt.date]]:
    """The rebalance dates split into at most ``chunks`` contiguous (start, end) ranges."""
    return chunk_ranges(ArtifactStore(store_url).load(factor_moments.ref).index, chunks)


logger = logging.getLogger(__name__)
CHUNK_PROCESSES: ContextVar[Executor | None] = ContextVar("chunk_processes", default=None)
"""The process pool that chunk tasks compute in, while :func:`chunk_processes` holds one."""


@contextmanager
def chunk_processes(workers: int) -> Iterator[None]:
    """Compute the chunk tasks submitted inside this block in ``workers`` processes.

    The chunk tasks stay Prefect tasks on the flow's thread runner (states, retries and
    logs as usual); each hands its stage computation (:func:`tasks.stage.run_stage`:
    load, solve, save, all pure) to this pool and waits, so the solves run in parallel
    without the GIL between them. The workers fork from a server process that imported
    the sweep's modules once (``forkserver``; ``spawn`` where there is none) and never
    run Prefect's engine, so they need no Prefect server of their own. The pool is closed
    at the end of the block.
    """
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    if context.get_start_method() == "forkserver":  # what a worker imports, once
        context.set_forkserver_preload(
            [run_stage.__module__, optimize_active_portfolios.__module__]
        )
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        token = CHUNK_PROCESSES.set(pool)
        try:
            yield
        finally:
            CHUNK_PROCESSES.reset(token)


def compute_chunk(
    store_url: StoreSpec,
    stage: Stage,
    inputs: Inputs,
    arguments: Mapping[str, Any],
    run_id: str | None = None,
) -> StageResult:
    """:func:`tasks.stage.run_stage` in the chunk process pool if one is open and the chunk
    needs computing, else here (a reused chunk never starts the pool's processes)."""
    pool = CHUNK_PROCESSES.get()
    if pool is None:
        return run_stage(store_url, stage, inputs, arguments, run_id)
    reused = reused_result(store_url, stage, inputs, arguments)
    if reused is not None:
        return reused
    return pool.submit(run_stage, store_url, stage, inputs, arguments, run_id).result()


def log_chunk(stage: Stage, arguments: Mapping[str, Any], result: StageResult) -> None:
    """One line in the task's log: the chunk, its version, its solves per second."""
    chunk = f"{stage.name} {arguments['start']} to {arguments['end']} ({arguments['moments']})"
    if result.status == "reused":
        message = f"{chunk} reused {result.version}: {result.rows} solves"
    else:
        rate = result.rows / max(result.seconds, 1e-9)
        message = (
            f"{chunk} computed {result.version}: {result.rows} solves in "
            f"{result.seconds:.1f} s, {rate:.0f} solves per second"
        )
    try:
        get_run_logger().info(message)
    except MissingContextError:  # called outside a task run (.fn, inline runs)
        logger.info(message)


@pipeline_task(name="optimization_chunk")
def optimization_chunk_task(
    store_url: StoreSpec,
    stage: Stage,
    inputs: Inputs,
    arguments: Mapping[str, Any],
    run_id: str | None = None,
) -> StageResult:
    """Solve one chunk of rebalance dates (in the chunk process pool, if one is open)."""
    result = compute_chunk(store_url, stage, inputs, arguments, run_id)
    log_chunk(stage, arguments, result)
    return result
