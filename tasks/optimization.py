"""Tasks of the factor-model active optimization (DESIGN.md strategy 3). No maths here.

Order in a flow (the sweep part is ``flows.optimization.optimization_sweep``)::

    factor_source -> factor_data -> stock_loadings -> factor_moments / regime_factor_moments
                                 -> benchmark_weights
    -> optimization_chunks -> optimization_chunk (a few, one per chunk of dates)
    -> optimized_weights -> optimized_returns -> optimization_report, crisis_report

The sweeps run as a few coarse tasks, one per chunk of rebalance dates, on the sweep flow's
task runner (``flows.optimization.build_task_runner``): Prefect threads, or Dask.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Literal

import numpy as np
import pandas as pd

from portflow.config.base import Frozen
from portflow.config.optimization import (
    ActiveOptimizationConfig,
    ActiveReturnsConfig,
    BenchmarkWeightsConfig,
    FactorDataConfig,
    FactorMomentsConfig,
    OptimizationReportConfig,
    RegimeConfig,
)
from portflow.quant.optimization.active_returns import optimized_returns
from portflow.quant.optimization.benchmark_weights import benchmark_weights
from portflow.quant.optimization.factor_data import align_factor_data
from portflow.quant.optimization.factor_moments import (
    rolling_factor_loadings,
    sample_factor_moments,
)
from portflow.quant.optimization.regimes import regime_factor_moments
from portflow.quant.optimization.report import crisis_report, optimization_report
from portflow.quant.optimization.sweep import combine_chunks, optimize_active_portfolios
from portflow.sources.factors import FrenchLibrary, make_factor_source
from storage import ArtifactStore
from tasks import stage_task
from tasks.stage import StageResult, cached_download, persist, run_stage


class FactorAlignmentParams(Frozen):
    """The fields of the ``optimization.factors`` slice that ``align_factor_data`` takes.

    The source's own settings (path, dataset, ...) are not passed: the ``factor_source``
    artifact, an input, already depends on them. Same lineage as the slice had before
    those settings existed.
    """

    source: str
    factors: tuple[str, ...]


class StockLoadingsParams(FactorMomentsConfig):
    """The ``optimization.moments`` slice plus the benchmark column to leave out."""

    benchmark: str | None = None


class ChunkParams(ActiveOptimizationConfig):
    """The ``optimization.sweep`` slice plus the chunk's dates and the moment model."""

    start: dt.date
    end: dt.date
    moments: Literal["sample", "regime"]


FRENCH_DOWNLOAD_STAGE = "french_library_download"


@stage_task(name="factor_source")
def factor_source_task(
    store_url: str, config: FactorDataConfig, run_id: str | None = None
) -> StageResult:
    """Factor returns from ``config.source``, versioned by content (like ``ingest``).

    A ``french_library`` download is cached in the store per dataset and as-of date.
    """
    started = time.perf_counter()
    store = ArtifactStore(store_url)
    source = make_factor_source(config)
    upstream = None
    if isinstance(source, FrenchLibrary):
        raw, download = cached_download(store, FRENCH_DOWNLOAD_STAGE, source, run_id)
        table = source.parse(raw)
        upstream = {"download": download.ref}
    else:
        table = source.load()
    return persist(
        store,
        "factor_source",
        table,
        started=started,
        params=config.model_dump(mode="json"),
        upstream=upstream,
        run_id=run_id,
    )


@stage_task(name="factor_data")
def factor_data_task(
    store_url: str,
    factor_source: StageResult,
    monthly: StageResult,
    risk_free_monthly: StageResult,
    config: FactorDataConfig,
    run_id: str | None = None,
) -> StageResult:
    """Factor returns on the months of the stock returns and the risk-free rate."""
    return run_stage(
        store_url,
        "factor_data",
        align_factor_data,
        inputs={
            "factor_source": factor_source,
            "monthly_returns": monthly,
            "risk_free_monthly": risk_free_monthly,
        },
        params=FactorAlignmentParams.from_section(config),
        run_id=run_id,
    )


@stage_task(name="stock_loadings")
def stock_loadings_task(
    store_url: str,
    monthly: StageResult,
    risk_free_monthly: StageResult,
    factor_data: StageResult,
    config: FactorMomentsConfig,
    benchmark: str | None,
    run_id: str | None = None,
) -> StageResult:
    """Rolling OLS loadings and residual variances of every stock at every rebalance date."""
    return run_stage(
        store_url,
        "stock_loadings",
        rolling_factor_loadings,
        inputs={
            "monthly_returns": monthly,
            "risk_free_monthly": risk_free_monthly,
            "factor_data": factor_data,
        },
        params=StockLoadingsParams.from_section(config, benchmark=benchmark),
        run_id=run_id,
    )


