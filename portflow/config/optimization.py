"""Config slices of the factor-model active optimization (DESIGN.md strategy 3).

The section ``optimization`` of a pipeline config is :class:`OptimizationConfig`; each of
its fields is the slice of one or more stages, and the field names of a slice are the
keyword arguments of the stage function in ``portflow.quant``:

========================  =======================================================
slice                     stage(s) and function
========================  =======================================================
``factors``               ``factor_source`` (ingest) and ``factor_data``
                          (:func:`portflow.quant.optimization.factor_data.align_factor_data`)
``moments``               ``stock_loadings`` and ``factor_moments``
                          (:mod:`portflow.quant.optimization.factor_moments`)
``regimes``               ``regime_factor_moments`` (:mod:`portflow.quant.optimization.regimes`)
``benchmark``             ``benchmark_weights``
                          (:mod:`portflow.quant.optimization.benchmark_weights`)
``sweep``                 ``stock_industries``
                          (:mod:`portflow.quant.optimization.stock_industries`) and
                          ``optimization_chunk`` (:mod:`portflow.quant.optimization.sweep`)
``returns``               ``holding_returns`` (:func:`portflow.quant.returns.holding_returns`)
                          and ``optimized_returns``
                          (:mod:`portflow.quant.optimization.active_returns`)
``report``                ``crisis_report`` (:mod:`portflow.quant.optimization.report`)
``runner``                no stage: how the flow runs the sweep chunks
``data``                  no stage: this strategy's own data section (optional)
========================  =======================================================
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field, PositiveFloat, PositiveInt, field_validator, model_validator

from portflow.config.base import Frozen
from portflow.config.data import DataConfig

CRISIS_WINDOWS: dict[str, tuple[dt.date, dt.date]] = {
    "dot_com": (dt.date(2000, 3, 1), dt.date(2002, 10, 31)),
    "global_financial_crisis": (dt.date(2007, 10, 1), dt.date(2009, 3, 31)),
    "covid_crash": (dt.date(2020, 2, 1), dt.date(2020, 4, 30)),
    "rate_shock_2022": (dt.date(2022, 1, 1), dt.date(2022, 10, 31)),
}
"""Default crisis windows; a window covers every calendar month from start's to end's."""


FrenchDataset = Literal["F-F_Research_Data_Factors", "F-F_Research_Data_5_Factors_2x3"]
"""Monthly datasets of the Kenneth R. French Data Library that ``french_library`` reads."""

FACTOR_SOURCE_FIELDS: dict[str, tuple[str, ...]] = {
    "sample": (),
    "files": ("path", "date_column", "units"),
    "french_library": ("dataset", "as_of", "retries", "backoff_seconds"),
}
"""Fields of :class:`FactorDataConfig` that belong to one source each."""


class FactorDataConfig(Frozen):
    """Slice of ``factor_source`` and ``factor_data``: which factor returns, from where.

    Every source gives decimal returns per month by month-end, columns named as the
    Kenneth R. French Data Library names them (``portflow.sources.factors``).
    """

    source: Literal["sample", "files", "french_library"] = Field(
        "sample",
        description="Where the factor returns come from. sample: the monthly Fama-French "
        "factors bundled with the sample data (1926-07 to 2018-11); files: a CSV or parquet "
        "file of your own; french_library: the Kenneth R. French Data Library, downloaded "
        "(online) once per as_of date.",
    )
    factors: tuple[str, ...] = Field(
        ("Mkt-RF", "SMB", "HML"),
        min_length=1,
        description="Factor columns used as regressors, excess returns in decimals per month.",
    )
    path: str | None = Field(
        None,
        description="files: CSV or parquet file with one row per month, a date column and "
        "one column per factor (names as in factors; an RF column is kept too).",
    )
    date_column: str = Field(
        "date",
        description="files: the date column; YYYYMM (as in Ken French's files) or ISO dates "
        "(YYYY-MM-DD, YYYY-MM); a date stands for its calendar month.",
    )
    units: Literal["percent", "decimal"] | None = Field(
        None,
        description="files (required): percent (2.96 = 2.96%, as in Ken French's files) or "
        "decimal (0.0296).",
    )
    dataset: FrenchDataset = Field(
        "F-F_Research_Data_Factors",
        description="french_library: F-F_Research_Data_Factors (Mkt-RF, SMB, HML, RF, from "
        "1926-07) or F-F_Research_Data_5_Factors_2x3 (adds RMW, CMA; from 1963-07).",
    )
    as_of: dt.date | None = Field(
        None,
        description="french_library: date of the download; null = today. Same dataset + "
        "as_of = no download; months ending after as_of are dropped.",
    )
    retries: int = Field(
        3, ge=0, le=10, description="french_library: retries on a failed download."
    )
    backoff_seconds: float = Field(
        2.0, gt=0, description="french_library: first retry delay; doubles each time."
    )

    @model_validator(mode="after")
    def _fields_match_source(self):
        foreign = [
            field
            for source, fields in FACTOR_SOURCE_FIELDS.items()
            if source != self.source
            for field in fields
            if field in self.model_fields_set
        ]
        if foreign:
            raise ValueError(
                f"{', '.join(foreign)} do not apply to source {self.source!r}; remove them "
                "or set the source they belong to"
            )
        if self.source == "files" and (self.path is None or self.units is None):
            raise ValueError("source 'files' needs path and units (percent or decimal)")
        return self


class FactorMomentsConfig(Frozen):
    """Slice of ``stock_loadings`` and ``factor_moments``: the rolling estimation window."""

    window: PositiveInt = Field(
        60, ge=3, description="Months in the rolling window ending at each rebalance date."
    )
    min_observations: PositiveInt = Field(
        36,
        ge=3,
        description="Fewest monthly returns a stock needs in the window to be tradable; also "
        "the months of factor data before the first rebalance date.",
    )

    @model_validator(mode="after")
    def _fits_window(self):
        if self.min_observations > self.window:
            raise ValueError(
                f"min_observations {self.min_observations} exceeds window {self.window}"
            )
        return self


class RegimeConfig(Frozen):
    """Slice of ``regime_factor_moments``: the Gaussian hidden Markov model (hmmlearn)."""

    n_regimes: int = Field(2, ge=1, le=5, description="Hidden states of the factor HMM.")
    horizon: int = Field(
        1, ge=0, description="Months ahead of the state forecast g_(t+h) = (B^h)' g_t."
    )
    window: PositiveInt | None = Field(
        None, description="Months of factor data each fit uses; null = all months up to t."
    )
    min_observations: PositiveInt = Field(
        60, ge=10, description="Months of factor data before the first fit."
    )
    n_iter: PositiveInt = Field(100, description="Most EM iterations per fit.")
    tol: PositiveFloat = Field(1e-4, description="EM stops when the log-likelihood gains less.")
    seed: int = Field(0, description="Seed of the first fit's k-means initialization.")


class BenchmarkWeightsConfig(Frozen):
    """Slice of ``benchmark_weights``."""

    scheme: Literal["auto", "cap", "equal"] = Field(
        "auto",
        description="cap: price x shares outstanding (needs close and shares_outstanding in "
        "the data); equal: equal weights over the tradable stocks; auto: cap where the data "
        "has caps, else equal.",
    )


class ActiveOptimizationConfig(Frozen):
    """Slice of ``optimization_chunk``: the problems and the sweeps."""

    gammas: tuple[PositiveFloat, ...] = Field(
        (1.0, 2.0, 5.0, 10.0, 25.0, 100.0),
        description="Risk aversions of max m'(w-b) - gamma (w-b)'V(w-b), monthly moments.",
    )
    tev_budgets: tuple[PositiveFloat, ...] = Field(
        (0.01, 0.02, 0.04, 0.06, 0.10),
        description="Annualized tracking-error budgets: active variance <= TEV^2 / 12.",
    )
    alpha_weight: float = Field(
        1.0,
        ge=0.0,
        le=1.0,
        description="Mean of the constant 'factor': 1 forecasts each stock's window alpha in "
        "full, 0 forecasts returns from factor premia only.",
    )
    max_weight: float | None = Field(
        None, gt=0.0, le=1.0, description="Largest weight of one stock; null = no limit."
    )
    sector_rotation: bool = Field(
        True,
        description="Also solve both sweeps over industry weights, stocks held in "
        "benchmark proportions (cap-weighted) inside each industry.",
    )
    industries: Literal["ff12", "ff49"] = Field(
        "ff12",
        description="Industries of the sector rotation and of the sector weights: Ken French's "
        "12 or 49 industries (Kenneth R. French Data Library), from each stock's SIC code at "
        "each date (the data's sic field).",
    )

    @field_validator("gammas", "tev_budgets")
    @classmethod
    def _distinct(cls, values: tuple[float, ...]) -> tuple[float, ...]:
        if len(set(values)) != len(values):
            raise ValueError("sweep values must be distinct")
        return values


class ActiveReturnsConfig(Frozen):
    """Slice of ``holding_returns`` and ``optimized_returns``."""

    holding_threshold: PositiveFloat = Field(
        1e-6, description="A stock counts as held when its weight exceeds this."
    )
    rebalance_day: Literal["last", "first"] = Field(
        "last",
        description="Weights decided at a month-end (with data up to it) are traded on the "
        "last trading day of that month, or on the first trading day of the next one, and "
        "held until the next rebalance.",
    )


class OptimizationReportConfig(Frozen):
    """Slice of ``crisis_report``."""

    crisis_windows: dict[str, tuple[dt.date, dt.date]] = Field(
        default_factory=lambda: dict(CRISIS_WINDOWS),
        description="Name -> (start, end); every month from start's to end's. Windows "
        "outside the data are reported as not covered.",
    )

    @field_validator("crisis_windows")
    @classmethod
    def _ordered(cls, windows: dict[str, tuple[dt.date, dt.date]]):
        for name, (start, end) in windows.items():
            if start > end:
                raise ValueError(f"crisis window {name}: start {start} is after end {end}")
        return windows


class TaskRunnerConfig(Frozen):
    """How the flow runs the sweep chunks: worker processes, Prefect threads or Dask."""

    kind: Literal["processes", "threads", "dask"] = Field(
        "processes",
        description="processes: chunk tasks on Prefect threads, each computing in a pool of "
        "worker processes (scales with cores); threads: Prefect's ThreadPoolTaskRunner "
        "computes them; dask: prefect-dask's DaskTaskRunner on a LocalCluster, or on the "
        "cluster at address.",
    )
    chunks: PositiveInt = Field(
        8, description="Chunks of rebalance dates per sweep; one task per chunk."
    )
    max_workers: PositiveInt | None = Field(
        None,
        description="Chunks computed at once (processes or threads); null = one per CPU core.",
    )
    address: str | None = Field(
        None, description="Scheduler address of an existing Dask cluster (tcp://host:8786)."
    )
    n_workers: PositiveInt = Field(2, description="Workers of a LocalCluster.")
    threads_per_worker: PositiveInt = Field(1, description="Threads per LocalCluster worker.")
    processes: bool = Field(
        True, description="LocalCluster workers as processes (true) or threads (false)."
    )


class OptimizationConfig(Frozen):
    """Section ``optimization``: factor-model active optimization with sweeps."""

    data: DataConfig | None = Field(
        None,
        description="Data for this strategy only; null = the pipeline's data section. The "
        "sample factors end in 2018-11, so the data must overlap them.",
    )
    factors: FactorDataConfig = FactorDataConfig()
    moments: FactorMomentsConfig = FactorMomentsConfig()
    moment_models: tuple[Literal["sample", "regime"], ...] = Field(
        ("sample", "regime"),
        min_length=1,
        description="Factor moments to optimize with: rolling sample moments, HMM mixture "
        "moments, or both (one sweep each).",
    )
    regimes: RegimeConfig = RegimeConfig()
    benchmark: BenchmarkWeightsConfig = BenchmarkWeightsConfig()
    sweep: ActiveOptimizationConfig = ActiveOptimizationConfig()
    returns: ActiveReturnsConfig = ActiveReturnsConfig()
    report: OptimizationReportConfig = OptimizationReportConfig()
    runner: TaskRunnerConfig = TaskRunnerConfig()
