"""Seeded CRSP-like daily stock panels with a known factor structure.

The panel follows the CRSP daily stock file (DSF) as a user's extract has it (README,
"CRSP-style panels"), so the ``files`` source reads it as it reads a real extract:
one row per (permno, trading day) from a stock's first to its last day, columns ``permno``,
``date``, ``siccd``, ``prc``, ``vol``, ``ret``, ``shrout``, ``dlret``.

``n_stocks`` stocks are listed on every session: each of ``n_stocks`` slots holds one stock
at a time, and when it delists a new listing takes its place on the next session (lives
are ``min_life_days`` plus an exponential), so the cross-section has a constant size and
the panel ``n_stocks x n_sessions`` rows, while stocks list, delist and change over time.

Latent model, per stock ``i`` and session ``t``::

    R_it = sum_k loadings[i, k] f_kt + idio_vol[i] e_it          (zero alpha, no risk-free)

with independent normal factors (``f0`` the market) and idiosyncratic shocks. ``R`` is the
total return: a dividend payer's price drops by its quarterly yield on its ex-days, so
``ret`` differs from the price change exactly there, and a split divides ``prc`` and
multiplies ``shrout`` without touching ``ret`` (market cap ``|prc| x shrout`` is continuous).

CRSP conventions reproduced:

- ``ret`` is missing on a new listing's first day (no earlier price); the stocks listed on
  the first session were listed before it and have a return on it.
- Interior gaps: on a gap day the row is present with ``prc``, ``ret`` and ``vol``
  missing. The next return spans the gap (from the last price), unless the gap is longer
  than ``max_gap_days`` (CRSP: 10 trading days), when it is missing.
- No-trade days of illiquid stocks: ``prc`` is minus the bid/ask midpoint, ``vol`` is 0,
  ``ret`` is computed from the midpoint as usual.
- Delisting: a stock whose life ends before the last session is delisted on its last row,
  where ``dlret`` holds the delisting return for most (missing for some, as CRSP often has
  it); the day's total return is ``(1 + ret)(1 + dlret) - 1``.
- ``shrout`` in thousands of shares, updated on discrete dates; ``vol`` in shares; ``siccd``
  per row, changing on one date for a few stocks; ``ret`` and ``dlret`` rounded to 6
  decimals, ``prc`` to 4.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from portflow.quant.industries import FF49

FIRST_PERMNO = 10001
UNASSIGNED_SIC = (9995, 9999)
"""Codes in no 49-industry range (non-operating, nonclassifiable establishments)."""
QUARTER = 63
"""Sessions between dividend ex-days and between share-count updates."""


@dataclass(frozen=True)
class PanelSettings:
    """Rates of the events of a :func:`generate_crsp_panel` draw (defaults: CRSP-like).

    Attributes
    ----------
    mean_life_days : float
        Mean of the exponential part of a listed life, in sessions; a life running past
        the last session is cut there without delisting.
    min_life_days : int
        Shortest listed life.
    delisting_return_share : float
        Share of delistings with a delisting return (the others have it missing).
    gaps_per_year : float
        Mean interior gaps per stock and 252 sessions.
    max_gap_days : int
        Longest gap drawn, and the longest gap a return may span.
    illiquid_share : float
        Share of stocks with no-trade days; each has a no-trade probability in 2-20%.
    dividend_share : float
        Share of dividend payers (quarterly yield 0.25-1%).
    split_share : float
        Share of stocks with one split (factor 1.5, 2 or 3).
    sic_change_share : float
        Share of stocks whose SIC code changes once.
    unassigned_sic_share : float
        Share of SIC codes drawn from :data:`UNASSIGNED_SIC`.
    """

    mean_life_days: float = 3000.0
    min_life_days: int = 21
    delisting_return_share: float = 0.8
    gaps_per_year: float = 0.3
    max_gap_days: int = 10
    illiquid_share: float = 0.1
    dividend_share: float = 0.4
    split_share: float = 0.1
    sic_change_share: float = 0.05
    unassigned_sic_share: float = 0.02


@dataclass(frozen=True, eq=False)
class PanelTruth:
    """The parameters and latent paths behind a :func:`generate_crsp_panel` draw.

    Attributes
    ----------
    factor_returns : DataFrame of shape (n_sessions, n_factors)
        Factor returns (decimal per day), columns ``f0`` (market), ``f1``, ..., by date.
    loadings : DataFrame of shape (n_permnos, n_factors)
        Each stock's factor loadings, indexed by ``permno``.
    idio_vol : Series of shape (n_permnos,)
        Daily idiosyncratic volatility (decimal), indexed by ``permno``.
    listings : DataFrame of shape (n_permnos, 5)
        Indexed by ``permno``: ``first_date``, ``last_date``, ``delisted`` (bool),
        ``dlret`` (NaN if not delisted or missing) and ``dividend_yield`` (quarterly, of
        the previous close, paid on every 63rd session; 0 for non-payers).
    sic_history : DataFrame
        One row per SIC spell: ``permno``, ``start``, ``end`` (inclusive dates), ``siccd``.
    splits : DataFrame
        One row per split: ``permno``, ``date`` (first session at the new scale), ``factor``.
    """

    factor_returns: pd.DataFrame
    loadings: pd.DataFrame
    idio_vol: pd.Series
    listings: pd.DataFrame
    sic_history: pd.DataFrame
    splits: pd.DataFrame


CRSP_COLUMNS = {
    "ticker": "permno",
    "close": "prc",
    "volume": "vol",
    "shares_outstanding": "shrout",
    "sic": "siccd",
}
"""``data.columns`` of the ``files`` source for a panel in this format (``ret`` and
``dlret`` are read under their own names)."""


def nyse_sessions(start: str, end: str) -> pd.DatetimeIndex:
    """The New York Stock Exchange's trading days from ``start`` to ``end`` (inclusive).

    The ``exchange_calendars`` library's ``XNYS`` calendar does the work (holidays and the
    unscheduled closures: 9/11, Hurricane Sandy, national days of mourning).
    """
    import exchange_calendars

    with warnings.catch_warnings():  # exchange_calendars 4.13 on pandas 3.1: Pandas4Warning
        warnings.simplefilter("ignore", DeprecationWarning)
        sessions = exchange_calendars.get_calendar("XNYS", start=start, end=end).sessions
    return pd.DatetimeIndex(sessions.tz_localize(None), name="date").astype("datetime64[ns]")


def generate_crsp_panel(
    *,
    seed: int,
    n_stocks: int,
    sessions: pd.DatetimeIndex,
    n_factors: int = 3,
    settings: PanelSettings = PanelSettings(),
) -> tuple[pd.DataFrame, PanelTruth]:
    """Draw a CRSP-like daily panel from the model of the module docstring.

    Vectorized over the (n_stocks, n_sessions) grid of listing slots and sessions; the
    same arguments give identical output.

    Parameters
    ----------
    seed : int
        Seed of ``numpy.random.default_rng``.
    n_stocks : int
        Stocks listed on every session (the cross-section); permnos ``10001``, ``10002``,
        ... number every stock that ever lists, slot by slot.
    sessions : DatetimeIndex
        Trading days, sorted and unique, e.g. :func:`nyse_sessions` or ``pd.bdate_range``.
    n_factors : int
        Number of factors, the market first.
    settings : PanelSettings
        Rates of delistings, gaps, splits and the rest.

    Returns
    -------
    panel : DataFrame of shape (n_stocks * n_sessions, 8)
        Rows sorted by (``permno``, ``date``); columns ``permno`` (int64), ``date``
        (datetime64[ns]), ``siccd`` (int16), ``prc`` (float64, negative for a bid/ask
        midpoint, NaN on gaps), ``vol`` (Int64 shares, NA on gaps), ``ret`` (float64),
        ``shrout`` (int64, thousands of shares), ``dlret`` (float64, NaN but on delisting
        days).
    truth : PanelTruth
        Factor returns, loadings, listing and delisting dates, SIC history and splits.
    """
    rng = np.random.default_rng(seed)
    s = settings
    n_days = len(sessions)
    day = np.arange(n_days, dtype=np.int32)
    slot, first, last, delisted = _listings(rng, n_stocks, n_days, s)
    m = first.size
    permnos = np.arange(FIRST_PERMNO, FIRST_PERMNO + m, dtype=np.int64)
    owner = np.repeat(np.arange(m, dtype=np.int32), last - first + 1).reshape(n_stocks, n_days)

    def of_owner(values: np.ndarray) -> np.ndarray:
        """A per-stock value at every cell of the grid."""
        return values[owner]

    def since_listing(cumulative: np.ndarray) -> np.ndarray:
        """A cumulative sum along each slot restarted at each stock's first session."""
        base = cumulative[slot, np.maximum(first - 1, 0)] * (first > 0)
        return cumulative - of_owner(base)

    factor_mean = np.where(np.arange(n_factors) == 0, 0.0003, 0.0001)
    factor_vol = np.where(np.arange(n_factors) == 0, 0.010, 0.005)
    factors = factor_mean + factor_vol * rng.standard_normal((n_days, n_factors))
    loadings = np.column_stack([rng.uniform(0.5, 1.5, m), rng.normal(0.0, 0.5, (m, n_factors - 1))])
    idio_vol = rng.uniform(0.01, 0.03, m)
    total = rng.standard_normal((n_stocks, n_days))
    total *= of_owner(idio_vol)
    for k in range(n_factors):
        total += of_owner(loadings[:, k]) * factors[:, k]

    gap = np.zeros((n_stocks, n_days), dtype=bool)
    gap[_gaps(rng, slot, first, last, s)] = True
    first_day = of_owner(first)

    # ret: compounded total return since the last observed session (CRSP's last price).
    log_wealth = np.cumsum(np.log1p(total), axis=1)
    seen = np.maximum.accumulate(np.where(gap, -1, day), axis=1)
    previous = np.empty_like(seen)
    previous[:, 0] = -1
    previous[:, 1:] = seen[:, :-1]
    ret = np.expm1(log_wealth - np.take_along_axis(log_wealth, np.maximum(previous, 0), 1))
    ret[:, 0] = total[:, 0]  # the first stocks of the slots were listed before the sample
    spans = ((previous >= first_day) & (day - previous - 1 <= s.max_gap_days)) | (day == 0)
    ret[gap | ~spans] = np.nan
    ret = np.round(ret, 6)
    del seen, previous, spans, first_day

    # Prices: total return less dividends on ex-days, divided by the cumulative split factor.
    quarterly_yield = np.where(rng.random(m) < s.dividend_share, rng.uniform(0.0025, 0.01, m), 0.0)
    ex_day = (day - of_owner(rng.integers(0, QUARTER, m))) % QUARTER == 0
    log_wealth += np.cumsum(
        np.where(ex_day, np.log1p(-of_owner(quarterly_yield) / (1.0 + total)), 0.0), axis=1
    )
    del ex_day, total
    split_day, split_factor = _splits(rng, first, last, s)
    scale = np.where(day >= of_owner(split_day), of_owner(split_factor), 1.0)
    price = np.exp(of_owner(rng.normal(np.log(25.0), 0.8, m)) + since_listing(log_wealth))
    price /= scale
    del log_wealth

    update = (day - of_owner(rng.integers(0, QUARTER, m))) % QUARTER == 0
    growth = np.zeros((n_stocks, n_days))
    growth[update] = rng.normal(0.005, 0.02, int(update.sum()))
    shares = np.exp(
        of_owner(rng.normal(np.log(50_000.0), 1.2, m)) + since_listing(np.cumsum(growth, 1))
    )
    shrout = np.maximum(np.round(shares * scale), 1.0).astype(np.int64)  # thousands
    del update, growth, shares, scale

    turnover = of_owner(rng.lognormal(np.log(0.004), 0.7, m))
    volume = np.round(shrout * (1000.0 * turnover) * rng.lognormal(-0.125, 0.5, turnover.shape))
    no_trade_rate = np.where(rng.random(m) < s.illiquid_share, rng.uniform(0.02, 0.2, m), 0.0)
    no_trade = rng.random(volume.shape) < of_owner(no_trade_rate)
    volume[no_trade] = 0.0
    price = np.round(np.where(no_trade, -price, price), 4)
    price[gap] = np.nan
    del turnover, no_trade

    sic, sic_history = _sic(rng, slot, first, last, sessions, permnos, s)
    dlret = np.where(
        rng.random(m) < 0.5,
        np.maximum(rng.normal(-0.3, 0.15, m), -1.0),  # performance delisting
        rng.normal(0.15, 0.1, m),  # merger premium
    )
    reported = delisted & (rng.random(m) < s.delisting_return_share)
    dlret = np.round(np.where(reported, dlret, np.nan), 6)
    dlret_column = np.full(n_stocks * n_days, np.nan)
    dlret_column[slot * n_days + last] = dlret  # each stock's last row

    panel = pd.DataFrame(
        {
            "permno": FIRST_PERMNO + owner.ravel().astype(np.int64),
            "date": np.tile(sessions.values.astype("datetime64[ns]"), n_stocks),
            "siccd": sic.ravel(),
            "prc": price.ravel(),
            "vol": pd.arrays.IntegerArray(volume.ravel().astype(np.int64), gap.ravel()),
            "ret": ret.ravel(),
            "shrout": shrout.ravel(),
            "dlret": dlret_column,
        },
        copy=False,
    )
    index = pd.Index(permnos, name="permno")
    columns = [f"f{k}" for k in range(n_factors)]
    has_split = split_day < n_days
    truth = PanelTruth(
        factor_returns=pd.DataFrame(factors, index=sessions.rename("date"), columns=columns),
        loadings=pd.DataFrame(loadings, index=index, columns=columns),
        idio_vol=pd.Series(idio_vol, index=index, name="idio_vol"),
        listings=pd.DataFrame(
            {
                "first_date": sessions[first],
                "last_date": sessions[last],
                "delisted": delisted,
                "dlret": dlret,
                "dividend_yield": quarterly_yield,
            },
            index=index,
        ),
        sic_history=sic_history,
        splits=pd.DataFrame(
            {
                "permno": permnos[has_split],
                "date": sessions[split_day[has_split]],
                "factor": split_factor[has_split],
            }
        ),
    )
    return panel, truth


