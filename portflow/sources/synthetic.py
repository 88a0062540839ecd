"""Seeded market data from a known factor model: ground truth for tests and demos.

Each business day ``t`` a two-state Markov chain picks a regime ``s_t`` (0 calm, 1
crisis; the chain starts calm). Factor ``k`` returns ``f_kt = m[s_t, k] + v[s_t, k] z_kt``
with independent standard normal ``z``. Asset ``i`` returns, in excess of a constant daily
risk-free rate ``rf``::

    r_it - rf = sum_k betas[i, k] f_kt + idio_vol[i] e_it        (zero alpha)

and the benchmark ``BENCH`` returns ``rf + f_0t`` exactly. Only factor 0 (the market) has a
regime-dependent mean; all factors have regime-dependent volatilities. The other factors
are therefore uncorrelated with factor 0, and each asset's true beta to the benchmark is
``betas[:, 0]``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from portflow.config import SyntheticData
from portflow.sources.base import MarketData
from portflow.sources.tidy import DATE_DTYPE, tidy

BENCHMARK = "BENCH"
SIC_CODES = (3571, 6021, 2834, 5331, 2911, 7372, 2080, 3600, 4911, 4813)
"""SIC codes the stocks take in turn (computers, banks, drugs, variety stores, refining,
software, beverages, electrical equipment, utilities, telephone), so that industries and
the sector rotation have something to work with; the benchmark has none."""


@dataclass(frozen=True, eq=False)
class SyntheticTruth:
    """The parameters and latent paths behind a :func:`generate` draw.

    Attributes
    ----------
    betas : ndarray of shape (n_assets, n_factors)
        Factor loadings; column 0 is each asset's beta to the benchmark.
    idio_vol : ndarray of shape (n_assets,)
        Daily volatility of the idiosyncratic returns (decimal).
    factor_returns : DataFrame of shape (n_days, n_factors)
        Realized factor returns (decimal per day), columns ``f0``, ``f1``, ..., indexed by date.
    regimes : Series of shape (n_days,)
        Regime of each day, 0 calm or 1 crisis, named ``"regime"``.
    transition : ndarray of shape (2, 2)
        ``transition[i, j]`` = P(regime j tomorrow | regime i today).
    regime_means, regime_vols : ndarray of shape (2, n_factors)
        Daily mean and volatility of each factor in each regime.
    rf : float
        Risk-free rate, decimal per day.
    """

    betas: np.ndarray
    idio_vol: np.ndarray
    factor_returns: pd.DataFrame
    regimes: pd.Series
    transition: np.ndarray
    regime_means: np.ndarray
    regime_vols: np.ndarray
    rf: float


def generate(
    *,
    seed: int,
    n_assets: int,
    n_days: int,
    start: dt.date,
    n_factors: int = 3,
    transition: tuple[tuple[float, float], tuple[float, float]] = ((0.98, 0.02), (0.05, 0.95)),
    crisis_vol_scale: float = 2.5,
    rf: float = 0.0001,
) -> tuple[MarketData, SyntheticTruth]:
    """Draw prices, volumes and regimes from the factor model of the module docstring.

    Parameters
    ----------
    seed : int
        Seed of ``numpy.random.default_rng``; the same arguments give identical output.
    n_assets, n_days, n_factors : int
        Number of stocks (tickers ``A00``, ``A01``, ... zero-padded to one width), business
        days from ``start``, and factors.
    start : date
        First business day.
    transition : 2 x 2 nested tuple
        Row-stochastic regime transition matrix (calm, crisis).
    crisis_vol_scale : float
        Factor volatilities in the crisis regime are this multiple of the calm ones.
    rf : float
        Constant risk-free rate, decimal per day.

    Returns
    -------
    market : MarketData
        ``daily`` with ``close`` = ``adj_close`` = ``100 * cumprod(1 + r)`` (the first
        day's return is included in the first price) and lognormal ``volume`` for every
        stock and ``BENCH``, and each stock's ``sic`` (:data:`SIC_CODES` in turn); daily
        ``risk_free``.
    truth : SyntheticTruth
        The parameters and the latent factor and regime paths.
    """
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range(start, periods=n_days, name="date").astype(DATE_DTYPE)
    tickers = [f"A{i:0{len(str(n_assets - 1))}d}" for i in range(n_assets)]

    calm_means = np.full(n_factors, 0.0001)
    calm_means[0] = 0.0004
    regime_means = np.vstack([calm_means, calm_means])
    regime_means[1, 0] = -0.0010
    calm_vols = np.full(n_factors, 0.005)
    calm_vols[0] = 0.010
    regime_vols = np.vstack([calm_vols, crisis_vol_scale * calm_vols])
    matrix = np.asarray(transition, dtype=float)

    betas = np.column_stack(
        [rng.uniform(0.5, 1.5, n_assets), rng.normal(0.0, 0.5, (n_assets, n_factors - 1))]
    )
    idio_vol = rng.uniform(0.005, 0.02, n_assets)

    regimes = np.zeros(n_days, dtype=int)
    switch = rng.random(n_days)
    for t in range(1, n_days):
        regimes[t] = int(switch[t] < matrix[regimes[t - 1], 1])
    factors = regime_means[regimes] + regime_vols[regimes] * rng.standard_normal(
        (n_days, n_factors)
    )
    excess = factors @ betas.T + idio_vol * rng.standard_normal((n_days, n_assets))
    returns = np.column_stack([rf + excess, rf + factors[:, 0]])
    volume = np.exp(
        np.log(1e6) + rng.normal(0.0, 1.0, n_assets + 1) + 0.3 * rng.standard_normal(returns.shape)
    )

    prices = 100 * np.cumprod(1 + returns, axis=0)
    columns = [*tickers, BENCHMARK]
    long = pd.DataFrame(
        {
            "date": np.repeat(dates, n_assets + 1),
            "ticker": np.tile(columns, n_days),
            "close": prices.ravel(),
            "adj_close": prices.ravel(),
            "volume": volume.ravel(),
            "sic": np.tile(
                [*(SIC_CODES[i % len(SIC_CODES)] for i in range(n_assets)), None], n_days
            ),
        }
    )
    market = MarketData(tidy(long), BENCHMARK, pd.Series(rf, index=dates, name="rf"), "daily")
    truth = SyntheticTruth(
        betas=betas,
        idio_vol=idio_vol,
        factor_returns=pd.DataFrame(
            factors, index=dates, columns=[f"f{k}" for k in range(n_factors)]
        ),
        regimes=pd.Series(regimes, index=dates, name="regime"),
        transition=matrix,
        regime_means=regime_means,
        regime_vols=regime_vols,
        rf=rf,
    )
    return market, truth


class SyntheticSource:
    """Source of :func:`generate` data for a :class:`~portflow.config.SyntheticData` config."""

    def __init__(self, config: SyntheticData) -> None:
        self.config = config

    def files(self) -> list[Path]:
        """No file: the data is generated from the config alone."""
        return []

    def load(self) -> MarketData:
        """The market data of ``generate(seed, n_assets, n_days, start)`` (defaults otherwise)."""
        config = self.config
        market, _ = generate(
            seed=config.seed, n_assets=config.n_assets, n_days=config.n_days, start=config.start
        )
        return market
