"""The sweep stage: statuses of bad inputs, risk columns, chunking, no look-ahead."""

import datetime as dt
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from optimization_data import monthly_panel, sic_codes

from portflow.errors import DataError
from portflow.quant.optimization.active_portfolio import ActivePortfolioProblem
from portflow.quant.optimization.active_risk import MONTHS_PER_YEAR
from portflow.quant.optimization.benchmark_weights import benchmark_weights
from portflow.quant.optimization.factor_moments import (
    factors_of,
    rolling_factor_loadings,
    sample_factor_moments,
    unpack_moments,
)
from portflow.quant.optimization.stock_industries import industry_groups, stock_industries
from portflow.quant.optimization.sweep import (
    chunk_ranges,
    combine_chunks,
    date_inputs,
    optimize_active_portfolios,
)

WINDOW = {"window": 24, "min_observations": 18}
TICKERS = [f"S{i}" for i in range(6)]
SWEEP = {
    "gammas": (2.0, 20.0),
    "tev_budgets": (0.02, 0.05),
    "alpha_weight": 1.0,
    "max_weight": None,
    "sector_rotation": True,
    "industries": "ff12",
}
ALL_DATES = {"start": dt.date(1990, 1, 1), "end": dt.date(2100, 1, 1), "moments": "sample"}


def market_data(panel, caps: np.ndarray | None = None, sic=None) -> pd.DataFrame:
    """Tidy month-end rows with SIC codes (BusEq, Money, Hlth in turn, or ``sic``); with
    ``caps``, close x shares_outstanding equals them."""
    months = panel.monthly_returns.index
    frame = pd.DataFrame(
        {"date": np.repeat(months, len(TICKERS)), "ticker": np.tile(TICKERS, len(months))}
    )
    frame["adj_close"] = 10.0
    codes = sic_codes(TICKERS) if sic is None else sic
    frame["sic"] = frame["ticker"].map(codes).astype("Int64")
    if caps is not None:
        frame["close"] = 10.0
        frame["shares_outstanding"] = np.tile(caps, len(months)) / 10.0
    return frame


def run(panel, *, caps=None, factor_data=None, sic=None, **sweep):
    factors = panel.factor_data if factor_data is None else factor_data
    returns = panel.monthly_returns  # month-end data: listed at a month-end = a return then
    loadings = rolling_factor_loadings(
        returns, panel.risk_free_monthly, factors, returns, benchmark="BENCH", **WINDOW
    )
    moments = sample_factor_moments(factors, **WINDOW)
    market = market_data(panel, caps, sic)
    bench = benchmark_weights(loadings, market, scheme="auto")
    settings = SWEEP | ALL_DATES | sweep
    industries = stock_industries(loadings, market, industries=settings["industries"])
    weights = optimize_active_portfolios(loadings, moments, bench, industries, **settings)
    return weights, loadings, bench


def test_every_solve_has_a_row_with_consistent_risk_columns():
    panel = monthly_panel(n_months=36)
    weights, _, bench = run(panel)
    assert len(weights) == 19 * 8  # 19 dates x (2 gammas + 2 budgets) x (stocks, sectors)
    assert (weights["status"] == "optimal").all()
    assert (bench["scheme"] == "equal_weight").all()
    w = weights.filter(like="w|").to_numpy()
    np.testing.assert_allclose(w.sum(axis=1), 1.0, atol=1e-8)
    np.testing.assert_allclose(
        weights["factor_variance"] + weights["specific_variance"], weights["active_variance"]
    )
    np.testing.assert_allclose(
        weights[["risk|MKT", "risk|SMB"]].sum(axis=1), weights["factor_variance"], rtol=1e-12
    )
    np.testing.assert_allclose(
        weights["ex_ante_te"], np.sqrt(MONTHS_PER_YEAR * weights["active_variance"])
    )
    tev = weights[weights["problem"].isin(["tev", "sector_tev"])]
    assert (tev["ex_ante_te"] <= tev["value"] * (1 + 1e-6)).all()
    sectors = weights.filter(like="sector|")
    assert list(sectors.columns) == [f"sector|{j}" for j in industry_groups("ff12")]
    held = sectors.columns[(sectors.abs() > 1e-9).any()].tolist()
    assert held == ["sector|BusEq", "sector|Hlth", "sector|Money"]
    np.testing.assert_allclose(sectors.sum(axis=1), 1.0, atol=1e-8)
    assert weights["strategy"].iloc[:4].tolist() == ["gamma=2", "gamma=20", "tev=0.02", "tev=0.05"]


