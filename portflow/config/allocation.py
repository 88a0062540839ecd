"""Config of the allocation backtests: allocators, estimation window, schedule and costs.

The YAML section ``allocation`` is an :class:`AllocationConfig`. Its allocators are a
discriminated union on ``kind``, looked up in :data:`ALLOCATOR_CONFIGS` (never a class path)::

    allocation:
      tickers: [VTI, AGG, DBC, ^VIX]
      estimation_window: 252
      rebalance: monthly
      allocators:
        - {kind: fixed, name: "60_40", weights: {VTI: 0.6, AGG: 0.4}}
        - {kind: inverse_volatility}
        - {kind: mean_variance, risk_aversion: 5, max_weight: 0.6}
        - {kind: lstm, window: 1008, retrain_every: 24, seeds: [0, 1, 2]}
      costs: {proportional_cost: 0.0005, fixed_cost: 0.0}

The ``allocation_targets`` stage gets the fields of :class:`AllocationTargetsConfig` (every
field but ``data`` and ``costs``) plus the benchmark; ``backtest_returns`` gets ``costs``;
the LSTM model stages get an :class:`LSTMModelParams` built with
:meth:`LSTMModelParams.from_allocation` (declarations in ``tasks/allocation.py``). Field
names equal the keyword arguments of the functions in
``portflow.quant.allocation.backtest``, ``portflow.quant.allocation.allocators`` and
``portflow.quant.allocation.lstm``.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Annotated, Literal

from pydantic import Field, NonNegativeFloat, PositiveFloat, PositiveInt, model_validator

from portflow.config.base import Frozen
from portflow.config.data import DataConfig

_NAME = Field(description="Name of the strategy in weights, returns and metrics; unique.")
_WINDOW = Field(
    None,
    description="Days of past returns this allocator sees at each rebalance; "
    "null = allocation.estimation_window.",
)


class FixedAllocator(Frozen):
    """A constant mix, e.g. 60/40, restored at every rebalance."""

    kind: Literal["fixed"] = "fixed"
    name: str = _NAME
    weights: dict[str, float] = Field(
        min_length=1,
        description="Ticker -> weight; non-negative and summing to 1. Unlisted tickers get 0.",
    )
    window: PositiveInt | None = _WINDOW

    @model_validator(mode="after")
    def _a_fully_invested_long_mix(self):
        values = list(self.weights.values())
        if not all(math.isfinite(v) and v >= 0 for v in values):
            raise ValueError(f"weights must be finite and non-negative, got {self.weights}")
        if abs(sum(values) - 1.0) > 1e-6:
            raise ValueError(f"weights must sum to 1, got {sum(values):.6g}")
        return self


class EqualWeightAllocator(Frozen):
    """1/N in every ticker of the universe."""

    kind: Literal["equal_weight"] = "equal_weight"
    name: str = Field("equal_weight", description=_NAME.description)
    window: PositiveInt | None = _WINDOW


class InverseVolatilityAllocator(Frozen):
    """Weights proportional to 1 / (standard deviation of daily returns over the window)."""

    kind: Literal["inverse_volatility"] = "inverse_volatility"
    name: str = Field("inverse_volatility", description=_NAME.description)
    window: PositiveInt | None = _WINDOW


class MeanVarianceAllocator(Frozen):
    """Long-only, fully invested max w'mu - (risk_aversion / 2) w'Sigma w (cvxpy, Clarabel)."""

    kind: Literal["mean_variance"] = "mean_variance"
    name: str = Field("mean_variance", description=_NAME.description)
    risk_aversion: PositiveFloat = Field(
        5.0,
        description="gamma in w'mu - (gamma/2) w'Sigma w, with the sample mean and covariance "
        "of the window's daily returns (the optimum does not depend on the time unit).",
    )
    max_weight: float | None = Field(
        None, gt=0, le=1, description="Cap on every weight; null = no cap (only w >= 0)."
    )
    window: PositiveInt | None = _WINDOW


class LSTMAllocatorConfig(Frozen):
    """An LSTM reading past returns and rolling volatilities, trained to maximize Sharpe."""

    kind: Literal["lstm"] = "lstm"
    name: str = Field("lstm", description=_NAME.description)
    lookback: PositiveInt = Field(50, description="Days of features the LSTM reads.")
    hidden_size: PositiveInt = Field(64, description="Units of the LSTM's hidden state.")
    num_layers: PositiveInt = Field(1, description="Stacked LSTM layers.")
    vol_window: int = Field(
        20, ge=2, description="Days of the rolling volatility feature (ddof=1)."
    )
    epochs: PositiveInt = Field(100, description="Full-batch Adam steps per training.")
    learning_rate: PositiveFloat = Field(0.01, description="Adam learning rate.")
    retrain_every: PositiveInt = Field(
        12,
        description="Rebalances between retrainings (walk-forward); the model trained at a "
        "rebalance date allocates until the next retraining.",
    )
    seeds: tuple[int, ...] = Field(
        (0, 1, 2),
        min_length=1,
        description="One backtest per seed; metrics are reported as mean ± std over them.",
    )
    window: PositiveInt | None = Field(
        None,
        description="Days of past returns each training sees (the training window); "
        "null = allocation.estimation_window.",
    )

    @model_validator(mode="after")
    def _distinct_seeds(self):
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds must be distinct, got {list(self.seeds)}")
        return self


AllocatorConfig = Annotated[
    FixedAllocator
    | EqualWeightAllocator
    | InverseVolatilityAllocator
    | MeanVarianceAllocator
    | LSTMAllocatorConfig,
    Field(discriminator="kind"),
]
"""One allocator of ``allocation.allocators``, chosen by its ``kind``."""

ALLOCATOR_CONFIGS: dict[str, type[Frozen]] = {
    "fixed": FixedAllocator,
    "equal_weight": EqualWeightAllocator,
    "inverse_volatility": InverseVolatilityAllocator,
    "mean_variance": MeanVarianceAllocator,
    "lstm": LSTMAllocatorConfig,
}
"""Registry: ``kind`` -> config model; ``portflow.quant.allocation.backtest.ALLOCATORS``
has the same keys."""


class CostConfig(Frozen):
    """Slice of the ``backtest_returns`` stage: what trading costs, in return units."""

    proportional_cost: NonNegativeFloat = Field(
        0.0005,
        description="Cost per unit of traded weight (0.0005 = 5 bp of the traded value).",
    )
    fixed_cost: NonNegativeFloat = Field(
        0.0,
        description="Cost per traded asset per rebalance, as a fraction of portfolio value.",
    )


class AllocationTargetsConfig(Frozen):
    """Which tickers, which allocators, how much history and when to rebalance."""

    tickers: tuple[str, ...] | None = Field(
        None,
        description="Tickers to allocate among; null = every ticker but the benchmark.",
    )
    allocators: tuple[AllocatorConfig, ...] = Field(
        (EqualWeightAllocator(), InverseVolatilityAllocator(), MeanVarianceAllocator()),
        min_length=1,
        description="The strategies to backtest, each a mapping with a kind.",
    )
    estimation_window: int = Field(
        252, ge=2, description="Days of past returns an allocator sees at each rebalance."
    )
    rebalance: Literal["every_n_days", "weekly", "monthly", "calendar", "never"] = Field(
        "monthly",
        description="every_n_days: every rebalance_every trading days; weekly / monthly: the "
        "last (or first, rebalance_day) trading day of each week / month; calendar: "
        "rebalance_dates; never: buy and hold the first allocation.",
    )
    rebalance_every: PositiveInt = Field(
        21, description="Trading days between rebalances when rebalance is every_n_days."
    )
    rebalance_day: Literal["last", "first"] = Field(
        "last",
        description="weekly / monthly: rebalance on the last or the first trading day of "
        "each week / month (the data's trading days).",
    )
    rebalance_dates: tuple[dt.date, ...] = Field(
        (),
        description="Rebalance dates when rebalance is calendar; a date that is not a "
        "trading day moves to the next trading day.",
    )

    @model_validator(mode="after")
    def _consistent(self):
        names = [spec.name for spec in self.allocators]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"allocator names must be unique, repeated: {repeated}")
        if self.rebalance == "calendar" and not self.rebalance_dates:
            raise ValueError("rebalance: calendar needs rebalance_dates")
        if self.rebalance != "calendar" and self.rebalance_dates:
            raise ValueError("rebalance_dates are only used with rebalance: calendar")
        return self


class AllocationConfig(AllocationTargetsConfig):
    """The ``allocation`` section: its data, the targets' settings and the cost model."""

    data: DataConfig | None = Field(
        None,
        description="Data for this strategy only (e.g. the multi_asset sample universe); "
        "null = the pipeline's data section.",
    )
    costs: CostConfig = Field(CostConfig(), description="Trading costs of the backtests.")

    def lstm_allocators(self) -> list[str]:
        """Names of the LSTM allocators, each of which also gets a model on the latest window."""
        return [spec.name for spec in self.allocators if isinstance(spec, LSTMAllocatorConfig)]


