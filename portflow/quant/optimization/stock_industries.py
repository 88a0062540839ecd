"""The ``stock_industries`` stage: each tradable stock's industry at each rebalance date.

At rebalance date t (a month-end) a stock's SIC code is the last code the data gives it on a
trading day up to t (a code carries forward until the data changes it; nothing after t is
read), mapped to Ken French's 12 or 49 industries by :mod:`portflow.quant.industries`
(Kenneth R. French Data Library). A stock without a code up to t, or whose code no
industry lists (49 industries only), is in the group :data:`UNASSIGNED`, so that the
industries still cover the whole benchmark and its weight is reported rather than dropped.
"""

from __future__ import annotations

import pandas as pd

from portflow.quant.industries import Classification, industries_from_sic, industry_names

STAGE = "stock_industries"
UNASSIGNED = "Unassigned"
"""Group of the stocks without an industry at a date (no SIC code, or an unlisted code)."""


def industry_groups(classification: Classification) -> list[str]:
    """The groups a stock can be in: French's industries in his order, then :data:`UNASSIGNED`."""
    return [*industry_names(classification), UNASSIGNED]


def month_end_sic(market_data: pd.DataFrame) -> pd.DataFrame:
    """The last SIC code of each ticker up to each month-end, carried forward.

    Parameters
    ----------
    market_data : DataFrame
        Tidy daily table; ``sic`` (nullable integer) where the source has codes.

    Returns
    -------
    DataFrame of shape (n_months, n_tickers)
        Codes (float, NaN where none is known yet), indexed by calendar month-end; empty when
        the table has no ``sic`` column or no code.
    """
    if "sic" not in market_data.columns:
        return pd.DataFrame(index=pd.DatetimeIndex([], name="date"))
    rows = market_data.loc[market_data["sic"].notna(), ["date", "ticker", "sic"]]
    month = (rows["date"] + pd.offsets.MonthEnd(0)).dt.normalize().rename("date")
    last = rows.assign(date=month).drop_duplicates(["date", "ticker"], keep="last")
    return last.pivot(index="date", columns="ticker", values="sic").astype(float).ffill()


def stock_industries(
    stock_loadings: pd.DataFrame, market_data: pd.DataFrame, *, industries: Classification
) -> pd.DataFrame:
    """Industry of every tradable stock at every rebalance date, from its SIC code up to t.

    Parameters
    ----------
    stock_loadings : DataFrame
        ``stock_loadings`` stage (columns ``date``, ``ticker``, ``tradable``).
    market_data : DataFrame
        Tidy daily table of the source, with ``sic`` where it has codes (rows sorted by
        date, as every source gives them).
    industries : {"ff12", "ff49"}
        Ken French's 12 or 49 industries.

    Returns
    -------
    DataFrame of shape (n_tradable_rows, 4)
        Columns ``date`` (rebalance date t), ``ticker``, ``sic`` (the code used, NaN if
        none) and ``industry`` (categorical over :func:`industry_groups`; ``Unassigned``
        without an industry).
    """
    tradable = stock_loadings.loc[stock_loadings["tradable"], ["date", "ticker"]]
    tradable = tradable.reset_index(drop=True)
    codes = month_end_sic(market_data)
    if codes.empty:
        sic = pd.Series(float("nan"), index=tradable.index)
    else:
        months = codes.index.union(pd.DatetimeIndex(tradable["date"].unique()))
        at = codes.reindex(months).ffill().stack()
        keys = pd.MultiIndex.from_frame(tradable[["date", "ticker"]])
        sic = pd.Series(at.reindex(keys).to_numpy(), index=tradable.index)
    groups = industry_groups(industries)
    named = industries_from_sic(sic, industries).astype(object).fillna(UNASSIGNED)
    tradable["sic"] = sic.to_numpy()
    tradable["industry"] = pd.Categorical(named, categories=groups)
    return tradable