def test_chunks_combine_to_the_single_run():
    panel = monthly_panel(n_months=30)
    whole, loadings, bench = run(panel)
    moments = sample_factor_moments(panel.factor_data, **WINDOW)
    dates = moments.index
    ranges = chunk_ranges(dates, 4)
    assert [lo for lo, _ in ranges][0] == dates[0].date() and ranges[-1][1] == dates[-1].date()
    covered = [d for lo, hi in ranges for d in dates if lo <= d.date() <= hi]
    assert covered == list(dates)  # every date once, in order
    assert {len(dates[(dates.date >= lo) & (dates.date <= hi)]) for lo, hi in ranges} <= {
        len(dates) // 4,
        len(dates) // 4 + 1,
    }
    industries = stock_industries(loadings, market_data(panel), industries="ff12")
    chunks = [
        optimize_active_portfolios(
            loadings, moments, bench, industries, **SWEEP | ALL_DATES | {"start": lo, "end": hi}
        )
        for lo, hi in ranges
    ]
    combined = combine_chunks(chunks[::-1])  # order of the chunks is irrelevant
    cols = ["date", "strategy", "status"] + [c for c in whole if c.startswith("w|")]
    pd.testing.assert_frame_equal(combined[cols], combine_chunks([whole])[cols])
    with pytest.raises(ValueError, match="overlap"):
        combine_chunks([chunks[0], chunks[0]])


def test_weights_at_t_ignore_data_after_t():
    panel = monthly_panel(seed=4, n_months=36)
    t = panel.factor_data.index[26]
    before, _, _ = run(panel)
    changed = monthly_panel(seed=4, n_months=36)
    changed.monthly_returns.loc[changed.monthly_returns.index > t] += 0.2
    changed.factor_data.loc[changed.factor_data.index > t] -= 0.1
    after, _, _ = run(changed)
    keep = ["date", "strategy", "status"] + [c for c in before if c.startswith("w|")]
    pd.testing.assert_frame_equal(
        before.loc[before["date"] <= t, keep], after.loc[after["date"] <= t, keep]
    )
    assert not np.allclose(
        before.loc[before["date"] > t, keep[3:]], after.loc[after["date"] > t, keep[3:]]
    )


def test_a_date_without_tradable_stocks_gets_a_status_row():
    panel = monthly_panel(n_months=36)
    returns = panel.monthly_returns.copy()
    returns.iloc[:12, :6] = np.nan  # every stock lists in month 13: tradable from month 30
    weights, loadings, _ = run(replace(panel, monthly_returns=returns))
    first_dates = weights["date"] < panel.factor_data.index[29]
    assert (weights.loc[first_dates, "status"] == "no_tradable_stocks").all()
    assert weights.loc[first_dates].filter(like="w|").isna().all().all()
    assert (weights.loc[~first_dates, "status"] == "optimal").all()
    assert not loadings.loc[loadings["date"] < panel.factor_data.index[29], "tradable"].any()


def test_singular_factor_covariance_gets_a_status_row():
    panel = monthly_panel(n_months=36)
    factors = panel.factor_data.copy()
    factors.iloc[:30, 1] = 0.0  # SMB flat for 30 months: singular over 24-month windows
    weights, _, _ = run(panel, factor_data=factors)
    singular = weights["date"] <= factors.index[29]
    assert (weights.loc[singular, "status"] == "singular_factor_covariance").all()
    assert (weights.loc[~singular, "status"] == "optimal").all()


