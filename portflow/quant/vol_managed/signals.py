"""The ``vol_signals`` stage: inverse-variance exposures of Moreira & Muir (2017).

Moreira, A. and Muir, T. (2017), "Volatility-Managed Portfolios", Journal of Finance
72(4). The managed portfolio holds, in month t, the exposure

    e_t = min(k / variance_{t-1}, leverage_cap)

to the unmanaged portfolio, where ``variance_{t-1}`` is the realized variance of daily
returns in the *previous* calendar month (known at its close) and ``k`` is a constant.

Timing
------
The signal measured over month t-1 (``signal_date``) is the exposure held through month t
(``month``) and earns month t's return: a weight decided with data up to t-1 earns the
return of t. Previous month means the previous *calendar* month, never the previous row,
so a month missing from ``monthly_variance`` cannot silently shift the signal.

Calibration of k
----------------
``k = 1 / mean(1 / variance_{t-1})`` over the months t of the training window, so that
the mean uncapped exposure over the training window is exactly 1 (one k per signal: one
for the common signal, one per asset for the per-asset signals). k uses the whole
training window, so inside it the exposure's *scale* is in-sample, as in the paper; the
test months use k from the training window and the previous month's variance only.
Without a test window (``train_end=None``) every month is in one period, ``"full"``, and
k is calibrated over all of them: Moreira and Muir's whole-sample evaluation, whose
t-statistics, R-squared and Sharpe ratios do not depend on k.

k is calibrated *before* the leverage cap. The paper calibrates without a cap; keeping
its k makes the cap a pure risk limit on top of the paper's strategy (the same k with or
without the cap, so the two compare month by month), and it keeps k in closed form.
Calibrating after the cap would instead raise the exposure in calm months to make up for
the capped ones, and is infeasible for a cap at or below 1. With a cap, the mean exposure
over the training window is therefore at most 1; ``vol_evaluation`` reports it.

Policies
--------
- A month whose realized variance is NaN (fewer than ``monthly.min_days`` daily returns,
  or no data) or missing from the table: ``missing_variance="error"`` raises a
  :class:`~portflow.errors.DataError`; ``"carry_forward"`` uses the latest earlier
  variance at most :data:`MAX_CARRY_MONTHS` months old, and ``signal_date`` shows which.
- A zero (or negative, or infinite) variance would give an infinite or meaningless
  exposure: always a ``DataError`` (it means stale prices, not a calm market).
- The output covers the months from ``train_start`` to ``test_end`` (or to the month
  after the last variance: the exposure to hold next month). The training window must
  hold at least ``min_months`` months with a signal.

pandas and numpy do the work; nothing here reads data later than ``signal_date``.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

import numpy as np
import pandas as pd

from portflow.errors import DataError, preview

STAGE = "vol_signals"
FULL = "full"
"""The period of every month when there is no test window (``train_end=None``)."""
MAX_CARRY_MONTHS = 3
"""Under ``carry_forward``, the exposure of month t may use a variance measured as early as
month t-1-MAX_CARRY_MONTHS, never earlier."""

COLUMNS = (
    "signal",
    "asset",
    "signal_date",
    "month",
    "period",
    "variance",
    "inverse_variance",
    "k",
    "exposure",
)


def calibrate_k(inverse_variance: pd.Series) -> float:
    """The k that makes the mean of ``k * inverse_variance`` equal to 1.

    Parameters
    ----------
    inverse_variance : Series of shape (n_train_months,)
        ``1 / variance_{t-1}`` for the months t of the training window.

    Returns
    -------
    float
        ``1 / mean(inverse_variance)``, in units of variance (squared daily returns).
    """
    return float(1.0 / inverse_variance.mean())


def managed_exposure(
    inverse_variance: pd.Series, k: float, leverage_cap: float | None
) -> pd.Series:
    """Exposure ``min(k / variance, leverage_cap)`` (dimensionless; 1 = unmanaged)."""
    exposure = k * inverse_variance
    return exposure if leverage_cap is None else exposure.clip(upper=leverage_cap)


def _basket(monthly_variance: pd.DataFrame, market: str, assets) -> list[str]:
    basket = [c for c in monthly_variance.columns if c != market] if assets is None else assets
    missing = [t for t in (market, *basket) if t not in monthly_variance.columns]
    if missing:
        field = "market" if market in missing else "vol_managed.weights"
        raise DataError(
            STAGE,
            field,
            f"{preview(missing)} not in monthly_variance (columns: "
            f"{preview(monthly_variance.columns, limit=25)})",
            "name tickers of the configured data (data.tickers and the benchmark)",
        )
    if not basket:
        raise DataError(
            STAGE,
            "vol_managed.weights",
            "the basket is empty: the data holds only the market",
            "add stocks to data.tickers or name them in vol_managed.weights",
        )
    return list(dict.fromkeys(basket))


def _months(
    variance_months: pd.DatetimeIndex,
    train_start: dt.date,
    train_end: dt.date | None,
    test_end: dt.date | None,
    min_months: int,
) -> tuple[pd.DatetimeIndex, pd.Series]:
    """Months t with a signal date t-1 in the data, cut to the window; and their periods."""
    first = variance_months.min() + pd.offsets.MonthEnd(1)
    last = variance_months.max() + pd.offsets.MonthEnd(1)
    months = pd.date_range(first, last, freq="ME", name="month")
    end = pd.Timestamp(test_end) if test_end is not None else last
    months = months[(months >= pd.Timestamp(train_start)) & (months <= end)]
    if train_end is None:
        labels = np.full(len(months), FULL, dtype=object)
    else:
        labels = np.where(months <= pd.Timestamp(train_end), "train", "test")
    period = pd.Series(labels, index=months, name="period")
    n_train = int((period != "test").sum())
    if n_train < min_months:
        window, span, field = (
            ("the sample", f"{train_start}..{test_end or 'end'}", "train_start/test_end")
            if train_end is None
            else ("the training window", f"{train_start}..{train_end}", "train_start/train_end")
        )
        raise DataError(
            STAGE,
            f"vol_managed.{field}",
            f"{window} {span} holds {n_train} months with a signal (fewest allowed: "
            f"vol_managed.min_months={min_months}); the data gives signals for the months "
            f"{first:%Y-%m}..{last:%Y-%m}",
            f"move {window} inside the data, or widen data.start/data.end",
        )
    return months, period


def _lagged_variance(
    variance: pd.Series, months: pd.DatetimeIndex, missing_variance: str
) -> tuple[pd.Series, pd.Series]:
    """Variance used for each month t and the month-end it was measured (t-1, or older)."""
    calendar = pd.date_range(variance.index.min(), months.max(), freq="ME")
    measured = variance.reindex(calendar)
    dates = pd.Series(calendar.where(measured.notna()), index=calendar)
    if missing_variance == "carry_forward":
        measured = measured.ffill(limit=MAX_CARRY_MONTHS)
        dates = dates.ffill(limit=MAX_CARRY_MONTHS)
    due = months - pd.offsets.MonthEnd(1)
    used = pd.Series(measured.reindex(due).to_numpy(), index=months)
    signal_date = pd.Series(dates.reindex(due).to_numpy(), index=months, dtype="datetime64[ns]")
    return used, signal_date


def _check(used: pd.Series, ticker: str, missing_variance: str) -> None:
    missing = used.index[used.isna()]
    if len(missing):
        carried = (
            f" (carry_forward reaches back at most {MAX_CARRY_MONTHS} months)"
            if missing_variance == "carry_forward"
            else ""
        )
        raise DataError(
            STAGE,
            f"monthly_variance[{ticker}]",
            f"no realized variance for {len(missing)} months, needed for the exposure of "
            f"the next month: "
            + preview(f"{m - pd.offsets.MonthEnd(1):%Y-%m}" for m in missing)
            + f"{carried}; a month has none when it has fewer than monthly.min_days daily "
            "returns or no data",
            "lower monthly.min_days, set vol_managed.missing_variance: carry_forward, or move "
            "vol_managed.train_start/test_end to months with data",
        )
    bad = used.index[~np.isfinite(used) | (used <= 0)]
    if len(bad):
        raise DataError(
            STAGE,
            f"monthly_variance[{ticker}]",
            "zero, negative or infinite realized variance (an infinite exposure) in "
            + preview(f"{m - pd.offsets.MonthEnd(1):%Y-%m}={used[m]}" for m in bad),
            f"check the prices of {ticker} (a constant price all month means stale data), or "
            "leave it out of data.tickers / vol_managed.weights",
        )


def _signal_table(
    kind: str,
    ticker: str,
    variance: pd.Series,
    months: pd.DatetimeIndex,
    period: pd.Series,
    leverage_cap: float | None,
    missing_variance: str,
) -> pd.DataFrame:
    used, signal_date = _lagged_variance(variance, months, missing_variance)
    _check(used, ticker, missing_variance)
    inverse = 1.0 / used
    k = calibrate_k(inverse[period != "test"])
    return pd.DataFrame(
        {
            "signal": kind,
            "asset": ticker,
            "signal_date": signal_date.to_numpy(),
            "month": months,
            "period": period.to_numpy(),
            "variance": used.to_numpy(),
            "inverse_variance": inverse.to_numpy(),
            "k": k,
            "exposure": managed_exposure(inverse, k, leverage_cap).to_numpy(),
        }
    )


def vol_signals(
    monthly_variance: pd.DataFrame,
    *,
    market: str,
    assets: tuple[str, ...] | None = None,
    train_start: dt.date,
    train_end: dt.date | None,
    test_end: dt.date | None = None,
    leverage_cap: float | None = None,
    missing_variance: Literal["error", "carry_forward"] = "error",
    min_months: int = 12,
) -> pd.DataFrame:
    """Common and per-asset inverse-variance signals, their k and the exposures they set.

    Parameters
    ----------
    monthly_variance : DataFrame of shape (n_months, n_tickers)
        Realized variance of daily returns per calendar month (squared daily returns),
        indexed by month-end; the market is one of the columns.
    market : str
        The market's ticker: its variance is the *common* signal, applied to the whole
        basket and to the market itself.
    assets : tuple of str, optional
        The basket, each of which gets a *per-asset* signal from its own variance;
        None = every column but the market.
    train_start, train_end : date
        Training window (inclusive) over which each k is calibrated; ``train_end=None``:
        no test window, every month from ``train_start`` on is in period ``"full"`` and
        calibrates k.
    test_end : date, optional
        Last day of the sample; None = the month after the last variance.
    leverage_cap : float, optional
        Largest exposure; applied after the calibration of k (see the module docstring).
    missing_variance : {"error", "carry_forward"}
        Policy for a month with no realized variance (module docstring).
    min_months : int
        Fewest months the training window must hold.

    Returns
    -------
    DataFrame of shape ((1 + n_assets) * n_months, 9)
        Tidy, one row per (signal, asset, month), columns :data:`COLUMNS`:
        ``signal`` ("common" or "per_asset"), ``asset`` (the ticker whose variance is
        used; the market for "common"), ``signal_date`` (month-end t-1 whose variance
        is used, older when carried forward), ``month`` (month-end t in which the exposure
        is held), ``period`` ("train", "test" or "full", of ``month``), ``variance`` (squared daily
        returns), ``inverse_variance`` (1 / variance), ``k`` (constant per signal, in units
        of variance), ``exposure`` (``min(k * inverse_variance, leverage_cap)``).

    Raises
    ------
    DataError
        Unknown tickers, a training window with fewer than ``min_months`` months, a
        missing variance under the ``error`` policy (or older than the carry limit), a
        zero variance.
    """
    basket = _basket(monthly_variance, market, assets)
    months, period = _months(monthly_variance.index, train_start, train_end, test_end, min_months)
    tables = [
        _signal_table(
            "common",
            market,
            monthly_variance[market],
            months,
            period,
            leverage_cap,
            missing_variance,
        )
    ]
    tables += [
        _signal_table(
            "per_asset",
            ticker,
            monthly_variance[ticker],
            months,
            period,
            leverage_cap,
            missing_variance,
        )
        for ticker in basket
    ]
    return pd.concat(tables, ignore_index=True)[list(COLUMNS)]