class LSTMModelParams(Frozen):
    """Slice of ``lstm_model`` and ``lstm_latest_weights``: one LSTM trained on recent data.

    These are the model's config: saved as the artifact's params, and needed to rebuild the
    network before loading its state dict.
    """

    tickers: tuple[str, ...] | None = None
    benchmark: str | None = None
    window: int = Field(ge=2, description="Days of returns the model is trained on.")
    lookback: PositiveInt
    hidden_size: PositiveInt
    num_layers: PositiveInt
    vol_window: int = Field(ge=2)
    epochs: PositiveInt
    learning_rate: PositiveFloat
    seed: int

    @classmethod
    def from_allocation(
        cls, config: AllocationTargetsConfig, allocator: str, benchmark: str | None
    ) -> LSTMModelParams:
        """The model of LSTM allocator ``allocator`` (its name), with its first seed, on the
        latest window."""
        (spec,) = [s for s in config.allocators if s.name == allocator]
        if not isinstance(spec, LSTMAllocatorConfig):
            raise ValueError(f"allocator {allocator!r} is a {spec.kind}, not an lstm")
        settings = spec.model_dump(exclude={"kind", "name", "retrain_every", "seeds", "window"})
        return cls(
            tickers=config.tickers,
            benchmark=benchmark,
            window=spec.window or config.estimation_window,
            seed=spec.seeds[0],
            **settings,
        )
