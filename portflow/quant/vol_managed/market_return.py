"""The ``vol_market_returns`` stage: the market's monthly total return from the Fama-French factors.

Moreira and Muir (2017) manage the Fama-French market, ``Mkt-RF``: the value-weighted
return of every CRSP stock, dividends included, in excess of the one-month T-bill ``RF``.
A price index such as the sample's S&P 500 leaves the dividends out (about 2% a year).
This stage replaces the market's column of the monthly returns with the total return
``Mkt-RF + RF`` of a factor source (the Kenneth R. French Data Library's, as bundled with
the sample data or downloaded), so the strategy stages downstream are unchanged: over the
same months, with the same risk-free rate, the market's excess return is ``Mkt-RF``.
The market's *variance* still comes from the benchmark's daily returns (no package ships
daily Fama-French factors), measured over the same calendar months.

pandas does the work.
"""

from __future__ import annotations

import pandas as pd

from portflow.errors import DataError

STAGE = "vol_market_returns"


def factor_market_returns(
    monthly_returns: pd.DataFrame, factor_source: pd.DataFrame, *, market: str
) -> pd.DataFrame:
    """``monthly_returns`` with the market's column replaced by ``Mkt-RF + RF``.

    Parameters
    ----------
    monthly_returns : DataFrame of shape (n_months, n_tickers)
        Simple monthly returns by calendar month-end, the market among the columns.
    factor_source : DataFrame
        Monthly factor returns (decimal) by calendar month-end with columns ``Mkt-RF`` and
        ``RF`` (:mod:`portflow.sources.factors`).
    market : str
        The market's column.

    Returns
    -------
    DataFrame of shape (n_months, n_tickers)
        The same table; the market's column is ``Mkt-RF + RF`` of each month (simple
        decimal return per month).

    Raises
    ------
    DataError
        No ``Mkt-RF`` or ``RF`` in the factors, the market not among the returns, or a
        month of the returns that the factors do not cover.
    """
    missing = [c for c in ("Mkt-RF", "RF") if c not in factor_source.columns]
    if missing:
        raise DataError(
            STAGE,
            "vol_managed.market_factors",
            f"the factor source has no {' or '.join(missing)} column "
            f"(columns: {', '.join(map(str, factor_source.columns))})",
            "use a factor source with the market excess return Mkt-RF and the risk-free "
            "rate RF (sample, french_library, or a file with both columns)",
        )
    if market not in monthly_returns.columns:
        raise DataError(
            STAGE,
            "market",
            f"{market} is not a column of monthly_returns",
            "pass the benchmark ticker of the ingested data",
        )
    total = (factor_source["Mkt-RF"] + factor_source["RF"]).reindex(monthly_returns.index)
    uncovered = monthly_returns.index[total.isna().to_numpy()]
    if len(uncovered):
        factors = factor_source.dropna(subset=["Mkt-RF", "RF"]).index
        raise DataError(
            STAGE,
            "vol_managed.market_factors",
            f"the factors cover {factors.min():%Y-%m}..{factors.max():%Y-%m}, not the "
            f"{len(uncovered)} months {uncovered.min():%Y-%m}..{uncovered.max():%Y-%m} of "
            "the returns",
            "end data.end (or the strategy's data.end) inside the factors' coverage, or set "
            "vol_managed.market_factors to null for the benchmark's own return",
        )
    out = monthly_returns.copy()
    out[market] = total.to_numpy(dtype=float)
    return out
