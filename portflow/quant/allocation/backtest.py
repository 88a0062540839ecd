"""Allocation backtester: rebalance schedule, drift, turnover, trading costs and metrics.

Timing (the one convention everything below follows)
----------------------------------------------------
Day ``t`` of ``returns`` is the close-to-close return from ``t - 1`` to ``t``.

1. At a rebalance date ``t`` the allocator is called with the ``window`` daily returns
   ending at ``t`` *inclusive* (``returns.iloc[t - window + 1 : t + 1]``) and nothing else.
2. The portfolio trades at the close of ``t`` from its *drifted* weights ``d_t`` (the weights
   held since the last trade, grown by the returns up to ``t``) to the target ``w_t``:
   traded weight ``w_t - d_t``.
3. The target is *held* from the close of ``t`` and earns the return of ``t + 1``:
   ``gross_{t+1} = h_t . r_{t+1}`` where ``h_t`` is the held weight (``w_t`` on a rebalance
   date, ``d_t`` otherwise). Between rebalances weights drift:
   ``d_{t+1} = h_t * (1 + r_{t+1}) / (1 + gross_{t+1})``, with any ``1 - sum(h_t)`` held
   as cash at zero return.
4. Trading costs are a fraction of the portfolio's value at the close of ``t`` and are paid
   that day: ``cost_t = proportional_cost * sum|w_t - d_t| + fixed_cost * #{i : w_t,i != d_t,i}``
   (the fixed cost is per traded asset, in return units) and
   ``net_t = (1 + gross_t) * (1 - cost_t) - 1``. Costs are taken pro rata, so the weights
   after the trade are exactly the targets and the drift does not depend on costs.

The backtest starts in cash at the first rebalance date ``t0`` (``d_t0 = 0``, ``gross_t0 = 0``,
and the initial purchase is a trade of turnover ``sum(w_t0)`` that pays costs). The schedule
never includes the last date (a trade there would earn nothing). Whether a date is the last
trading day of its week or month is read from the calendar, which is known in advance.

Vectorized where it can be: the allocator is called once per rebalance date (it must be,
it decides on the data of that date), while drift, turnover, costs and returns are whole-array
numpy operations, the drift a cumulative product per holding period.

Stages (each returns one DataFrame)
-----------------------------------
``allocation_targets`` (target weights per rebalance date and allocator) ->
``allocation_weights`` (daily drifted / target / held weights) -> ``backtest_returns`` (daily
gross, turnover, cost, net per allocator) -> ``backtest_metrics`` (one row per allocator) ->
``backtest_seed_summary`` (mean and std over the seeds of each strategy). The LSTM's own
stages, ``lstm_model`` and ``lstm_latest_weights``, are in ``portflow.quant.allocation.lstm``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from portflow.errors import DataError, preview
from portflow.quant.allocation.allocators import (
    TRADING_DAYS,
    Allocator,
    EqualWeight,
    FixedWeights,
    InverseVolatility,
    MeanVariance,
    investable_returns,
)
from portflow.quant.allocation.lstm import OnEpoch, WalkForwardLSTM, fit_concurrently
from portflow.quant.metrics import performance_table

TRADE_TOLERANCE = 1e-12
"""A weight change smaller than this (float noise) is not a trade for the fixed cost."""

Rebalance = Literal["every_n_days", "weekly", "monthly", "calendar", "never"]
RebalanceDay = Literal["last", "first"]

_VIX_NOTE = (
    "is the CBOE Volatility Index, an index, not investable: its returns are changes of the "
    "index level, which no fund earns (VIX futures and ETPs such as VXX lose heavily to the "
    "futures roll), so results holding it are not achievable; it is kept only to reproduce "
    "the original research (VTI, AGG, DBC, ^VIX)"
)

NOT_INVESTABLE: dict[str, str] = {
    "^VIX": f"^VIX {_VIX_NOTE}",
    "VIX": f"VIX (sample multi_asset) {_VIX_NOTE}",
    "WTI": (
        "WTI (sample multi_asset) is the West Texas Intermediate spot price, not directly "
        "investable: commodity funds hold futures, whose returns differ from spot by the roll"
    ),
}
"""Tickers that are not investable, with the note printed next to any result holding them:
``backtest_metrics`` puts it in its ``note`` column. Any other Yahoo index symbol (``^``
prefix) gets a generic note from :func:`investability_notes`."""


def investability_notes(tickers: Sequence[str]) -> dict[str, str]:
    """The note of each non-investable ticker among ``tickers`` (empty when all are assets)."""
    notes = {}
    for ticker in tickers:
        if ticker in NOT_INVESTABLE:
            notes[ticker] = NOT_INVESTABLE[ticker]
        elif ticker.startswith("^"):
            notes[ticker] = f"{ticker} is a Yahoo Finance index symbol, an index, not investable"
    return notes


# -- schedule ----------------------------------------------------------------------------
def rebalance_schedule(
    index: pd.DatetimeIndex,
    *,
    rebalance: Rebalance,
    every: int = 21,
    dates: Sequence[Any] = (),
    first: int = 0,
    day: RebalanceDay = "last",
    stage: str = "allocation_targets",
) -> pd.DatetimeIndex:
    """Rebalance dates among ``index[first:-1]``.

    Parameters
    ----------
    index : DatetimeIndex
        Trading days, sorted.
    rebalance : {"every_n_days", "weekly", "monthly", "calendar", "never"}
        ``every_n_days``: ``index[first]`` then every ``every`` trading days; ``weekly`` /
        ``monthly``: the last (or, with ``day="first"``, the first) trading day of each
        calendar week / month; ``calendar``:
        each of ``dates`` moved to the first trading day on or after it; ``never``:
        ``index[first]`` only (buy and hold).
    first : int
        Position of the first date with a full estimation window.
    day : {"last", "first"}
        Which trading day of the week or month a ``weekly`` / ``monthly`` rebalance uses.
        The trading days are those of ``index`` (the data's calendar).

    Returns
    -------
    DatetimeIndex
        Sorted, unique, never the last date of ``index`` (nothing would be earned).
    """
    last = len(index) - 1
    if first >= last:
        raise DataError(
            stage,
            "allocation.estimation_window",
            f"the allocators need {first + 1} days of returns before the first rebalance "
            f"and one after it, but the data has {len(index)}",
            "shorten the estimation windows or load more data",
        )
    eligible = index[first:last]
    if rebalance == "every_n_days":
        chosen = eligible[::every]
    elif rebalance == "never":
        chosen = eligible[:1]
    elif rebalance in ("weekly", "monthly"):
        period = index.to_period("W" if rebalance == "weekly" else "M")
        days = pd.Series(index, index=index).groupby(period)
        picked = days.max() if day == "last" else days.min()
        chosen = pd.DatetimeIndex(picked.to_numpy()).intersection(eligible)
    elif rebalance == "calendar":
        requested = pd.DatetimeIndex(pd.to_datetime(list(dates))).sort_values()
        positions = index.searchsorted(requested, side="left")
        late = requested[positions >= last]
        early = requested[positions < first]
        if len(late) or len(early):
            bad = late if len(late) else early
            where = (
                f"on or after the last trading day {index[last]:%Y-%m-%d}"
                if len(late)
                else f"before {index[first]:%Y-%m-%d}, the first date with a full window"
            )
            raise DataError(
                stage,
                "allocation.rebalance_dates",
                f"{preview([f'{d:%Y-%m-%d}' for d in bad])} fall {where}",
                f"use dates from {index[first]:%Y-%m-%d} to before {index[last]:%Y-%m-%d}",
            )
        chosen = index[np.unique(positions)]
    else:
        raise DataError(stage, "allocation.rebalance", f"unknown {rebalance!r}", "see the schema")
    if chosen.empty:
        raise DataError(
            stage,
            "allocation.rebalance",
            f"no {rebalance} rebalance date between {eligible[0]:%Y-%m-%d} and "
            f"{eligible[-1]:%Y-%m-%d}",
            "load more data or shorten the estimation window",
        )
    return pd.DatetimeIndex(chosen, name="date")


# -- the allocator at each rebalance date ----------------------------------------------------
def target_weights(
    returns: pd.DataFrame, allocator: Allocator, *, window: int, dates: pd.DatetimeIndex
) -> pd.DataFrame:
    """Call ``allocator`` at each rebalance date with the past ``window`` returns only.

    Parameters
    ----------
    returns : DataFrame of shape (n_days, n_assets)
        Daily returns without NaN.
    allocator : Allocator
        ``allocator(past_returns) -> weights``.
    window : int
        Rows passed: the ``window`` days ending at the rebalance date, inclusive.
    dates : DatetimeIndex of shape (n_rebalances,)
        Rebalance dates in ``returns.index``, each with ``window`` rows up to it.

    Returns
    -------
    DataFrame of shape (n_rebalances, n_assets)
        Target weights decided at each date (held from its close, earning from ``t + 1``).
    """
    positions = returns.index.get_indexer(dates)
    if (positions < window - 1).any():
        raise ValueError(f"a rebalance date has fewer than window={window} days up to it")
    rows = []
    for date, position in zip(dates, positions, strict=True):
        past = returns.iloc[position - window + 1 : position + 1]
        weights = allocator(past)
        weights = pd.Series(weights, dtype=float).reindex(returns.columns)
        if not np.isfinite(weights.to_numpy()).all():
            raise DataError(
                "allocation_targets",
                "allocation.allocators",
                f"the allocator gave non-finite weights on {date:%Y-%m-%d}: "
                f"{weights.round(4).to_dict()}",
                "check its settings and the window's data",
            )
        rows.append(weights.to_numpy())
    return pd.DataFrame(np.vstack(rows), index=dates, columns=returns.columns)


# -- drift, turnover, costs ------------------------------------------------------------------
def _drift(returns: np.ndarray, starts: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Drifted weights (n_days, n_assets) from returns, rebalance rows and their targets."""
    n_days = len(returns)
    lengths = np.diff([*starts, n_days - 1])  # days held after each rebalance
    values = returns + 1.0  # becomes the value of each holding, then the drifted weights
    long = np.flatnonzero(lengths > 1)
    for k in long:
        block = values[starts[k] + 1 : starts[k] + 1 + lengths[k]]
        np.multiply.accumulate(block, axis=0, out=block)
        block *= targets[k]
    short = np.flatnonzero(lengths == 1)
    values[starts[short] + 1] *= targets[short]
    period = np.repeat(np.arange(len(starts)), lengths)  # holding period of days 1..n-1
    cash = 1.0 - targets.sum(axis=1)
    values[1:] /= (cash[period] + values[1:].sum(axis=1))[:, None]
    values[0] = 0.0  # in cash before the first trade
    return values


def drift_weights(
    returns: pd.DataFrame, targets: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Drifted and held weights from the first rebalance date to the end (vectorized).

    In holding period ``k`` (after the close of rebalance date ``t_k`` up to the close of
    ``t_{k+1}``) the value of asset ``i`` is ``w_k,i * prod_{u in (t_k, s]} (1 + r_u,i)``
    and cash is ``1 - sum(w_k)``; the drifted weight is its share of the total. One
    cumulative product per holding period longer than a day, the rest whole-array.

    Parameters
    ----------
    returns : DataFrame of shape (n_days, n_assets)
        Daily returns, no NaN from ``targets.index[0]`` on.
    targets : DataFrame of shape (n_rebalances, n_assets)
        Target weights on rebalance dates (a sorted subset of ``returns.index``), same columns.

    Returns
    -------
    drifted, held : DataFrame of shape (n_days_from_t0, n_assets)
        ``drifted``: weights at each close before any trade (0 = cash on ``t0``); ``held``:
        the weights after it (the target on rebalance dates, else the drifted weights),
        which earn the next day's return.
    """
    frame = _aligned(returns.loc[targets.index[0] :], targets.columns)
    starts = frame.index.get_indexer(targets.index)
    if (starts < 0).any() or (np.diff(starts) <= 0).any():
        raise ValueError("targets.index must be sorted, unique dates of returns.index")
    targets_array = targets.to_numpy(dtype=float)
    drifted = _drift(frame.to_numpy(dtype=float), starts, targets_array)
    held = drifted.copy()
    held[starts] = targets_array
    return (
        pd.DataFrame(drifted, index=frame.index, columns=frame.columns, copy=False),
        pd.DataFrame(held, index=frame.index, columns=frame.columns, copy=False),
    )


def _aligned(frame: pd.DataFrame, columns: pd.Index, index: pd.Index | None = None):
    """``frame`` restricted to ``index`` and ``columns``, without a copy when it already is."""
    if index is not None and not frame.index.equals(index):
        frame = frame.reindex(index=index)
    if not frame.columns.equals(columns):
        frame = frame.reindex(columns=columns)
    return frame


def portfolio_returns(
    returns: pd.DataFrame,
    drifted: pd.DataFrame,
    held: pd.DataFrame,
    *,
    proportional_cost: float = 0.0,
    fixed_cost: float = 0.0,
) -> pd.DataFrame:
    """Daily gross return, turnover, trades, cost and net return of a weight path.

    Parameters
    ----------
    returns : DataFrame of shape (n_days, n_assets)
        Daily returns covering ``held.index``.
    drifted, held : DataFrame of shape (n_days_from_t0, n_assets)
        Output of :func:`drift_weights`.
    proportional_cost : float
        Cost per unit of traded weight.
    fixed_cost : float
        Cost per traded asset, a fraction of portfolio value.

    Returns
    -------
    DataFrame of shape (n_days_from_t0, 5)
        ``gross`` (``held_{t-1} . r_t``; 0 on ``t0``, in cash), ``turnover``
        (``sum|held_t - drifted_t|``), ``trades`` (assets traded), ``cost`` and
        ``net = (1 + gross) * (1 - cost) - 1``, indexed by date.
    """
    day_returns = _aligned(returns.loc[held.index[0] :], held.columns, held.index).to_numpy(
        dtype=float
    )
    held_array = held.to_numpy(dtype=float)
    drifted_array = drifted.to_numpy(dtype=float)
    gross = np.zeros(len(held))
    gross[1:] = np.einsum("ij,ij->i", held_array[:-1], day_returns[1:])
    turnover = np.zeros(len(held))
    trades = np.zeros(len(held), dtype=int)
    rows = np.flatnonzero((held_array != drifted_array).any(axis=1))  # the rebalance dates
    traded = np.abs(held_array[rows] - drifted_array[rows])
    turnover[rows] = traded.sum(axis=1)
    trades[rows] = (traded > TRADE_TOLERANCE).sum(axis=1)
    cost = proportional_cost * turnover + fixed_cost * trades
    net = gross - cost * (1.0 + gross)  # = (1 + gross)(1 - cost) - 1, exact when cost = 0
    frame = pd.DataFrame(
        {"gross": gross, "turnover": turnover, "trades": trades, "cost": cost, "net": net},
        index=held.index,
    )
    frame.index.name = "date"
    return frame


@dataclass(frozen=True)
class BacktestResult:
    """Everything one backtest produces (wide frames, dates as index).

    Attributes
    ----------
    targets : DataFrame of shape (n_rebalances, n_assets)
    drifted, held : DataFrame of shape (n_days_from_t0, n_assets)
    returns : DataFrame of shape (n_days_from_t0, 5)
        ``gross``, ``turnover``, ``trades``, ``cost``, ``net``.
    """

    targets: pd.DataFrame
    drifted: pd.DataFrame
    held: pd.DataFrame
    returns: pd.DataFrame

    def metrics(self, risk_free: pd.Series | float = 0.0) -> pd.Series:
        """Performance of the net returns (see :func:`performance_metrics`)."""
        return performance_metrics(self.returns, risk_free)


def simulate(
    returns: pd.DataFrame,
    targets: pd.DataFrame,
    *,
    proportional_cost: float = 0.0,
    fixed_cost: float = 0.0,
) -> BacktestResult:
    """Backtest given target weights: drift, then turnover, costs and returns."""
    drifted, held = drift_weights(returns, targets)
    daily = portfolio_returns(
        returns, drifted, held, proportional_cost=proportional_cost, fixed_cost=fixed_cost
    )
    return BacktestResult(targets, drifted, held, daily)


def backtest(
    returns: pd.DataFrame,
    allocator: Allocator,
    *,
    estimation_window: int,
    rebalance: Rebalance = "monthly",
    rebalance_every: int = 21,
    rebalance_dates: Sequence[Any] = (),
    rebalance_day: RebalanceDay = "last",
    proportional_cost: float = 0.0,
    fixed_cost: float = 0.0,
) -> BacktestResult:
    """Backtest one allocator on a returns panel (the in-memory API; stages use the same parts).

    Parameters
    ----------
    returns : DataFrame of shape (n_days, n_assets)
        Simple daily returns without NaN (see :func:`investable_returns`).
    allocator : Allocator
        Called at each rebalance date with the ``estimation_window`` returns up to it.
    estimation_window : int
        Rows of past returns the allocator sees; the first rebalance is the first scheduled
        date with that many rows up to it.
    rebalance, rebalance_every, rebalance_dates, rebalance_day
        The schedule (see :func:`rebalance_schedule`).
    proportional_cost, fixed_cost
        The cost model (see the module docstring).
    """
    dates = rebalance_schedule(
        returns.index,
        rebalance=rebalance,
        every=rebalance_every,
        dates=rebalance_dates,
        first=estimation_window - 1,
        day=rebalance_day,
    )
    targets = target_weights(returns, allocator, window=estimation_window, dates=dates)
    return simulate(returns, targets, proportional_cost=proportional_cost, fixed_cost=fixed_cost)


def performance_metrics(daily: pd.DataFrame, risk_free: pd.Series | float = 0.0) -> pd.Series:
    """Metrics of one backtest's daily table (output of :func:`portfolio_returns`).

    The metrics of ``portflow.quant.metrics`` on the net returns (daily, 252 a year), plus
    ``gross_ann_return`` and ``gross_sharpe``; ``ann_turnover``: the turnover of the
    rebalances after the initial purchase per year, two-way (``sum |held - drifted|``,
    buys plus sells), and ``ann_turnover_one_way``, half of it (the fraction of the
    portfolio replaced); ``ann_cost``: all costs paid per year (initial purchase
    included, as in the net returns); ``n_rebalances``.
    """
    table = performance_table(daily[["net", "gross"]], risk_free, TRADING_DAYS)
    years = len(daily) / TRADING_DAYS
    row = table.loc["net"].copy()
    row["gross_ann_return"] = table.loc["gross", "ann_return"]
    row["gross_sharpe"] = table.loc["gross", "sharpe"]
    row["ann_turnover"] = daily["turnover"].iloc[1:].sum() / years
    row["ann_turnover_one_way"] = row["ann_turnover"] / 2.0
    row["ann_cost"] = daily["cost"].sum() / years
    row["n_rebalances"] = int((daily["turnover"] > 0).sum())
    return row


# -- allocator kinds -------------------------------------------------------------------------
ALLOCATORS: dict[str, Callable[..., Allocator]] = {
    "fixed": FixedWeights,
    "equal_weight": EqualWeight,
    "inverse_volatility": InverseVolatility,
    "mean_variance": MeanVariance,
    "lstm": WalkForwardLSTM,
}
"""Registry: config ``kind`` -> allocator class, built with the config's own fields (all but
``kind``, ``name``, ``window`` and ``seeds``; a seeded kind gets ``seed``). The keys are those
of ``portflow.config.allocation.ALLOCATOR_CONFIGS``."""


def make_allocator(kind: str, settings: Mapping[str, Any]) -> Allocator:
    """A fresh allocator of ``kind`` built with ``settings``."""
    if kind not in ALLOCATORS:
        raise DataError(
            "allocation_targets",
            "allocation.allocators.kind",
            f"unknown kind {kind!r}",
            f"use one of {', '.join(ALLOCATORS)}",
        )
    return ALLOCATORS[kind](**settings)


# -- stages ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Run:
    allocator: str
    strategy: str
    seed: int | None
    window: int
    rule: Allocator


def _settings(spec: Any) -> dict[str, Any]:
    """A config model or a mapping as a plain dict."""
    return dict(spec.model_dump()) if hasattr(spec, "model_dump") else dict(spec)


def _runs(allocators: Sequence[Any], estimation_window: int) -> list[_Run]:
    """One run per allocator spec, or one per seed for a seeded kind (``lstm[seed=0]``…)."""
    runs = []
    for spec in allocators:
        settings = _settings(spec)
        kind = settings.pop("kind")
        name = settings.pop("name", kind)
        window = settings.pop("window", None) or estimation_window
        seeds = settings.pop("seeds", None)
        for seed in [None] if seeds is None else seeds:
            extra = {} if seed is None else {"seed": seed}
            label = name if seed is None else f"{name}[seed={seed}]"
            runs.append(_Run(label, name, seed, window, make_allocator(kind, settings | extra)))
    return runs


def _in_allocator(run: _Run, error: DataError) -> DataError:
    """``error`` of one allocator, named after its config entry."""
    return DataError(
        "allocation_targets",
        f"allocation.allocators[{run.strategy}].{error.field}",
        error.problem,
        error.fix,
    )


def _train_lstms_ahead(
    returns: pd.DataFrame,
    runs: Sequence[_Run],
    dates: pd.DatetimeIndex,
    *,
    workers: int,
    on_epoch: OnEpoch | None,
) -> None:
    """Train every model the walk-forward LSTMs of ``runs`` will use, concurrently.

    The trainings are independent (each from its seed, on the window ending at its
    training date), so they run ``workers`` at a time before the backtests walk forward;
    each allocator then uses its models exactly where it would have trained them.
    """
    planned = [
        (run, date)
        for run in runs
        if isinstance(run.rule, WalkForwardLSTM)
        for date in run.rule.training_dates(dates)
    ]
    if not planned:
        return
    jobs = []
    for run, date in planned:
        end = returns.index.get_loc(date)
        job = (run.rule.new_model(), returns.iloc[end - run.window + 1 : end + 1])
        try:
            job[0].check_training_window(job[1])  # fail before any training starts
        except DataError as error:
            raise _in_allocator(run, error) from error
        jobs.append(job)
    models = fit_concurrently(jobs, workers=workers, on_epoch=on_epoch)
    for (run, date), model in zip(planned, models, strict=True):
        run.rule.use_trained(date, model)


def allocation_targets(
    daily_returns: pd.DataFrame,
    *,
    allocators: Sequence[Any],
    tickers: Sequence[str] | None = None,
    estimation_window: int = 252,
    rebalance: Rebalance = "monthly",
    rebalance_every: int = 21,
    rebalance_dates: Sequence[Any] = (),
    rebalance_day: RebalanceDay = "last",
    benchmark: str | None = None,
    workers: int = 1,
    on_epoch: OnEpoch | None = None,
) -> pd.DataFrame:
    """Stage ``allocation_targets``: each allocator's target weights on the common schedule.

    Parameters
    ----------
    daily_returns : DataFrame of shape (n_dates, n_tickers)
        The ``daily_returns`` artifact.
    allocators : sequence of config models or mappings
        Each with ``kind`` (a key of ``portflow.quant.allocation.allocators.ALLOCATORS``), ``name``,
        optional ``window`` (default ``estimation_window``), optional ``seeds`` and the
        kind's own settings (see ``portflow.config.allocation``).
    tickers, benchmark
        The universe (see :func:`investable_returns`).
    estimation_window, rebalance, rebalance_every, rebalance_dates, rebalance_day
        Default window and the schedule (:func:`rebalance_schedule`), shared by all
        allocators; the first rebalance is the first scheduled date where every allocator
        has its full window.
    workers : int
        LSTM trainings at once (threads, one torch thread each); the results do not
        depend on it, so it is not a parameter of the artifact.
    on_epoch : callable, optional
        Progress of the LSTM trainings (:class:`~portflow.quant.allocation.lstm.EpochProgress`),
        called from the training threads.

    Returns
    -------
    DataFrame of shape (n_runs * n_rebalances * n_assets, 6)
        Long table with columns ``date`` (decision date: weights earn from the next day),
        ``allocator`` (run name: the config name, ``name[seed=s]`` per seed), ``strategy``
        (the config name), ``seed`` (nullable int), ``ticker``, ``weight``.
    """
    returns = investable_returns(daily_returns, tickers, benchmark)
    runs = _runs(allocators, estimation_window)
    dates = rebalance_schedule(
        returns.index,
        rebalance=rebalance,
        every=rebalance_every,
        dates=rebalance_dates,
        first=max(run.window for run in runs) - 1,
        day=rebalance_day,
    )
    _train_lstms_ahead(returns, runs, dates, workers=workers, on_epoch=on_epoch)
    pieces = []
    for run in runs:
        try:
            targets = target_weights(returns, run.rule, window=run.window, dates=dates)
        except DataError as error:
            raise _in_allocator(run, error) from error
        long = targets.rename_axis(index="date", columns="ticker").stack().rename("weight")
        long = long.reset_index()
        long.insert(1, "allocator", run.allocator)
        long.insert(2, "strategy", run.strategy)
        long.insert(3, "seed", pd.array([run.seed] * len(long), dtype="Int64"))
        pieces.append(long)
    return pd.concat(pieces, ignore_index=True)


def _wide_targets(allocation_targets: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Allocator -> its targets as a (n_rebalances, n_assets) frame."""
    return {
        name: group.pivot(index="date", columns="ticker", values="weight")
        for name, group in allocation_targets.groupby("allocator", sort=False)
    }


def _returns_for(daily_returns: pd.DataFrame, tickers: Sequence[str], start, stage: str):
    returns = daily_returns.loc[start:, list(tickers)]
    if returns.isna().to_numpy().any():
        raise DataError(
            stage,
            "daily_returns",
            "missing returns after the first rebalance date",
            "recompute allocation_targets from the same daily_returns",
        )
    return returns


def allocation_weights(
    daily_returns: pd.DataFrame, allocation_targets: pd.DataFrame
) -> pd.DataFrame:
    """Stage ``allocation_weights``: the daily weight path of each allocator.

    Returns
    -------
    DataFrame of shape (n_runs * n_days_from_t0 * n_assets, 6)
        Long table with columns ``date``, ``allocator``, ``ticker``, ``drifted`` (weight at
        the close before any trade; 0 on the first rebalance date, in cash), ``target``
        (the new target on rebalance dates, NaN otherwise) and ``held`` (weight after the
        trade, earning the next day's return).
    """
    pieces = []
    for name, targets in _wide_targets(allocation_targets).items():
        returns = _returns_for(
            daily_returns, targets.columns, targets.index[0], "allocation_weights"
        )
        drifted, held = drift_weights(returns, targets)
        frame = pd.DataFrame(
            {
                "date": np.repeat(held.index.to_numpy(), held.shape[1]),
                "allocator": name,
                "ticker": np.tile(held.columns.to_numpy(dtype=object), len(held)),
                "drifted": drifted.to_numpy().ravel(),
                "target": targets.reindex(held.index).to_numpy().ravel(),
                "held": held.to_numpy().ravel(),
            }
        )
        pieces.append(frame)
    return pd.concat(pieces, ignore_index=True)


def backtest_returns(
    daily_returns: pd.DataFrame,
    allocation_weights: pd.DataFrame,
    *,
    proportional_cost: float = 0.0005,
    fixed_cost: float = 0.0,
) -> pd.DataFrame:
    """Stage ``backtest_returns``: daily gross return, turnover, costs and net return.

    Returns
    -------
    DataFrame of shape (n_runs * n_days_from_t0, 7)
        Long table with columns ``date``, ``allocator``, ``gross``, ``turnover``, ``trades``,
        ``cost``, ``net`` (see :func:`portfolio_returns`).
    """
    pieces = []
    for name, weights in allocation_weights.groupby("allocator", sort=False):
        drifted = weights.pivot(index="date", columns="ticker", values="drifted")
        held = weights.pivot(index="date", columns="ticker", values="held")
        returns = _returns_for(daily_returns, held.columns, held.index[0], "backtest_returns")
        daily = portfolio_returns(
            returns, drifted, held, proportional_cost=proportional_cost, fixed_cost=fixed_cost
        )
        daily.insert(0, "allocator", name)
        pieces.append(daily.reset_index())
    return pd.concat(pieces, ignore_index=True)


def backtest_metrics(
    backtest_returns: pd.DataFrame,
    allocation_targets: pd.DataFrame,
    risk_free_daily: pd.DataFrame,
) -> pd.DataFrame:
    """Stage ``backtest_metrics``: one row of metrics per allocator run.

    Parameters
    ----------
    backtest_returns : DataFrame
        Output of :func:`backtest_returns`.
    allocation_targets : DataFrame
        Output of :func:`allocation_targets` (strategy, seed and tickers held).
    risk_free_daily : DataFrame
        Column ``rf``, decimal per trading day, covering the backtest's dates.

    Returns
    -------
    DataFrame of shape (n_runs, 21)
        Indexed by ``allocator``: ``strategy``, ``seed``, ``start``, ``end``; the net-return
        metrics ``ann_return``, ``ann_volatility``, ``sharpe``, ``sortino`` (excess of
        ``rf``), ``max_drawdown``, ``calmar``, ``n_periods``; ``gross_ann_return``,
        ``gross_sharpe``, ``ann_turnover`` (two-way), ``ann_turnover_one_way``,
        ``ann_cost``, ``n_rebalances`` (see
        :func:`performance_metrics`); and ``note``: why a ticker held is not investable
        (:data:`NOT_INVESTABLE`), empty otherwise.
    """
    rf = risk_free_daily["rf"]
    held = allocation_targets[allocation_targets["weight"].abs() > 0]
    rows = {}
    for name, daily in backtest_returns.groupby("allocator", sort=False):
        daily = daily.set_index("date")
        info = allocation_targets.loc[allocation_targets["allocator"] == name].iloc[0]
        tickers = sorted(held.loc[held["allocator"] == name, "ticker"].unique())
        row = performance_metrics(daily, rf)
        rows[name] = {
            "strategy": info["strategy"],
            "seed": info["seed"],
            "start": daily.index[0],
            "end": daily.index[-1],
            **row.to_dict(),
            "note": " | ".join(investability_notes(tickers).values()),
        }
    table = pd.DataFrame.from_dict(rows, orient="index")
    table["seed"] = table["seed"].astype("Int64")
    table["n_periods"] = table["n_periods"].astype(int)
    table["n_rebalances"] = table["n_rebalances"].astype(int)
    table.index.name = "allocator"
    return table


SUMMARY_METRICS = (
    "ann_return",
    "ann_volatility",
    "sharpe",
    "sortino",
    "max_drawdown",
    "calmar",
    "ann_turnover",
    "ann_turnover_one_way",
    "ann_cost",
)
"""Metrics summarized over seeds by :func:`backtest_seed_summary`."""


def backtest_seed_summary(backtest_metrics: pd.DataFrame) -> pd.DataFrame:
    """Stage ``backtest_seed_summary``: each strategy's metrics as mean and std over its runs.

    Returns
    -------
    DataFrame of shape (n_strategies * 9, 5)
        Columns ``strategy``, ``metric`` (:data:`SUMMARY_METRICS`), ``mean``, ``std``
        (ddof=1; NaN for a single run, e.g. a deterministic allocator) and ``n_runs``.
        Print as ``mean ± std``.
    """
    grouped = backtest_metrics.groupby("strategy", sort=False)[list(SUMMARY_METRICS)]
    mean = grouped.mean().stack().rename("mean")
    std = grouped.std(ddof=1).stack().rename("std")
    summary = pd.concat([mean, std], axis=1).rename_axis(["strategy", "metric"]).reset_index()
    counts = backtest_metrics.groupby("strategy", sort=False).size()
    summary["n_runs"] = summary["strategy"].map(counts).astype(int)
    return summary
