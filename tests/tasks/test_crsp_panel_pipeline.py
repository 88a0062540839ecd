"""A generated CRSP-like panel through the files source and the optimization branch: cap
weights, industries, entries and exits against the raw panel, and a perturbed future that
leaves every earlier decision unchanged."""

import numpy as np
import pandas as pd
import pytest

from portflow.config import PipelineConfig
from portflow.quant.industries import industries_from_sic
from portflow.sources.crsp_panel import CRSP_COLUMNS, PanelSettings, generate_crsp_panel
from storage import ArtifactStore
from tasks import optimization as tasks
from tasks.ingest import factor_source, ingest
from tasks.run import PipelineRun
from tasks.shared import SHARED

SESSIONS = pd.bdate_range("2002-01-01", "2006-12-29")
SETTINGS = PanelSettings(mean_life_days=700, gaps_per_year=1.0, unassigned_sic_share=0.1)
"""Short lives, so that many stocks enter and leave in five years, and frequent gaps."""
CUT = pd.Timestamp("2005-06-30")
"""The perturbed test changes every row after this date."""


def config(panel_path, factor_path) -> PipelineConfig:
    return PipelineConfig.model_validate(
        {
            "name": "crsp-test",
            "data": {"source": "files", "path": str(panel_path), "columns": CRSP_COLUMNS},
            "prices": {"missing": "keep"},
            "optimization": {
                "factors": {
                    "source": "files",
                    "path": str(factor_path),
                    "units": "decimal",
                    "factors": ["f0", "f1", "f2"],
                },  # fmt: skip
                "moments": {"window": 24, "min_observations": 12},
                "moment_models": ["sample"],
                "benchmark": {"scheme": "cap"},
                "sweep": {"gammas": [5.0], "tev_budgets": [0.04], "industries": "ff49"},
                "runner": {"chunks": 2},
            },
        }
    )