def _listings(
    rng: np.random.Generator, n_slots: int, n_days: int, s: PanelSettings
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Slot, first and last session, and delisting flag of every stock, slot by slot.

    Each slot's lives tile the sessions: a life ends on its last session and the next
    begins on the following one. Enough lives are drawn per slot that the sessions are
    covered; should they not be, the slot's last life runs to the end.
    """
    per_slot = int(np.ceil(4 * n_days / (s.mean_life_days + s.min_life_days))) + 2
    lives = s.min_life_days + np.floor(rng.exponential(s.mean_life_days, (n_slots, per_slot)))
    ends = np.cumsum(lives.astype(np.int64), axis=1) - 1
    ends[:, -1] = np.maximum(ends[:, -1], n_days - 1)
    starts = np.column_stack([np.zeros(n_slots, dtype=np.int64), ends[:, :-1] + 1])
    listed = starts < n_days
    slot = np.broadcast_to(np.arange(n_slots)[:, None], starts.shape)[listed]
    return slot, starts[listed], np.minimum(ends[listed], n_days - 1), ends[listed] < n_days - 1


def _gaps(
    rng: np.random.Generator,
    slot: np.ndarray,
    first: np.ndarray,
    last: np.ndarray,
    s: PanelSettings,
) -> tuple[np.ndarray, np.ndarray]:
    """Grid cells (slot, session) of interior gaps: runs of 1..max_gap_days sessions that
    never touch a stock's first or last session (runs may meet and form longer gaps)."""
    count = rng.poisson(s.gaps_per_year * (last - first + 1) / 252)
    owner = np.repeat(np.arange(first.size), count)
    length = rng.integers(1, s.max_gap_days + 1, owner.size)
    room = last[owner] - first[owner] - length  # starts first+1 .. last-length
    owner, length, room = owner[room >= 1], length[room >= 1], room[room >= 1]
    start = first[owner] + 1 + (rng.random(owner.size) * room).astype(np.int64)
    offset = np.arange(length.sum()) - np.repeat(np.cumsum(length) - length, length)
    return np.repeat(slot[owner], length), np.repeat(start, length) + offset


def _splits(
    rng: np.random.Generator, first: np.ndarray, last: np.ndarray, s: PanelSettings
) -> tuple[np.ndarray, np.ndarray]:
    """Split session of each stock (past every session if none) and its factor."""
    splits = (rng.random(first.size) < s.split_share) & (last > first)
    day = first + 1 + (rng.random(first.size) * np.maximum(last - first, 1)).astype(np.int64)
    factor = rng.choice([1.5, 2.0, 3.0], first.size)
    return np.where(splits, day, np.iinfo(np.int32).max), np.where(splits, factor, 1.0)


def _sic(
    rng: np.random.Generator,
    slot: np.ndarray,
    first: np.ndarray,
    last: np.ndarray,
    sessions: pd.DatetimeIndex,
    permnos: np.ndarray,
    s: PanelSettings,
) -> tuple[np.ndarray, pd.DataFrame]:
    """SIC code of each grid cell (slot, session) and the spells behind it.

    Codes are drawn industry first (uniform over the 49) then code (uniform over the
    industry's codes), or from :data:`UNASSIGNED_SIC`; a few stocks change code once.
    """
    codes = [np.concatenate([np.arange(lo, hi + 1) for lo, hi in i.ranges]) for i in FF49]
    counts = np.array([c.size for c in codes])
    pool = np.concatenate(codes)
    offsets = np.cumsum(counts) - counts

    def draw(size: int) -> np.ndarray:
        industry = rng.integers(0, len(codes), size)
        assigned = pool[offsets[industry] + (rng.random(size) * counts[industry]).astype(int)]
        unassigned = rng.choice(UNASSIGNED_SIC, size)
        return np.where(rng.random(size) < s.unassigned_sic_share, unassigned, assigned)

    m = first.size
    before, after = draw(m).astype(np.int16), draw(m).astype(np.int16)
    changes = (rng.random(m) < s.sic_change_share) & (last > first)
    change = np.where(changes, first + 1 + (rng.random(m) * (last - first)).astype(int), last + 1)
    # Along a slot: the code of the stock listed, switched at its change and at the next listing.
    sic = np.empty((slot.max() + 1, len(sessions)), dtype=np.int16)
    lengths = np.column_stack([change - first, last + 1 - change]).ravel()
    sic.ravel()[:] = np.repeat(np.column_stack([before, after]).ravel(), lengths)
    spells = pd.DataFrame(
        {
            "permno": np.concatenate([permnos, permnos[changes]]),
            "start": sessions[np.concatenate([first, change[changes]])],
            "end": sessions[np.concatenate([np.where(changes, change - 1, last), last[changes]])],
            "siccd": np.concatenate([before, after[changes]]),
        }
    )
    return sic, spells.sort_values(["permno", "start"], ignore_index=True)


def monthly_factors(truth: PanelTruth) -> pd.DataFrame:
    """The draw's factor returns compounded per calendar month, as a factor file holds them.

    Returns
    -------
    DataFrame
        Columns ``date`` (month-end) and ``f0``, ``f1``, ...: decimal returns per month, the
        excess returns of the model (it has no risk-free rate). Partial first and last
        months are included as drawn.
    """
    factors = truth.factor_returns
    months = (factors.index + pd.offsets.MonthEnd(0)).rename("date")
    return ((1.0 + factors).groupby(months).prod() - 1.0).reset_index()


def main(argv: list[str] | None = None) -> None:
    """Write a panel: ``python -m portflow.sources.crsp_panel OUT [--n-stocks N] ...``."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("out", help="output file, .parquet (recommended) or .csv")
    parser.add_argument("--n-stocks", type=int, default=1000, help="stocks listed every day")
    parser.add_argument("--start", default="1998-12-01", help="first day (NYSE calendar)")
    parser.add_argument("--end", default="2018-11-30", help="last day")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--factors", help="also write the true factors per month to this CSV (decimal)"
    )
    args = parser.parse_args(argv)
    panel, truth = generate_crsp_panel(
        seed=args.seed, n_stocks=args.n_stocks, sessions=nyse_sessions(args.start, args.end)
    )
    if args.out.endswith(".csv"):
        panel.to_csv(args.out, index=False)
    else:
        panel.to_parquet(args.out, index=False)
    if args.factors:
        monthly_factors(truth).to_csv(args.factors, index=False)


if __name__ == "__main__":
    main()
