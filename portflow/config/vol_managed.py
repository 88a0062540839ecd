"""Config of the volatility-managed portfolios (Moreira & Muir 2017): section ``vol_managed``.

The user writes one flat section; each stage gets only the fields it uses (declared in
``tasks/vol_managed.py``; the signals' and the evaluation's slices are derived by
:meth:`VolManagedConfig.signals_params` and :meth:`VolManagedConfig.evaluation_params`), so
changing a cost does not recompute the signals and every stage's artifact version records
exactly what it depends on.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Literal

from pydantic import Field, NonNegativeInt, PositiveFloat, model_validator

from portflow.config.base import Frozen
from portflow.config.optimization import FactorDataConfig
from portflow.errors import DataError

MissingVariance = Literal["error", "carry_forward"]
CovType = Literal["HC0", "HC1", "HC2", "HC3", "HAC"]
Evaluation = Literal["train_test", "full_sample"]


class VolSignalsParams(Frozen):
    """Slice of the ``vol_signals`` stage (``portflow.quant.vol_managed.signals.vol_signals``)."""

    market: str = Field(description="Ticker of the market; its variance drives the common signal.")
    assets: tuple[str, ...] | None = Field(
        None, description="Basket tickers that get a per-asset signal; null = all but the market."
    )
    train_start: dt.date = Field(
        description="First day of the training window, or of the whole sample (inclusive)."
    )
    train_end: dt.date | None = Field(
        description="Last day of the training window (inclusive); null = no test window, the "
        "whole sample is one period ('full') and k is calibrated over it."
    )
    test_end: dt.date | None = Field(
        None, description="Last day of the sample (inclusive); null = end of the data."
    )
    leverage_cap: PositiveFloat | None = Field(
        None, description="Largest exposure per signal; null = uncapped (as in the paper)."
    )
    missing_variance: MissingVariance = Field(
        "error", description="A month without realized variance: error, or carry_forward."
    )
    min_months: int = Field(12, ge=3, description="Fewest months the training window must hold.")


class VolEvaluationParams(Frozen):
    """Slice of the ``vol_evaluation`` stage (``portflow.quant.vol_managed.evaluation``)."""

    cov_type: CovType = Field(description="Standard errors of the alpha regression.")
    hac_lags: NonNegativeInt | Literal["auto"] | None = Field(
        description="Lags of HAC errors; null unless cov_type is HAC."
    )
    costs_bps: tuple[float, ...] = Field(description="Costs in bp per unit of turnover.")
    min_months: int = Field(ge=3, description="Fewest months a period must hold.")
    exposure_warning: PositiveFloat | None = Field(
        description="Exposure above which the evaluation warns; null = never."
    )
    market: str = Field(description="Ticker whose daily variance drives the common signal.")
    market_return: str = Field(
        description="Where the market's monthly return comes from: benchmark, or the factor "
        "source of Mkt-RF + RF (sample, files, french_library)."
    )


class VolManagedConfig(Frozen):
    """Section ``vol_managed``: volatility-managed portfolios after Moreira & Muir (2017).

    Exposure in month t is ``min(k / variance_{t-1}, leverage_cap)``; ``k`` is calibrated
    so that the mean exposure over the training window is 1. With ``evaluation:
    train_test`` the months after ``train_end`` (up to ``test_end``) are the out-of-sample
    test; with ``full_sample`` the months from ``train_start`` to ``test_end`` are one
    period, as in the paper. A month belongs to a window when its month-end date lies
    inside it.
    """

    evaluation: Evaluation = Field(
        "train_test",
        description="train_test: calibrate k on train_start..train_end and evaluate the "
        "training and the test period apart; full_sample: one period from train_start to "
        "test_end, k calibrated over it (Moreira & Muir's whole-sample evaluation; the scale "
        "is in-sample, the t-statistics, R2 and Sharpe ratios do not depend on it).",
    )
    train_start: dt.date = Field(
        dt.date(2000, 1, 1),
        description="First day of the training window, or of the whole sample (inclusive).",
    )
    train_end: dt.date | None = Field(
        None,
        description="Last day of the training window (inclusive); the test starts after it. "
        "Required with evaluation train_test, absent with full_sample.",
    )
    test_end: dt.date | None = Field(
        None,
        description="Last day of the test period or of the whole sample (inclusive); null = "
        "end of the data.",
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
        description="Standard errors of the alpha regression (statsmodels cov_type): HC0-HC3 "
        "heteroskedasticity-robust (HC3 suits samples of about a hundred months), or HAC "
        "(Newey-West, with hac_lags).",
    )
    hac_lags: NonNegativeInt | Literal["auto"] | None = Field(
        None,
        description="cov_type HAC only: Newey-West lags, or auto = floor(4 (T/100)^(2/9)) "
        "for T months; null with HAC = auto.",
    )
    costs_bps: tuple[float, ...] = Field(
        (1.0, 10.0, 14.0),
        description="Transaction costs in basis points per unit of |change in exposure| per "
        "month; alpha is reported net of each.",
    )
    exposure_warning: PositiveFloat | None = Field(
        5.0,
        description="Warn (a Python warning and a note under the evaluation table) when an "
        "exposure exceeds this multiple of the unmanaged position; null = never. "
        "leverage_cap caps it instead.",
    )
    market_factors: FactorDataConfig | None = Field(
        None,
        description="Where the market's monthly return comes from. null: the benchmark's own "
        "return (the sample's S&P 500 is a price index: no dividends). A factor source "
        "(e.g. {source: sample}): the Fama-French market's total return Mkt-RF + RF "
        "(Kenneth R. French Data Library; the sample's ends 2018-11). The market's variance "
        "always comes from the benchmark's daily returns.",
    )

    @model_validator(mode="after")
    def _consistent(self):
        if self.evaluation == "full_sample" and self.train_end is not None:
            raise ValueError(
                "evaluation full_sample has no training window end: remove train_end, or set "
                "evaluation: train_test"
            )
        if self.evaluation == "train_test":
            if self.train_end is None:
                raise ValueError(
                    "evaluation train_test needs train_end (the last day of the training "
                    "window), or set evaluation: full_sample"
                )
            if self.train_start >= self.train_end:
                raise ValueError(f"train_start {self.train_start} must be before {self.train_end}")
            if self.test_end is not None and self.test_end <= self.train_end:
                raise ValueError(
                    f"test_end {self.test_end} must be after train_end {self.train_end}"
                )
        if self.test_end is not None and self.test_end <= self.train_start:
            raise ValueError(f"test_end {self.test_end} must be after {self.train_start}")
        if self.cov_type != "HAC" and self.hac_lags is not None:
            raise ValueError(f"hac_lags applies to cov_type HAC only, not {self.cov_type}")
        if self.market_factors is not None and "Mkt-RF" not in self.market_factors.factors:
            raise ValueError("market_factors must list the factor Mkt-RF")
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

    def evaluation_params(self, market: str) -> VolEvaluationParams:
        """The ``vol_evaluation`` slice; ``market`` is the pipeline's benchmark ticker."""
        return VolEvaluationParams(
            cov_type=self.cov_type,
            hac_lags="auto" if self.cov_type == "HAC" and self.hac_lags is None else self.hac_lags,
            costs_bps=self.costs_bps,
            min_months=self.min_months,
            exposure_warning=self.exposure_warning,
            market=market,
            market_return="benchmark"
            if self.market_factors is None
            else self.market_factors.source,
        )