def test_infeasible_tev_budget_is_recorded_not_replaced():
    """Cap weights put 40% in S0 while max_weight is 20%: a 0.5% TEV is out of reach."""
    panel = monthly_panel(n_months=30)
    caps = np.array([40.0, 12.0, 12.0, 12.0, 12.0, 12.0])
    weights, _, bench = run(
        panel, caps=caps, max_weight=0.2, tev_budgets=(0.005, 0.2), sector_rotation=False
    )
    assert (bench["scheme"] == "cap_weight").all()
    np.testing.assert_allclose(bench.groupby("date")["weight"].max(), 0.4)
    tiny = weights[weights["strategy"] == "tev=0.005"]
    assert (tiny["status"] == "infeasible").all()
    assert tiny.filter(like="w|").isna().all().all() and tiny["ex_ante_te"].isna().all()
    rest = weights[weights["strategy"] != "tev=0.005"]
    assert (rest["status"] == "optimal").all()
    assert rest.filter(like="w|").max().max() <= 0.2 + 1e-8


def test_data_without_sic_codes_stops_sector_rotation_with_a_named_error():
    panel = monthly_panel(n_months=30)
    with pytest.raises(DataError, match=r"\[optimization_chunk\] sic: no stock has a SIC"):
        run(panel, sic={})
    weights, _, _ = run(panel, sic={}, sector_rotation=False)
    np.testing.assert_allclose(weights["sector|Unassigned"], 1.0)


def test_stocks_without_an_industry_form_their_own_group_and_ff49_applies():
    panel = monthly_panel(n_months=30)
    codes = sic_codes(TICKERS) | {"S5": 9999}  # nonclassifiable: no 49-industry
    weights, _, _ = run(panel, sic=codes, industries="ff49")
    sectors = weights.filter(like="sector|")
    held = sectors.columns[(sectors.abs() > 1e-9).any()].tolist()
    assert held == ["sector|Drugs", "sector|Softw", "sector|Banks", "sector|Unassigned"]
    assert len(sectors.columns) == 50
    assert (weights["status"] == "optimal").all()
    np.testing.assert_allclose(sectors.sum(axis=1), 1.0, atol=1e-8)
    np.testing.assert_allclose(
        weights["sector|Unassigned"], weights["w|S5"], atol=1e-12
    )  # S5 alone in its group


def test_every_stock_weight_matches_the_cvxpy_oracle_and_its_status():
    """Caps put 40% in S0 and max_weight is 20%: a 0.5% budget is infeasible at every date."""
    panel = monthly_panel(seed=2, n_months=30)
    caps = np.array([40.0, 12.0, 12.0, 12.0, 12.0, 12.0])
    settings = {"max_weight": 0.2, "tev_budgets": (0.005, 0.03), "sector_rotation": False}
    weights, loadings, bench = run(panel, caps=caps, **settings)
    moments = sample_factor_moments(panel.factor_data, **WINDOW)
    factors = factors_of(moments)
    oracles = {
        kind: ActivePortfolioProblem(kind, len(TICKERS), len(factors)) for kind in ("gamma", "tev")
    }
    statuses = set()
    for t, rows in weights.groupby("date"):
        loadings_t = loadings[loadings["date"] == t].set_index("ticker").reindex(TICKERS)
        benchmark_t = bench[bench["date"] == t].set_index("ticker")["weight"].reindex(TICKERS)
        mean, covariance = unpack_moments(moments.loc[t], factors)
        inputs, _ = date_inputs(
            loadings_t, benchmark_t.fillna(0.0), mean, covariance, factors,
            alpha_weight=1.0, max_weight=0.2,
        )  # fmt: skip
        for oracle in oracles.values():
            oracle.set_date(inputs)
        for _, row in rows.iterrows():
            expected = oracles[row["problem"]].solve(row["value"])
            statuses.add(row["status"])
            assert row["status"] == expected.status
            if expected.solved:
                got = row[[f"w|{t}" for t in TICKERS]].to_numpy(float)
                tolerance = 1e-6 if row["problem"] == "gamma" else 1e-4  # cvxpy's TEV: ~1e-5
                np.testing.assert_allclose(got, expected.weights, atol=tolerance, rtol=0)
    assert statuses == {"optimal", "infeasible"}