def run_branch(tmp_path, panel: pd.DataFrame, truth) -> dict:
    """Write the panel and its factors, run ingest -> shared -> optimization; load outputs."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    panel_path, factor_path = tmp_path / "crsp.parquet", tmp_path / "factors.csv"
    panel.to_parquet(panel_path, index=False)
    months = truth.factor_returns.index + pd.offsets.MonthEnd(0)
    monthly = (1 + truth.factor_returns).groupby(months).prod() - 1
    monthly.rename_axis("date").reset_index().to_csv(factor_path, index=False)
    settings = config(panel_path, factor_path)
    store = str(tmp_path / "store")
    run = PipelineRun(store, settings, inline=True)
    ingested = ingest.fn(store, settings.data)
    shared = run.submit("data", SHARED, ingested.outputs)
    available = shared | {"factor_source": factor_source.fn(store, settings.optimization.factors)}
    up = run.submit(
        "optimization",
        [*tasks.OPTIMIZATION_INPUTS, tasks.FACTOR_MOMENTS],
        available,
        benchmark=None,
    )
    chunks = [
        run.submit_stage(tasks.OPTIMIZATION_CHUNK, up, start=lo, end=hi, moments="sample")
        for lo, hi in tasks.optimization_chunks_task.fn(store, up["factor_moments"], 2)
    ]
    weights = run.submit_stage(tasks.OPTIMIZED_WEIGHTS, {"optimization_chunk": chunks})
    results = run.submit("sample", tasks.OPTIMIZATION_RESULTS, up | {"optimized_weights": weights})
    loaded = ArtifactStore(store)
    names = ("market_data", "monthly_returns", "stock_loadings", "benchmark_weights",
             "stock_industries")  # fmt: skip
    out = {name: loaded.load((ingested.outputs | up)[name].ref) for name in names}
    out["weights"] = loaded.load(weights.ref)
    out["returns"] = loaded.load(results["optimized_returns"].ref)
    out["report"] = loaded.load(results["optimization_report"].ref)
    return out


def with_gap_over_the_cut(panel: pd.DataFrame) -> pd.DataFrame:
    """A 3-session gap ending on the cut's last session for a stock listed around it: no
    price or return on those days, and the next return spans them (CRSP's convention)."""
    panel = panel.copy()
    around = [SESSIONS[SESSIONS <= CUT][-10], SESSIONS[SESSIONS > CUT][0]]
    listed = [set(panel.loc[panel["date"] == day, "permno"]) for day in around]
    permno = min(listed[0] & listed[1])
    rows = panel.index[panel["permno"] == permno]
    dates = panel.loc[rows, "date"]
    gap = rows[(dates <= CUT) & (dates > SESSIONS[SESSIONS <= CUT][-4])]
    after = rows[dates > CUT][0]
    spanned = np.prod(1 + panel.loc[[*gap, after], "ret"]) - 1
    panel.loc[gap, ["prc", "ret"]] = np.nan
    panel.loc[gap, "vol"] = pd.NA
    panel.loc[after, "ret"] = spanned
    return panel


@pytest.fixture(scope="module")
def drawn():
    panel, truth = generate_crsp_panel(seed=11, n_stocks=30, sessions=SESSIONS, settings=SETTINGS)
    return with_gap_over_the_cut(panel), truth


@pytest.fixture(scope="module")
def branch(drawn, tmp_path_factory):
    panel, truth = drawn
    return run_branch(tmp_path_factory.mktemp("crsp"), panel, truth)


def month_end_rows(panel: pd.DataFrame) -> pd.DataFrame:
    """Each permno's last row of each month (its last trading day in the month)."""
    month = panel["date"] + pd.offsets.MonthEnd(0)
    return panel.assign(month=month).groupby(["month", "permno"]).tail(1)


def test_cap_weights_are_abs_price_times_shares_at_the_decision_date(drawn, branch):
    panel, _ = drawn
    bench = branch["benchmark_weights"]
    assert (bench["scheme"] == "cap_weight").all()
    rows = month_end_rows(panel.dropna(subset=["prc"]))
    caps = (rows["prc"].abs() * rows["shrout"]).to_numpy()
    cap = pd.Series(
        caps, index=pd.MultiIndex.from_arrays([rows["month"], rows["permno"].astype(str)])
    )
    expected = cap.reindex(pd.MultiIndex.from_frame(bench[["date", "ticker"]])).to_numpy()
    np.testing.assert_allclose(bench["cap"], expected, rtol=1e-12)
    totals = bench.groupby("date")["cap"].transform("sum")
    np.testing.assert_allclose(bench["weight"], bench["cap"] / totals, rtol=1e-12)


def test_industries_follow_each_stock_s_sic_code_up_to_the_date(drawn, branch):
    panel, _ = drawn
    table = branch["stock_industries"]
    rows = month_end_rows(panel).set_index(["month", "permno"])["siccd"]
    keys = pd.MultiIndex.from_arrays([table["date"], table["ticker"].astype(int)])
    np.testing.assert_array_equal(table["sic"], rows.reindex(keys).to_numpy())
    expected = industries_from_sic(table["sic"], "ff49").astype(object).fillna("Unassigned")
    assert table["industry"].astype(str).tolist() == expected.tolist()
    assert (table["industry"] == "Unassigned").any() and table["industry"].nunique() > 10
    sectors = branch["weights"].filter(like="sector|")
    np.testing.assert_allclose(sectors.sum(axis=1), 1.0, atol=1e-6)


def test_entries_and_exits(drawn, branch):
    """A stock that leaves in month m earns its returns to its last day with its delisting
    return in m and is not tradable at m unless it traded on m's last trading day (the data
    says it left only afterwards); the report counts the weight that held it."""
    panel, truth = drawn
    monthly, loadings = branch["monthly_returns"], branch["stock_loadings"]
    listings = truth.listings
    left = listings[listings["delisted"] & listings["dlret"].notna()]
    months = left["last_date"] + pd.offsets.MonthEnd(0)
    checked = 0
    for permno, month in months.items():
        rows = panel[
            (panel["permno"] == permno) & (panel["date"] + pd.offsets.MonthEnd(0) == month)
        ]
        if month not in monthly.index or len(rows) < 2 or rows["ret"].isna().any():
            continue
        total = np.prod(1 + rows["ret"]) * (1 + left.loc[permno, "dlret"]) - 1
        assert monthly.loc[month, str(permno)] == pytest.approx(total, rel=1e-9)
        at = loadings[(loadings["date"] == month) & (loadings["ticker"] == str(permno))]
        last_session = SESSIONS[month >= SESSIONS][-1]
        if left.loc[permno, "last_date"] < last_session:
            assert not at["tradable"].any()
        checked += 1
    assert checked >= 3
    entered = listings[listings["first_date"] > SESSIONS[0]]
    first_tradable = loadings[loadings["tradable"]].groupby("ticker")["date"].min()
    for permno, first in entered["first_date"].items():
        if str(permno) in first_tradable:
            assert first_tradable[str(permno)] >= first + pd.offsets.MonthEnd(12)
    report = branch["report"].set_index("strategy")
    assert report.loc["benchmark", "delisted_weight"] > 0
    assert report.loc["benchmark", "benchmark_scheme"] == "cap_weight"
    assert (branch["weights"]["status"] == "optimal").all()


def test_a_perturbed_future_leaves_every_earlier_decision_unchanged(drawn, branch, tmp_path):
    panel, truth = drawn
    changed = panel.copy()
    later = changed["date"] > CUT
    changed.loc[later, "ret"] = changed.loc[later, "ret"] * 0.5 + 0.01
    changed.loc[later, "prc"] *= 3.0
    changed.loc[later, "shrout"] += 1000
    changed.loc[later, "siccd"] = 1311
    changed.loc[later & changed["dlret"].notna(), "dlret"] = -0.9
    # Returns after gaps become unknown: whether a gap is spanned is not known during it.
    after_gap = (
        later & changed["prc"].shift().isna() & changed["permno"].eq(changed["permno"].shift())
    )
    assert after_gap[changed["date"] == SESSIONS[SESSIONS > CUT][0]].any()
    changed.loc[after_gap, "ret"] = np.nan
    other = run_branch(tmp_path, changed, truth)
    for name in ("stock_loadings", "benchmark_weights", "stock_industries", "weights"):
        before, after = branch[name], other[name]
        keep = before["date"] <= CUT
        assert keep.any() and (~keep).any()
        pd.testing.assert_frame_equal(
            before[keep].reset_index(drop=True), after[after["date"] <= CUT].reset_index(drop=True)
        )
        assert (
            not before[~keep]
            .reset_index(drop=True)
            .equals(after[after["date"] > CUT].reset_index(drop=True))
        )
