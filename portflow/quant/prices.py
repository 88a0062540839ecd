"""The ``prices`` stage: a validated wide panel of adjusted closes from the tidy table."""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from portflow.errors import DataError, preview

STAGE = "prices"


def price_panel(
    market_data: pd.DataFrame,
    *,
    missing: Literal["error", "drop_dates", "ffill", "keep"] = "error",
    ffill_limit: int = 5,
) -> pd.DataFrame:
    """Pivot the tidy daily table to a validated panel of adjusted closes.

    Parameters
    ----------
    market_data : DataFrame
        Tidy table with columns ``date``, ``ticker`` and ``adj_close`` (or ``close`` when
        the provider has no adjusted price), one row per (date, ticker).
    missing : {"error", "drop_dates", "ffill"}
        Policy for *interior* gaps, i.e. a missing price between a ticker's first and
        last observation. ``error`` raises; ``drop_dates`` drops every date on which a
        listed ticker has no price (returns then span the gap, price to price);
        ``ffill`` carries the last price forward for at most ``ffill_limit`` days;
        ``keep`` leaves them missing, so the returns across a gap are missing and so is
        the month that holds one (for panels such as CRSP's, whose source already bridged
        every gap a return spans and left only the unknown ones).
        Leading and trailing gaps (before a listing, after a delisting) are always kept
        as NaN: the ticker is simply not in the universe then.
    ffill_limit : int
        Longest interior gap, in trading days, that ``ffill`` may fill.

    Returns
    -------
    DataFrame of shape (n_dates, n_tickers)
        Prices in the quote currency; index ``date`` (sorted, unique), columns
        ``ticker`` (sorted).

    Raises
    ------
    DataError
        Duplicate (date, ticker) rows, non-positive or infinite prices, or interior gaps
        that the policy does not allow.
    """
    field = "adj_close" if "adj_close" in market_data.columns else "close"
    for column in ("date", "ticker", field):
        if column not in market_data.columns:
            raise DataError(
                STAGE,
                column,
                "missing from the ingested table",
                "check the source: it must provide date, ticker and adj_close or close",
            )
    if market_data.empty:
        raise DataError(STAGE, "date", "no rows to build prices from", "widen data.start/end")
    duplicated = market_data.duplicated(["date", "ticker"], keep=False)
    if duplicated.any():
        pairs = market_data.loc[duplicated, ["date", "ticker"]].drop_duplicates()
        raise DataError(
            STAGE,
            "date",
            f"duplicate dates for {len(pairs)} (date, ticker) pairs: "
            + preview(f"{t} {d:%Y-%m-%d}" for d, t in pairs.itertuples(index=False)),
            "deduplicate the input so each ticker has one row per date",
        )
    values = market_data[field].astype(float)
    bad = ~np.isfinite(values) & values.notna() | (values <= 0)
    if bad.any():
        rows = market_data.loc[bad, ["date", "ticker"]]
        raise DataError(
            STAGE,
            field,
            f"{int(bad.sum())} non-positive or infinite prices: "
            + preview(
                f"{t} {d:%Y-%m-%d}={v}"
                for (d, t), v in zip(rows.itertuples(index=False), values[bad], strict=True)
            ),
            "fix or remove those rows in the source data",
        )
    panel = (
        market_data.assign(**{field: values})
        .pivot(index="date", columns="ticker", values=field)
        .sort_index()
        .sort_index(axis=1)
    )
    panel.columns = panel.columns.astype(str)
    panel.columns.name = "ticker"
    panel.index.name = "date"
    return _apply_missing_policy(panel, missing=missing, ffill_limit=ffill_limit)


def _interior_gaps(panel: pd.DataFrame) -> pd.DataFrame:
    """Boolean mask of NaNs between each ticker's first and last valid price."""
    listed = panel.ffill().notna() & panel.bfill().notna()
    return listed & panel.isna()


def _apply_missing_policy(panel: pd.DataFrame, *, missing: str, ffill_limit: int) -> pd.DataFrame:
    if missing == "keep":
        return panel
    gaps = _interior_gaps(panel)
    if not gaps.any().any():
        return panel
    if missing == "drop_dates":
        return panel.loc[~gaps.any(axis=1)]
    if missing == "ffill":
        filled = panel.ffill(limit=ffill_limit).where(gaps | panel.notna())
        gaps = _interior_gaps(filled)
        if not gaps.any().any():
            return filled
        panel = filled
    where = [f"{t} {d:%Y-%m-%d}" for d, t in gaps.stack().loc[lambda s: s].index]
    fix = {
        "error": "set prices.missing to drop_dates or ffill, or fill the gaps in the source",
        "ffill": "raise prices.ffill_limit, use prices.missing: drop_dates, or fix the source",
    }[missing]
    raise DataError(
        STAGE,
        "prices.missing",
        f"{len(where)} missing prices inside the sample (policy {missing!r}): {preview(where)}",
        fix,
    )
