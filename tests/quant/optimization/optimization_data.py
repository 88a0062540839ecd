"""Small monthly factor-model panels shared by the active-optimization tests."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

RF = 0.002
"""Monthly risk-free rate of the panels."""


@dataclass(frozen=True)
class Panel:
    """Stage inputs of a known monthly factor model."""

    monthly_returns: pd.DataFrame
    """Stocks ``S0``.. plus the benchmark column ``BENCH`` (its equal-weighted mean)."""
    risk_free_monthly: pd.DataFrame
    factor_data: pd.DataFrame
    alphas: np.ndarray
    betas: np.ndarray
    idio_vol: np.ndarray


def monthly_panel(
    seed: int = 0, n_stocks: int = 6, n_months: int = 60, start: str = "2001-01-31"
) -> Panel:
    """``r - rf = a + B f + e`` with two factors ``MKT``, ``SMB``; month-end index."""
    rng = np.random.default_rng(seed)
    months = pd.date_range(start, periods=n_months, freq="ME", name="date")
    factors = rng.normal([0.006, 0.002], [0.045, 0.03], (n_months, 2))
    betas = np.column_stack([rng.uniform(0.6, 1.4, n_stocks), rng.normal(0, 0.6, n_stocks)])
    alphas = rng.normal(0.0, 0.004, n_stocks)
    idio_vol = rng.uniform(0.03, 0.08, n_stocks)
    excess = alphas + factors @ betas.T + idio_vol * rng.standard_normal((n_months, n_stocks))
    stocks = [f"S{i}" for i in range(n_stocks)]
    returns = pd.DataFrame(excess + RF, index=months, columns=stocks)
    returns["BENCH"] = returns.mean(axis=1)
    return Panel(
        monthly_returns=returns,
        risk_free_monthly=pd.DataFrame({"rf": RF}, index=months),
        factor_data=pd.DataFrame(factors, index=months, columns=["MKT", "SMB"]),
        alphas=alphas,
        betas=betas,
        idio_vol=idio_vol,
    )


def sic_codes(tickers, codes=(7372, 6021, 2834)) -> dict[str, int]:
    """Tickers given ``codes`` in turn: software (BusEq), banks (Money), drugs (Hlth)."""
    return {t: codes[i % len(codes)] for i, t in enumerate(tickers)}


def random_problem(
    seed: int,
    n: int,
    k: int = 5,
    *,
    max_weight: float | None = None,
    untradable: float = 0.0,
):
    """One date's ``ProblemInputs`` of a plausible monthly factor model (the benchmark
    script's): betas around 1, 5-10% monthly specific volatility, log-normal caps; a share
    ``untradable`` of the stocks not tradable (zero data, zero benchmark weight)."""
    from portflow.quant.optimization.active_problem import ProblemInputs

    rng = np.random.default_rng(seed)
    loadings = np.column_stack([rng.normal(1.0, 0.3, n), rng.normal(0.0, 0.5, (n, k - 1))])
    root = rng.normal(0.0, 0.02, (k, k))
    covariance = root @ root.T + np.diag(np.full(k, 0.03**2))
    expected = rng.normal(0.0, 0.003, n) + loadings @ rng.normal(0.004, 0.002, k)
    specific = rng.uniform(0.05, 0.10, n) ** 2
    caps = rng.lognormal(0.0, 1.0, n)
    tradable = rng.random(n) >= untradable
    tradable[0] = True
    benchmark = np.where(tradable, caps, 0.0)
    return ProblemInputs(
        expected=np.where(tradable, expected, 0.0),
        loadings=np.where(tradable[:, None], loadings, 0.0),
        specific_variance=np.where(tradable, specific, 0.0),
        factor_covariance=covariance,
        benchmark=benchmark / benchmark.sum(),
        upper=np.where(tradable, 1.0 if max_weight is None else max_weight, 0.0),
    )
