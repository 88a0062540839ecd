"""The sweep stages: solve every problem and sweep value at every rebalance date of a chunk.

``optimization_chunk`` (:func:`optimize_active_portfolios`) solves, for the rebalance dates
in ``[start, end]``, the risk-aversion problem at every gamma, the tracking-error problem at
every TEV budget and, with sector rotation on, both again over industry weights (see
:mod:`portflow.quant.optimization.active_problem` and
:mod:`portflow.quant.optimization.sector_rotation`). Each of the four problems has one
solver per chunk (:class:`~portflow.quant.optimization.direct_problem.DirectActiveProblem`),
re-parameterized per date and per sweep value; each result depends only on its own date
and value, so the chunking never changes a weight. ``optimized_weights``
(:func:`combine_chunks`) stacks the chunks.

Every solve gives one row with its ``status``. Weights are written only when the solver
returns ``optimal`` or ``optimal_inaccurate``; any other outcome is recorded as it is, with
NaN weights, never replaced by another portfolio:

- ``no_tradable_stocks``: no stock is tradable at t (not solved);
- ``singular_factor_covariance`` / ``hmm_failed``: the factor moments at t are not usable
  (status of the moments row; not solved);
- ``infeasible``, ``infeasible_inaccurate``, ``unbounded``..., ``solver_error``: the
  solver's status, named as cvxpy names it (e.g. a TEV budget below the smallest tracking
  error that the weight limits allow).

Solve times are not part of the output: an artifact's bytes depend only on its inputs (the
benchmark script measures times).

The inputs at t are the rows dated t of the moment and benchmark tables, themselves
estimated from data up to t.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from portflow.errors import DataError
from portflow.quant.optimization.active_problem import ProblemInputs
from portflow.quant.optimization.active_risk import active_risk
from portflow.quant.optimization.factor_moments import (
    CONSTANT,
    LOADING,
    OK,
    factors_of,
    moment_columns,
)
from portflow.quant.optimization.sector_rotation import industry_inputs, industry_membership
from portflow.quant.optimization.stock_industries import UNASSIGNED, industry_groups

WEIGHT = "w|"
"""Prefix of the stock weight columns ``w|<ticker>``."""
SECTOR = "sector|"
"""Prefix of the industry weight columns ``sector|<industry>``."""
RISK = "risk|"
"""Prefix of the per-factor contributions to the ex-ante active variance."""
NO_TRADABLE = "no_tradable_stocks"
STAGE = "optimization_chunk"


def sweep_points(gammas, tev_budgets, sector_rotation: bool) -> list[tuple[str, str, float]]:
    """``(problem, kind, value)`` of every solve at one date, in output order."""
    points = [("gamma", "gamma", g) for g in gammas] + [("tev", "tev", v) for v in tev_budgets]
    if sector_rotation:
        points += [("sector_gamma", "gamma", g) for g in gammas]
        points += [("sector_tev", "tev", v) for v in tev_budgets]
    return points


def strategy_label(problem: str, value: float) -> str:
    """Name of a sweep point, e.g. ``gamma=5`` or ``sector_tev=0.04``."""
    return f"{problem}={value:g}"


def date_inputs(
    loadings_t: pd.DataFrame,
    benchmark_t: pd.Series,
    mean: np.ndarray,
    covariance: np.ndarray,
    factors: list[str],
    *,
    alpha_weight: float,
    max_weight: float | None,
) -> tuple[ProblemInputs, np.ndarray]:
    """Problem data at one date on the chunk's universe (every stock of the panel).

    Parameters
    ----------
    loadings_t : DataFrame
        The ``stock_loadings`` rows of date t, indexed by ticker, in universe order.
    benchmark_t : Series
        Benchmark weights at t by ticker, in universe order (0 where absent).
    mean, covariance : ndarray
        ``mu_f`` (k,) and ``Sigma_f`` (k, k) at t.

    Returns
    -------
    inputs : ProblemInputs
    tradable : ndarray of bool, shape (n,)
    """
    tradable = loadings_t["tradable"].to_numpy(bool)
    loadings = loadings_t[[LOADING + f for f in factors]].to_numpy(float)
    alpha = loadings_t[LOADING + CONSTANT].to_numpy(float)
    loadings = np.where(tradable[:, None], loadings, 0.0)
    expected = np.where(tradable, alpha_weight * alpha + loadings @ mean, 0.0)
    specific = np.where(tradable, loadings_t["resid_var"].to_numpy(float), 0.0)
    upper = np.where(tradable, 1.0 if max_weight is None else max_weight, 0.0)
    benchmark = np.where(tradable, benchmark_t.to_numpy(float), 0.0)
    return (
        ProblemInputs(expected, loadings, specific, covariance, benchmark, upper),
        tradable,
    )


def _record(
    date, problem: str, value: float, status: str, n_tradable: int, factors: list[str]
) -> dict:
    return {
        "date": date,
        "problem": problem,
        "strategy": strategy_label(problem, value),
        "value": float(value),
        "status": status,
        "n_tradable": n_tradable,
        "expected_active_return": np.nan,
        "objective": np.nan,
        "ex_ante_te": np.nan,
        "active_variance": np.nan,
        "factor_variance": np.nan,
        "specific_variance": np.nan,
        **{RISK + f: np.nan for f in factors},
    }


def _fill(record: dict, weights, inputs: ProblemInputs, kind: str, value: float, factors):
    """Add the ex-ante figures of solved ``weights`` to ``record``."""
    active = weights - inputs.benchmark
    risk = active_risk(active, inputs.loadings, inputs.specific_variance, inputs.factor_covariance)
    expected = float(inputs.expected @ active)
    record.update(
        expected_active_return=expected,
        objective=expected - value * risk.variance if kind == "gamma" else expected,
        ex_ante_te=risk.tracking_error,
        active_variance=risk.variance,
        factor_variance=risk.factor,
        specific_variance=risk.specific,
        **{RISK + f: c for f, c in zip(factors, risk.by_factor, strict=True)},
    )


def optimize_active_portfolios(
    stock_loadings: pd.DataFrame,
    factor_moments: pd.DataFrame,
    benchmark_weights: pd.DataFrame,
    stock_industries: pd.DataFrame,
    *,
    gammas: tuple[float, ...],
    tev_budgets: tuple[float, ...],
    alpha_weight: float,
    max_weight: float | None,
    sector_rotation: bool,
    industries: str,
    start: dt.date,
    end: dt.date,
    moments: str,
) -> pd.DataFrame:
    """Solve the sweeps at every rebalance date in ``[start, end]``.

    Parameters
    ----------
    stock_loadings : DataFrame
        ``stock_loadings`` stage (long: date, ticker, loadings, resid_var, tradable).
    factor_moments : DataFrame
        ``factor_moments`` or ``regime_factor_moments`` stage (index date, ``mean|``,
        ``cov|`` and ``status`` columns).
    benchmark_weights : DataFrame
        ``benchmark_weights`` stage (long: date, ticker, weight).
    stock_industries : DataFrame
        ``stock_industries`` stage (long: date, ticker, industry): the industry membership
        of each date, from each stock's SIC code up to that date.
    gammas, tev_budgets, alpha_weight, max_weight, sector_rotation, industries
        The ``optimization.sweep`` slice (``industries`` named the classification that
        ``stock_industries`` applied).
    start, end : date
        The chunk: rebalance dates with moments and loadings in this closed interval.
    moments : str
        Name of the moment model (``sample`` or ``regime``), written to every row.

    Returns
    -------
    DataFrame of shape (n_dates * n_points, n_meta + n_stocks [+ n_industries])
        One row per (date, sweep point): ``date`` (decision date t), ``moments``,
        ``problem`` (gamma, tev, sector_gamma, sector_tev), ``strategy`` (e.g.
        ``gamma=5``), ``value`` (gamma, or the annualized TEV budget), ``status``,
        ``n_tradable``, ``expected_active_return`` (m'(w-b), monthly), ``objective``,
        ``ex_ante_te`` (annualized), ``active_variance`` = ``factor_variance`` +
        ``specific_variance`` (monthly), ``risk|<factor>`` (the factor part split by
        factor), then ``w|<ticker>`` and ``sector|<industry>`` (the industry weights of
        the stock portfolio at its date) for every industry of the classification, in
        French's order, then ``sector|Unassigned`` for the stocks without one.

    Raises
    ------
    DataError
        Sector rotation on data without any SIC code (no industry at any date).
    """
    factors = factors_of(factor_moments)
    tickers = sorted(stock_loadings["ticker"].unique())
    assigned = stock_industries["industry"] != UNASSIGNED
    if sector_rotation and len(stock_industries) and not assigned.any():
        raise DataError(
            STAGE,
            "sic",
            f"no stock has a SIC code, so none has a {industries} industry",
            "load data with SIC codes (files source: map sic to the file's column, e.g. "
            "siccd; yfinance: data.sic_codes) or set optimization.sweep.sector_rotation: false",
        )
    # Every group of the classification, so that a chunk's columns never depend on the
    # industries that other dates (later ones included) happen to hold.
    sector_columns = industry_groups(industries)
    lo, hi = pd.Timestamp(start), pd.Timestamp(end)
    in_chunk = stock_industries["date"].between(lo, hi)
    industry_of = {
        t: rows.set_index("ticker")["industry"]
        for t, rows in stock_industries[in_chunk].groupby("date")
    }
    # Only the chunk's dates are split up: the stage tables span every date of the sample.
    loadings = stock_loadings[stock_loadings["date"].between(lo, hi)]
    by_date = {t: rows for t, rows in loadings.groupby("date", sort=True)}
    chunk_bench = benchmark_weights[benchmark_weights["date"].between(lo, hi)]
    bench = chunk_bench.pivot(index="date", columns="ticker", values="weight")
    bench = bench.reindex(columns=tickers).fillna(0.0)
    dates = [t for t in factor_moments.index if lo <= t <= hi and t in by_date]

    n = len(tickers)
    points = sweep_points(gammas, tev_budgets, sector_rotation)
    # Imported here: scipy.sparse and Clarabel load only in a process that solves.
    from portflow.quant.optimization.direct_problem import DirectActiveProblem

    stock_problems = {kind: DirectActiveProblem(kind) for kind in ("gamma", "tev")}
    # Over industries: the same two problems; their size follows the industries held.
    industry = {kind: DirectActiveProblem(kind) for kind in stock_problems}
    no_industries = pd.Series(pd.Categorical([], categories=sector_columns), dtype="category")

    k = len(factors)
    moment_values = factor_moments[moment_columns(factors)].to_numpy(float)
    moment_row = {t: i for i, t in enumerate(factor_moments.index)}
    memberships = {}  # by industry assignment: it rarely changes from one date to the next
    records, weights, sector_weights = [], [], []
    for t in dates:
        industry_t = industry_of.get(t, no_industries)
        key = (tuple(industry_t.index), industry_t.cat.codes.to_numpy().tobytes())
        if key not in memberships:
            date_industries, membership = industry_membership(tickers, industry_t)
            to_columns = np.zeros((len(date_industries), len(sector_columns)))
            to_columns[
                range(len(date_industries)), [sector_columns.index(j) for j in date_industries]
            ] = 1.0
            memberships[key] = membership, membership @ to_columns  # stock -> sector column
        membership, stock_columns = memberships[key]
        loadings_t = by_date[t].set_index("ticker").reindex(tickers)
        loadings_t["tradable"] = loadings_t["tradable"].astype("boolean").fillna(False)
        status = str(factor_moments["status"].iat[moment_row[t]])
        n_tradable = int(loadings_t["tradable"].sum())
        skip = None
        if status != OK:
            skip = status
        elif n_tradable == 0:
            skip = NO_TRADABLE
        if skip is None:
            values = moment_values[moment_row[t]]
            mean, covariance = values[:k], values[k:].reshape(k, k)
            benchmark_t = bench.loc[t] if t in bench.index else pd.Series(0.0, index=tickers)
            inputs, _ = date_inputs(
                loadings_t,
                benchmark_t,
                mean,
                covariance,
                factors,
                alpha_weight=alpha_weight,
                max_weight=max_weight,
            )
            for problem in stock_problems.values():
                problem.set_date(inputs)
            if sector_rotation:
                sector_inputs, portfolios = industry_inputs(inputs, membership)
                for problem in industry.values():
                    problem.set_date(sector_inputs)
        for name, kind, value in points:
            if skip is not None:
                records.append(_record(t, name, value, skip, n_tradable, factors))
                weights.append(np.full(n, np.nan))
                sector_weights.append(np.full(len(sector_columns), np.nan))
                continue
            if name.startswith("sector_"):
                solution = industry[kind].solve(value)
                stock_weights = portfolios @ solution.weights if solution.solved else None
            else:
                solution = stock_problems[kind].solve(value)
                stock_weights = solution.weights if solution.solved else None
            record = _record(t, name, value, solution.status, n_tradable, factors)
            if stock_weights is not None:
                _fill(record, stock_weights, inputs, kind, value, factors)
                weights.append(stock_weights)
            else:
                weights.append(np.full(n, np.nan))
            sector_weights.append(weights[-1] @ stock_columns)
            records.append(record)

    columns = list(_record(None, "gamma", 0.0, "", 0, factors))
    meta = pd.DataFrame.from_records(records, columns=columns)
    meta.insert(1, "moments", moments)
    matrix = np.array(weights).reshape(len(records), n)
    sectors = np.array(sector_weights).reshape(len(records), len(sector_columns))
    parts = [
        meta,
        pd.DataFrame(matrix, columns=[WEIGHT + t for t in tickers]),
        pd.DataFrame(sectors, columns=[SECTOR + j for j in sector_columns]),
    ]
    frame = pd.concat(parts, axis=1)
    frame["date"] = pd.to_datetime(frame["date"])
    return frame


def chunk_ranges(dates: pd.Index, chunks: int) -> list[tuple[dt.date, dt.date]]:
    """Split rebalance dates into at most ``chunks`` contiguous ``(start, end)`` ranges.

    The ranges cover every date once, in order, and differ in length by at most one date.
    """
    parts = [p for p in np.array_split(np.asarray(dates), min(chunks, len(dates))) if len(p)]
    return [(pd.Timestamp(p[0]).date(), pd.Timestamp(p[-1]).date()) for p in parts]


def combine_chunks(optimization_chunk: list[pd.DataFrame]) -> pd.DataFrame:
    """Stage ``optimized_weights``: stack the chunk tables, sorted by date and sweep point.

    Raises
    ------
    ValueError
        If two chunks hold the same (date, moments, strategy): overlapping chunks.
    """
    frame = pd.concat(optimization_chunk, ignore_index=True)
    keys = ["date", "moments", "strategy"]
    if frame.duplicated(keys).any():
        raise ValueError("optimization chunks overlap: a (date, strategy) is solved twice")
    order = {p: i for i, p in enumerate(("gamma", "tev", "sector_gamma", "sector_tev"))}
    rank = frame["problem"].map(order)
    frame = frame.assign(_rank=rank).sort_values(["date", "moments", "_rank", "value"])
    return frame.drop(columns="_rank").reset_index(drop=True)
