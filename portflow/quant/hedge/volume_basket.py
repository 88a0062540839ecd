"""The volume-weighted basket: weights from trailing average volume, and its daily returns.

Timing
------
A weight decided with data up to t earns the return of t+1. Here the weight *used on day
t* (the row labelled t) is set at the close of t-1 from volume up to and including t-1,
so it never reads day t's volume or anything after it.

Volume measure
--------------
Share volume is comparable across names only if every name's volume is on the same share
basis. The bundled sample ``tech4`` quotes close and volume *not* split-adjusted (AAPL's
share volume doubles at its 2:1 split of 2005-02-28 while its economic activity does not),
so there share volume is split-dependent while dollar volume (close x volume) is
split-invariant: a split multiplies volume by k and divides close by k. Yahoo's live
``close`` and ``volume`` are both split-adjusted, so either measure is consistent there.
Dollar volume is also the measure comparable *across* names (share volume favours
low-priced shares).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from portflow.errors import DataError, preview

WEIGHTS_STAGE = "volume_weights"
BASKET_STAGE = "basket_returns"


def volume_measure(dollar_volume: bool) -> str:
    """Label of the activity measure behind the weights, for reports."""
    return "dollar volume (close x volume)" if dollar_volume else "share volume"


def _panel(market_data: pd.DataFrame, field: str) -> pd.DataFrame:
    panel = market_data.pivot(index="date", columns="ticker", values=field).sort_index()
    panel.columns = panel.columns.astype(str)
    return panel.astype(float)


def volume_weights(
    market_data: pd.DataFrame,
    *,
    volume_window: int = 30,
    dollar_volume: bool = False,
    benchmark: str,
) -> pd.DataFrame:
    """Basket weights proportional to each name's trailing average (dollar) volume, lagged a day.

    For each date t of the market calendar and each basket name i (every ticker but the
    benchmark)::

        a_{i,t} = mean(v_{i,t-W}, ..., v_{i,t-1})         (W = volume_window)
        w_{i,t} = a_{i,t} / sum_j a_{j,t}

    where ``v`` is share volume, or ``close x volume`` when ``dollar_volume``. The mean
    skips days on which a listed name has no volume; a name enters the basket once W
    trading days have passed since its first volume (so a new listing is not weighted on
    a few days of launch volume), and leaves it when its window holds no volume at all.
    Pure pandas.

    Parameters
    ----------
    market_data : DataFrame
        Tidy daily table with columns ``date``, ``ticker``, ``volume`` (shares) and, for
        dollar volume, ``close`` (the quoted close on the same share basis as the volume,
        not ``adj_close``).
    volume_window : int
        W, trading days in the trailing average.
    dollar_volume : bool
        Use ``close x volume`` (quote currency per day) instead of shares per day.
    benchmark : str
        Ticker of the benchmark, excluded from the basket.

    Returns
    -------
    DataFrame of shape (n_dates - W, n_names)
        Weights (decimal, each row sums to 1, names not yet in the basket are 0), index
        ``date`` = the day the weights are held (decided at the previous close), columns
        the basket tickers (sorted). The first W dates (more if every name lists later),
        before any name has a full window, are not in the output.

    Raises
    ------
    DataError
        Benchmark not among the tickers, no basket name, no ``volume`` (or ``close``)
        column, negative volume, a window in which every basket name traded zero volume,
        or data shorter than the window.
    """
    stage = WEIGHTS_STAGE
    tickers = sorted(map(str, market_data["ticker"].unique()))
    if benchmark not in tickers:
        raise DataError(
            stage,
            benchmark,
            f"the benchmark is not in the data (tickers: {preview(tickers, 10)})",
            "set data.benchmark to one of the tickers, or add the benchmark to the source",
        )
    basket = [t for t in tickers if t != benchmark]
    if not basket:
        raise DataError(
            stage, "data.tickers", "the data holds only the benchmark", "add basket stocks"
        )
    fields = ["volume", "close"] if dollar_volume else ["volume"]
    for field in fields:
        if field not in market_data.columns:
            raise DataError(
                stage,
                field,
                f"the source has no {field} column (columns: {preview(market_data.columns, 10)})",
                "use a source with volume and close (sample tech4, yfinance, synthetic, or "
                "files mapping a volume column); sample sp500_20 has no volume"
                if field == "volume"
                else "set hedge.dollar_volume to false, or use a source with a close column",
            )
    data = market_data[market_data["ticker"].isin(basket)]
    activity = _panel(data, "volume")
    if (activity < 0).any().any():
        bad = activity.stack().loc[lambda s: s < 0]
        raise DataError(
            stage,
            "volume",
            f"{len(bad)} negative volumes: " + preview(f"{t} {d:%Y-%m-%d}" for d, t in bad.index),
            "fix or remove those rows in the source data",
        )
    if dollar_volume:
        activity = activity * _panel(data, "close")
    if len(activity) <= volume_window:
        raise DataError(
            stage,
            "hedge.volume_window",
            f"{volume_window} trading days but the data has only {len(activity)} dates",
            "lower hedge.volume_window or widen data.start/data.end",
        )
    days_since_listing = activity.notna().cummax().cumsum()
    average = activity.rolling(volume_window, min_periods=1).mean()
    average = average.where(days_since_listing >= volume_window)
    lagged = average.shift(1)  # row t: volume up to t-1
    total = lagged.sum(axis=1, min_count=1)
    started = total.notna().cummax()  # drop the warm-up before any name has a full window
    lagged, total = lagged[started], total[started]
    dead = total.index[(total <= 0) | total.isna()]
    if len(dead):
        raise DataError(
            stage,
            "volume",
            f"every basket name has zero or no volume in the {volume_window}-day window "
            f"before {len(dead)} dates: {preview(d.strftime('%Y-%m-%d') for d in dead)}",
            "check the source's volume on those dates (fill or drop them), widen "
            "hedge.volume_window, or move data.start/data.end",
        )
    weights = lagged.div(total, axis=0).fillna(0.0)
    weights.index = pd.DatetimeIndex(weights.index, name="date", freq=None)
    weights.columns.name = None
    return weights


def basket_returns(
    daily_returns: pd.DataFrame, volume_weights: pd.DataFrame, *, benchmark: str
) -> pd.DataFrame:
    """Daily returns of the volume-weighted basket and of the benchmark, on common dates.

    ``r_{p,t} = sum_i w_{i,t} r_{i,t}`` with the weights of :func:`volume_weights` held
    on day t (decided at the close of t-1): the basket is re-weighted to the volume
    weights at every close. Pure pandas.

    Parameters
    ----------
    daily_returns : DataFrame of shape (n_dates, n_tickers)
        Simple daily returns, the benchmark as a column.
    volume_weights : DataFrame of shape (n_weight_dates, n_names)
        Output of :func:`volume_weights`.
    benchmark : str
        Benchmark column of ``daily_returns``.

    Returns
    -------
    DataFrame of shape (n_common_dates, 3)
        Index ``date``: the dates with both weights and returns. Columns ``basket`` and
        ``benchmark`` (simple decimal returns of day t) and ``basket_turnover``: the
        re-weighting traded at the close of t, ``sum_i |w_{i,t+1} - w~_{i,t}|`` where
        ``w~_{i,t} = w_{i,t} (1 + r_{i,t}) / (1 + r_{p,t})`` is the weight after day t's
        drift; a fraction of the basket's value, NaN on the last date (next weights
        unknown). These trades are part of the basket's definition and are not costed by
        the hedge backtest.

    Raises
    ------
    DataError
        Benchmark or a basket name missing from the returns, no common dates, or a name
        with a positive weight but no return that day (a delisting or a data gap).
    """
    stage = BASKET_STAGE
    missing = [t for t in [benchmark, *volume_weights.columns] if t not in daily_returns.columns]
    if missing:
        raise DataError(
            stage,
            preview(missing),
            "in the weights (or the benchmark) but not in daily_returns",
            "run volume_weights and daily_returns on the same data",
        )
    dates = volume_weights.index.intersection(daily_returns.index)
    dates = dates[daily_returns.loc[dates, benchmark].notna().to_numpy()]
    if len(dates) == 0:
        raise DataError(
            stage,
            "date",
            "the volume weights and the returns share no date with a benchmark return",
            "run volume_weights and daily_returns on the same data and date range",
        )
    weights = volume_weights.loc[dates]
    returns = daily_returns.loc[dates, list(weights.columns)]
    orphan = (weights > 0) & returns.isna()
    if orphan.any().any():
        where = orphan.stack().loc[lambda s: s].index
        raise DataError(
            stage,
            "daily_returns",
            f"{len(where)} weighted (date, ticker) without a return: "
            + preview(f"{t} {d:%Y-%m-%d}" for d, t in where),
            "fill the price gaps (prices.missing: ffill), end data.end before a delisting, "
            "or drop the ticker from data.tickers",
        )
    contributions = (weights * returns.fillna(0.0)).to_numpy()
    basket = contributions.sum(axis=1)
    drifted = (weights.to_numpy() + contributions) / (1.0 + basket)[:, None]
    turnover = np.full(len(dates), np.nan)
    turnover[:-1] = np.abs(weights.to_numpy()[1:] - drifted[:-1]).sum(axis=1)
    out = pd.DataFrame(
        {
            "basket": basket,
            "benchmark": daily_returns.loc[dates, benchmark].to_numpy(dtype=float),
            "basket_turnover": turnover,
        },
        index=pd.DatetimeIndex(dates, name="date", freq=None),
    )
    return out
