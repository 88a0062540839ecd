"""The ``benchmark_weights`` stage: the benchmark b the active portfolios are measured against.

The benchmark is the universe the risk model covers: at each rebalance date t, the
stocks tradable at t (``stock_loadings``). Weights are

- ``cap``: market capitalization ``close x shares_outstanding`` at the last trading day
  of month t (unadjusted close: an adjusted price times shares is not a capitalization),
  over the tradable stocks; a tradable stock without a cap at t gets weight 0;
- ``equal``: ``1 / n_tradable``, the stated alternative when the data has no caps (the
  bundled sample data has none, so offline the benchmark is equal-weighted);
- ``auto``: ``cap`` at the dates where every tradable stock has a cap, ``equal`` at the
  others (e.g. before a live source's share-count history begins), never a cap weight
  that silently drops stocks.

The chosen scheme is named in every row (column ``scheme``) and carried into the report.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from portflow.errors import DataError

STAGE = "benchmark_weights"
CAP_FIELDS = ("close", "shares_outstanding")


def month_end_caps(market_data: pd.DataFrame) -> pd.DataFrame:
    """Market capitalization at the last trading day with a cap in each month.

    Parameters
    ----------
    market_data : DataFrame
        Tidy daily table with ``date``, ``ticker``, ``close`` and ``shares_outstanding``.

    Returns
    -------
    DataFrame of shape (n_months, n_tickers)
        Caps in the quote currency, indexed by calendar month-end; NaN where none.
    """
    rows = market_data.loc[:, ["date", "ticker", *CAP_FIELDS]].dropna()
    if not rows["date"].is_monotonic_increasing:
        rows = rows.sort_values("date", kind="stable")
    table = pd.DataFrame(
        {
            "month": (rows["date"] + pd.offsets.MonthEnd(0)).dt.normalize(),
            "ticker": rows["ticker"],
            "cap": rows["close"] * rows["shares_outstanding"],
        }
    ).drop_duplicates(["month", "ticker"], keep="last")
    return table.pivot(index="month", columns="ticker", values="cap")


def benchmark_weights(
    stock_loadings: pd.DataFrame, market_data: pd.DataFrame, *, scheme: str
) -> pd.DataFrame:
    """Benchmark weights over the tradable stocks at each rebalance date.

    Parameters
    ----------
    stock_loadings : DataFrame
        Output of ``stock_loadings`` (columns ``date``, ``ticker``, ``tradable``).
    market_data : DataFrame
        Tidy daily table of the source; caps need ``close`` and ``shares_outstanding``.
    scheme : {"auto", "cap", "equal"}
        See the module docstring; ``auto`` is ``cap`` when the data has both fields.

    Returns
    -------
    DataFrame of shape (n_tradable_rows, 5)
        Columns ``date``, ``ticker``, ``weight`` (sums to 1 per date), ``cap`` (NaN under
        equal weights) and ``scheme`` (``cap_weight`` or ``equal_weight``). Dates without
        tradable stocks have no rows.

    Raises
    ------
    DataError
        ``scheme="cap"`` on data without caps, or a date whose tradable stocks have no cap.
    """
    has_caps = all(f in market_data.columns for f in CAP_FIELDS)
    if scheme == "cap" and not has_caps:
        raise DataError(
            STAGE,
            "optimization.benchmark.scheme",
            "cap weights need close and shares_outstanding, which the data lacks "
            f"(columns: {', '.join(market_data.columns)})",
            "set optimization.benchmark.scheme to equal or auto, or load a panel with "
            "shares_outstanding (files source)",
        )
    tradable = stock_loadings.loc[stock_loadings["tradable"], ["date", "ticker"]]
    tradable = tradable.reset_index(drop=True)
    by_date = tradable.groupby("date")["ticker"]
    cap = pd.Series(np.nan, index=tradable.index)
    if has_caps and scheme in ("cap", "auto"):
        caps = month_end_caps(market_data).stack()
        cap[:] = caps.reindex(pd.MultiIndex.from_frame(tradable[["date", "ticker"]])).to_numpy()
    # Per date: cap weights when the scheme asks for them (auto: only where every tradable
    # stock has a cap), equal weights otherwise.
    if scheme == "cap":
        capped = pd.Series(True, index=tradable.index)
    else:
        capped = cap.notna().groupby(tradable["date"]).transform("all")
    totals = cap.fillna(0.0).groupby(tradable["date"]).transform("sum")
    empty = tradable.loc[capped & totals.le(0), "date"].unique()
    if len(empty):
        raise DataError(
            STAGE,
            "shares_outstanding",
            f"no tradable stock has a market cap on {len(empty)} dates, first "
            f"{pd.Timestamp(empty[0]):%Y-%m-%d}",
            "supply close and shares_outstanding for those months, or use "
            "optimization.benchmark.scheme: auto or equal",
        )
    tradable["cap"] = cap.where(capped)
    tradable["weight"] = np.where(
        capped, cap.fillna(0.0) / totals.where(capped), 1.0 / by_date.transform("size")
    )
    tradable["scheme"] = np.where(capped, "cap_weight", "equal_weight")
    return tradable[["date", "ticker", "weight", "cap", "scheme"]]
