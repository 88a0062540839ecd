"""Config of the volatility-managed portfolios (Moreira & Muir 2017): section ``vol_managed``.

The user writes one flat section; each of the three stages gets only the fields it uses
(declared in ``tasks/vol_managed.py``; the signals' slice is derived by
:meth:`VolManagedConfig.signals_params`), so changing a cost does not recompute the signals
and every stage's artifact version records exactly what it depends on.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Literal

from pydantic import Field, PositiveFloat, model_validator

from portflow.config.base import Frozen
from portflow.errors import DataError

MissingVariance = Literal["error", "carry_forward"]
CovType = Literal["HC0", "HC1", "HC2", "HC3"]


class VolSignalsParams(Frozen):
    """Slice of the ``vol_signals`` stage (``portflow.quant.vol_managed.signals.vol_signals``)."""

    market: str = Field(description="Ticker of the market; its variance drives the common signal.")
    assets: tuple[str, ...] | None = Field(
        None, description="Basket tickers that get a per-asset signal; null = all but the market."
    )
    train_start: dt.date = Field(description="First day of the training window (inclusive).")
    train_end: dt.date = Field(description="Last day of the training window (inclusive).")
    test_end: dt.date | None = Field(
        None, description="Last day of the test period (inclusive); null = end of the data."
    )
    leverage_cap: PositiveFloat | None = Field(
        None, description="Largest exposure per signal; null = uncapped (as in the paper)."
    )
    missing_variance: MissingVariance = Field(
        "error", description="A month without realized variance: error, or carry_forward."
    )
    min_months: int = Field(12, ge=3, description="Fewest months the training window must hold.")


class VolManagedConfig(Frozen):
    """Section ``vol_managed``: volatility-managed portfolios after Moreira & Muir (2017).

    Exposure in month t is ``min(k / variance_{t-1}, leverage_cap)``; ``k`` is calibrated
    so that the mean exposure over the training window is 1. Months after ``train_end``
    (up to ``test_end``) are the out-of-sample test. A month belongs to a window when its
    month-end date lies inside it.
    """

    train_start: dt.date = Field(
        dt.date(2000, 1, 1), description="First day of the training window (inclusive)."
    )
    train_end: dt.date = Field(
        dt.date(2009, 12, 31),
        description="Last day of the training window (inclusive); the test starts after it.",
    )
    test_end: dt.date | None = Field(
        None, description="Last day of the test period (inclusive); null = end of the data."
    )
    weights: dict[str, float] | None = Field(
        None,
        description="Basket weights by ticker, positive and summing to 1; null = equal weights "
        "over every ticker except the market.",
    )
    leverage_cap: PositiveFloat | None = Field(
        None,
        description="Largest exposure k/variance allowed, per signal; null = uncapped as in the "
        "paper. k is calibrated before the cap.",
    )
    missing_variance: MissingVariance = Field(
        "error",
        description="A month with no realized variance (fewer than monthly.min_days returns): "
        "error, or carry_forward the last variance (at most 3 months old).",
    )
    min_months: int = Field(
        12, ge=3, description="Fewest months the training window and each test period must hold."
    )
    cov_type: CovType = Field(
        "HC3",
        description="Heteroskedasticity-robust covariance of the alpha regression "
        "(statsmodels cov_type); HC3 suits samples of about a hundred months.",
    )
    costs_bps: tuple[float, ...] = Field(
        (1.0, 10.0, 14.0),
        description="Transaction costs in basis points per unit of |change in exposure| per "
        "month; alpha is reported net of each.",
    )

    @model_validator(mode="after")
    def _consistent(self):
        if self.train_start >= self.train_end:
            raise ValueError(f"train_start {self.train_start} must be before {self.train_end}")
        if self.test_end is not None and self.test_end <= self.train_end:
            raise ValueError(f"test_end {self.test_end} must be after train_end {self.train_end}")
        if any(not math.isfinite(c) or c < 0 for c in self.costs_bps):
            raise ValueError(f"costs_bps must be finite and >= 0, got {list(self.costs_bps)}")
        if self.weights is not None:
            if not self.weights:
                raise ValueError("weights must name at least one ticker, or be null")
            bad = {t: w for t, w in self.weights.items() if not math.isfinite(w) or w <= 0}
            if bad:
                raise ValueError(f"weights must be positive, got {bad}")
            total = sum(self.weights.values())
            if abs(total - 1.0) > 1e-6:
                raise ValueError(f"weights must sum to 1, they sum to {total}")
        return self

    def signals_params(self, market: str | None) -> VolSignalsParams:
        """The ``vol_signals`` slice; ``market`` is the pipeline's benchmark ticker.

        Raises
        ------
        DataError
            When the data has no benchmark to serve as the market.
        """
        if not market:
            raise DataError(
                "vol_signals",
                "data.benchmark",
                "the volatility-managed strategies need a market, and the data has no benchmark",
                "set data.benchmark to a ticker of the data (e.g. an index or ETF)",
            )
        return VolSignalsParams(
            market=market,
            assets=tuple(self.weights) if self.weights is not None else None,
            train_start=self.train_start,
            train_end=self.train_end,
            test_end=self.test_end,
            leverage_cap=self.leverage_cap,
            missing_variance=self.missing_variance,
            min_months=self.min_months,
        )
