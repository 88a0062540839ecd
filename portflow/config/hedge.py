"""Config slice of the beta-hedge strategy (issue 3): volume-weighted basket vs a benchmark.

The field names are the keyword arguments of the stage functions in
``portflow.quant.hedge.volume_basket``, ``portflow.quant.hedge.beta``,
``portflow.quant.hedge.backtest`` and ``portflow.quant.hedge.metrics``; each task passes a
stage only the fields it uses (see ``tasks.hedge``), so changing, say,
``cost_rate`` recomputes the backtest and its metrics but not the weights or the betas.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, NonNegativeInt

from portflow.config.base import Frozen
from portflow.config.data import DataConfig

HedgeConvention = Literal["beta_neutral", "capital_split"]
"""How the hedge ratio beta sets the two legs from the book's equity E:
``beta_neutral``: long E, short beta x E; ``capital_split``: long E/(1+beta), short
beta x E/(1+beta)."""


class HedgeConfig(Frozen):
    """Long a volume-weighted basket, short the benchmark in the estimated beta ratio."""

    data: DataConfig | None = Field(
        None,
        description="Data for this strategy only (it needs a volume field); "
        "null = the pipeline's data section.",
    )
    volume_window: int = Field(
        30,
        ge=1,
        description="Trading days in the trailing average volume that sets the basket weights.",
    )
    dollar_volume: bool = Field(
        False,
        description="Weight by dollar volume (close x volume) instead of share volume. Share "
        "volume jumps at splits when the source does not adjust it (sample tech4).",
    )
    hac_lags: NonNegativeInt | Literal["auto"] | None = Field(
        None,
        description="Newey-West (HAC) lags for the full-sample regression's standard errors; "
        "auto = the Newey-West rule floor(4 (T/100)^(2/9)) for T daily returns; null = "
        "classic OLS errors.",
    )
    beta_window: int = Field(
        252,
        ge=3,
        description="Trading days of returns in the trailing window that estimates beta at each "
        "rebalance (the window ends at the rebalance close).",
    )
    rebalance_every: int = Field(30, ge=1, description="Trading days between hedge rebalances.")
    convention: HedgeConvention = Field(
        "beta_neutral",
        description="beta_neutral: long 100% of equity, short beta x long; capital_split: long "
        "1/(1+beta), short beta/(1+beta) of equity.",
    )
    cost_rate: float = Field(
        0.0005,
        ge=0.0,
        lt=1.0,
        description="Transaction cost per unit of traded notional (0.0005 = 5 bp of each dollar "
        "bought or sold): the hedge's rebalances and the basket's daily re-weighting to its "
        "volume weights.",
    )
    borrow_fee: float = Field(
        0.0,
        ge=0.0,
        lt=1.0,
        description="Annual fee for borrowing the shorted benchmark, decimal (0.003 = 30 bp a "
        "year), accrued actual/360 on the short notional; the short's proceeds earn the "
        "risk-free rate like the rest of the cash.",
    )
    capital: float = Field(
        1_000_000.0,
        gt=0.0,
        description="Initial equity of the hedged book in the quote currency; scales positions "
        "and costs in money, not returns.",
    )