@stage_task(name="factor_moments")
def factor_moments_task(
    store_url: str, factor_data: StageResult, config: FactorMomentsConfig, run_id: str | None = None
) -> StageResult:
    """Rolling-window factor mean and covariance."""
    return run_stage(
        store_url,
        "factor_moments",
        sample_factor_moments,
        inputs={"factor_data": factor_data},
        params=config,
        run_id=run_id,
    )


@stage_task(name="regime_factor_moments")
def regime_factor_moments_task(
    store_url: str, factor_data: StageResult, config: RegimeConfig, run_id: str | None = None
) -> StageResult:
    """HMM mixture moments of the factors, each date fitted on data up to it."""
    return run_stage(
        store_url,
        "regime_factor_moments",
        regime_factor_moments,
        inputs={"factor_data": factor_data},
        params=config,
        run_id=run_id,
    )


@stage_task(name="benchmark_weights")
def benchmark_weights_task(
    store_url: str,
    stock_loadings: StageResult,
    market_data: StageResult,
    config: BenchmarkWeightsConfig,
    run_id: str | None = None,
) -> StageResult:
    """Cap weights where the data has caps, else equal weights, over the tradable stocks."""
    return run_stage(
        store_url,
        "benchmark_weights",
        benchmark_weights,
        inputs={"stock_loadings": stock_loadings, "market_data": market_data},
        params=config,
        run_id=run_id,
    )


@stage_task(name="optimization_chunks")
def optimization_chunks_task(
    store_url: str, factor_moments: StageResult, chunks: int
) -> list[tuple[dt.date, dt.date]]:
    """Split the rebalance dates into at most ``chunks`` contiguous (start, end) ranges."""
    dates = ArtifactStore(store_url).load(factor_moments.ref).index
    parts = [p for p in np.array_split(np.asarray(dates), min(chunks, len(dates))) if len(p)]
    return [(pd.Timestamp(p[0]).date(), pd.Timestamp(p[-1]).date()) for p in parts]


@stage_task(name="optimization_chunk")
def optimization_chunk_task(
    store_url: str,
    stock_loadings: StageResult,
    factor_moments: StageResult,
    benchmark_weights: StageResult,
    config: ActiveOptimizationConfig,
    moments: Literal["sample", "regime"],
    start: dt.date,
    end: dt.date,
    run_id: str | None = None,
) -> StageResult:
    """Every problem and sweep value at the rebalance dates of one chunk."""
    return run_stage(
        store_url,
        "optimization_chunk",
        optimize_active_portfolios,
        inputs={
            "stock_loadings": stock_loadings,
            "factor_moments": factor_moments,
            "benchmark_weights": benchmark_weights,
        },
        params=ChunkParams.from_section(config, start=start, end=end, moments=moments),
        run_id=run_id,
    )


@stage_task(name="optimized_weights")
def optimized_weights_task(
    store_url: str, chunks: list[StageResult], run_id: str | None = None
) -> StageResult:
    """The chunks stacked into one table of weights and statuses."""
    return run_stage(
        store_url,
        "optimized_weights",
        combine_chunks,
        inputs={f"chunk_{i:03d}": chunk for i, chunk in enumerate(chunks)},
        run_id=run_id,
    )


@stage_task(name="optimized_returns")
def optimized_returns_task(
    store_url: str,
    weights: StageResult,
    benchmark_weights: StageResult,
    monthly: StageResult,
    risk_free_monthly: StageResult,
    config: ActiveReturnsConfig,
    run_id: str | None = None,
) -> StageResult:
    """Weights decided at t earn the returns of t+1; diversification and turnover."""
    return run_stage(
        store_url,
        "optimized_returns",
        optimized_returns,
        inputs={
            "optimized_weights": weights,
            "benchmark_weights": benchmark_weights,
            "monthly_returns": monthly,
            "risk_free_monthly": risk_free_monthly,
        },
        params=config,
        run_id=run_id,
    )


@stage_task(name="optimization_report")
def optimization_report_task(
    store_url: str, returns: StageResult, weights: StageResult, run_id: str | None = None
) -> StageResult:
    """Metrics per sweep point and for the benchmark; the IR-vs-TE frontier; failures."""
    return run_stage(
        store_url,
        "optimization_report",
        optimization_report,
        inputs={"optimized_returns": returns, "optimized_weights": weights},
        run_id=run_id,
    )


@stage_task(name="crisis_report")
def crisis_report_task(
    store_url: str,
    returns: StageResult,
    config: OptimizationReportConfig,
    run_id: str | None = None,
) -> StageResult:
    """Performance inside the configured crisis windows, beside the full sample."""
    return run_stage(
        store_url,
        "crisis_report",
        crisis_report,
        inputs={"optimized_returns": returns},
        params=config,
        run_id=run_id,
    )
