"""The CRSP-like panel generator: CRSP conventions row by row, the ground truth it returns,
the factor structure, and that portflow's files source reads what it writes."""

import numpy as np
import pandas as pd
import pytest

from portflow.config import FilesData
from portflow.quant.industries import industries_from_sic
from portflow.sources.crsp_panel import (
    CRSP_COLUMNS,
    UNASSIGNED_SIC,
    PanelSettings,
    generate_crsp_panel,
    main,
    nyse_sessions,
)
from portflow.sources.files import FilesSource

SESSIONS = pd.bdate_range("2010-01-04", periods=750)
EVENTFUL = PanelSettings(
    mean_life_days=1500,
    delisting_return_share=0.6,
    split_share=0.2,
    sic_change_share=0.2,
    unassigned_sic_share=0.1,
)
"""More of the rare events than the defaults, so that a small draw has each of them."""
SEED = 7


@pytest.fixture(scope="module")
def drawn():
    return generate_crsp_panel(seed=SEED, n_stocks=80, sessions=SESSIONS, settings=EVENTFUL)


def consecutive_rows(panel: pd.DataFrame, splits: pd.DataFrame) -> pd.DataFrame:
    """Rows with a return, with the same permno's previous *observed* row (``prc`` present):
    its ``prev_prc`` (absolute), ``prev_shrout``, ``split`` (the split factor in between,
    1 if none) and ``spans_gap`` (whether sessions without a price lie in between)."""
    scale = pd.Series(1.0, index=panel.index)
    for split in splits.itertuples():
        scale[(panel["permno"] == split.permno) & (panel["date"] >= split.date)] *= split.factor
    after_gap = panel["prc"].shift().isna()
    rows = panel[panel["prc"].notna()].assign(spans_gap=after_gap, scale=scale)
    same = rows["permno"].eq(rows["permno"].shift())
    rows["prev_prc"] = rows["prc"].abs().shift().where(same)
    rows["prev_shrout"] = rows["shrout"].shift().where(same)
    rows["split"] = rows["scale"] / rows["scale"].shift()
    return rows[same & rows["ret"].notna()]


def test_same_seed_same_panel_and_truth(drawn):
    panel, truth = drawn
    again, truth_again = generate_crsp_panel(
        seed=SEED, n_stocks=80, sessions=SESSIONS, settings=EVENTFUL
    )
    pd.testing.assert_frame_equal(panel, again)
    pd.testing.assert_frame_equal(truth.loadings, truth_again.loadings)
    other, _ = generate_crsp_panel(seed=SEED + 1, n_stocks=80, sessions=SESSIONS, settings=EVENTFUL)
    assert not other["ret"].equals(panel["ret"])


def test_columns_order_and_one_row_per_listed_session(drawn):
    panel, truth = drawn
    assert list(panel.columns) == [
        "permno", "date", "siccd", "prc", "vol", "ret", "shrout", "dlret",
    ]  # fmt: skip
    assert [str(t) for t in panel.dtypes] == [
        "int64", "datetime64[ns]", "int16", "float64", "Int64", "float64", "int64", "float64",
    ]  # fmt: skip
    keys = panel[["permno", "date"]]
    assert keys.equals(keys.sort_values(["permno", "date"], ignore_index=True))
    for permno, dates in panel.groupby("permno")["date"]:
        listing = truth.listings.loc[permno]
        expected = SESSIONS[SESSIONS.slice_indexer(listing.first_date, listing.last_date)]
        assert dates.tolist() == expected.tolist()  # gap days are rows too


def test_constant_cross_section_with_listings_replacing_delistings(drawn):
    panel, truth = drawn
    assert (panel.groupby("date").size() == 80).all()
    listings = truth.listings
    assert len(listings) > 80
    new = listings["first_date"] > SESSIONS[0]
    assert new.sum() == listings["delisted"].sum()
    replaced = listings.loc[listings["delisted"], "last_date"].map(
        lambda d: SESSIONS[SESSIONS.get_loc(d) + 1]
    )
    assert sorted(replaced) == sorted(listings.loc[new, "first_date"])


def test_listings_first_returns_and_delisting_returns(drawn):
    panel, truth = drawn
    listings = truth.listings
    assert listings["delisted"].any() and not listings["delisted"].all()
    assert (listings.loc[listings["delisted"], "last_date"] < SESSIONS[-1]).all()
    firsts = panel.groupby("permno").head(1).set_index("permno")
    new = listings["first_date"] > SESSIONS[0]
    assert firsts.loc[new, "ret"].isna().all()  # no earlier price
    assert firsts.loc[~new, "ret"].notna().all()  # listed before the sample
    lasts = panel.groupby("permno").tail(1).set_index("permno")
    pd.testing.assert_series_equal(lasts["dlret"], listings["dlret"], check_names=False)
    assert panel["dlret"].notna().sum() == listings["dlret"].notna().sum()
    assert listings.loc[listings["delisted"], "dlret"].isna().any()  # some are missing
    assert (listings["dlret"].dropna() >= -1).all()


def test_gaps_and_no_trade_days(drawn):
    panel, _ = drawn
    gaps = panel["prc"].isna()
    assert gaps.any()
    assert panel.loc[gaps, "ret"].isna().all() and panel.loc[gaps, "vol"].isna().all()
    midpoint = panel["prc"] < 0
    assert midpoint.any() and (panel.loc[midpoint, "vol"] == 0).all()
    # the return after a gap spans it, if the gap is at most 10 sessions (CRSP's rule)
    length = gaps.astype(int).groupby((~gaps).cumsum()).cumsum().shift(fill_value=0)
    after_gap = ~gaps & (length > 0)
    assert after_gap.any()
    assert panel.loc[after_gap, "ret"].notna().equals(length[after_gap] <= 10)


def test_ret_is_the_price_change_plus_dividends_and_splits_only_rescale(drawn):
    panel, truth = drawn
    rows = consecutive_rows(panel, truth.splits)
    factor = rows["split"].to_numpy()
    price_return = rows["prc"].abs() * factor / rows["prev_prc"] - 1
    dividend = (rows["ret"] - price_return).to_numpy()
    yield_ = truth.listings["dividend_yield"].reindex(rows["permno"]).to_numpy()
    tolerance = 1e-6 + 1e-4 * factor / rows["prev_prc"].to_numpy()  # rounding of ret, prc
    no_dividend = np.abs(dividend) < tolerance
    on_ex_day = np.abs(dividend - yield_) < tolerance
    adjacent = ~rows["spans_gap"].to_numpy()
    assert (no_dividend | on_ex_day)[adjacent].all()  # no-trade midpoints included
    assert no_dividend[yield_ == 0].all()  # returns across gaps included
    assert (~adjacent[yield_ == 0]).any()
    assert 0.005 < on_ex_day[adjacent & (yield_ > 0)].mean() < 0.04  # one session in 63
    cap_ratio = rows["prc"].abs() * rows["shrout"] / (rows["prev_prc"] * rows["prev_shrout"])
    at_split = factor != 1.0
    assert at_split.any()
    assert np.allclose(
        rows["shrout"][at_split] / rows["prev_shrout"][at_split], factor[at_split], rtol=0.06
    )
    assert (np.abs(cap_ratio[at_split] / (1 + rows["ret"][at_split]) - 1) < 0.1).all()


def test_shares_in_thousands_change_on_few_dates(drawn):
    panel, _ = drawn
    assert (panel["shrout"] >= 1).all()
    changes = panel.groupby("permno")["shrout"].apply(lambda s: (s.diff() != 0).sum() - 1)
    sessions = panel.groupby("permno").size()
    assert (changes <= sessions / 63 + 2).all()


def test_sic_per_row_follows_the_history(drawn):
    panel, truth = drawn
    spells = truth.sic_history
    assert spells["permno"].duplicated().any()  # some stocks change code
    for spell in spells.itertuples():
        rows = panel[
            (panel["permno"] == spell.permno) & panel["date"].between(spell.start, spell.end)
        ]
        assert len(rows) and (rows["siccd"] == spell.siccd).all()
    assert spells.groupby("permno")["end"].max().equals(truth.listings["last_date"].rename("end"))
    ff49 = industries_from_sic(panel["siccd"], "ff49")
    assert panel.loc[ff49.isna(), "siccd"].isin(UNASSIGNED_SIC).all()
    assert industries_from_sic(panel["siccd"], "ff12").notna().all()


def test_factor_structure_is_recovered():
    sessions = pd.bdate_range("2000-01-03", periods=2500)
    panel, truth = generate_crsp_panel(
        seed=3, n_stocks=150, sessions=sessions, settings=PanelSettings(dividend_share=0.0)
    )
    factors = truth.factor_returns
    wide = panel.pivot(index="date", columns="permno", values="ret")
    estimates, residual_vol = {}, {}
    for permno, ret in wide.items():
        days = ret.notna() & ret.index.isin(factors.index)
        if days.sum() < 500:
            continue
        x = np.column_stack([np.ones(days.sum()), factors.loc[ret.index[days]].to_numpy()])
        coef, *_ = np.linalg.lstsq(x, ret[days].to_numpy(), rcond=None)
        estimates[permno] = coef[1:]
        residual_vol[permno] = np.std(ret[days].to_numpy() - x @ coef)
    estimated = pd.DataFrame(estimates, index=factors.columns).T
    true = truth.loadings.loc[estimated.index]
    assert len(estimated) > 50
    assert (estimated - true).abs().median().max() < 0.1
    assert np.corrcoef(estimated["f1"], true["f1"])[0, 1] > 0.9
    vol = pd.Series(residual_vol)
    assert (vol / truth.idio_vol[vol.index] - 1).abs().median() < 0.1


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_portflow_files_source_reads_the_panel(drawn, tmp_path, suffix):
    panel, _ = drawn
    path = tmp_path / f"crsp{suffix}"
    if suffix == ".csv":
        panel.to_csv(path, index=False)
    else:
        panel.to_parquet(path, index=False)
    daily = FilesSource(FilesData(path=str(path), columns=CRSP_COLUMNS)).load().daily
    assert len(daily) == len(panel)
    merged = daily.merge(
        panel.assign(ticker=panel["permno"].astype(str)), on=["date", "ticker"], validate="1:1"
    )
    np.testing.assert_allclose(merged["close"], merged["prc"].abs())
    assert (merged["shares_outstanding"] == merged["shrout"]).all()
    assert (merged["sic"] == merged["siccd"]).all()
    assert merged["volume"].isna().equals(merged["vol"].isna())


def test_nyse_sessions_and_the_command_that_writes_a_panel(tmp_path):
    sessions = nyse_sessions("2001-09-04", "2001-09-28")
    assert pd.Timestamp("2001-09-11") not in sessions  # closed after the attacks
    assert len(sessions) == 15 and sessions.dtype == "datetime64[ns]"
    path, factors = tmp_path / "panel.parquet", tmp_path / "factors.csv"
    argv = ["--n-stocks", "3", "--start", "2020-01-02", "--end", "2020-02-28"]
    main([str(path), *argv, "--factors", str(factors)])
    panel = pd.read_parquet(path)
    assert len(panel) == 3 * 40 and panel["date"].min() == pd.Timestamp("2020-01-02")
    monthly = pd.read_csv(factors, parse_dates=["date"])
    assert monthly["date"].tolist() == [pd.Timestamp("2020-01-31"), pd.Timestamp("2020-02-29")]
    again, truth = generate_crsp_panel(
        seed=0, n_stocks=3, sessions=nyse_sessions("2020-01-02", "2020-02-28")
    )
    pd.testing.assert_frame_equal(panel, again)
    january = truth.factor_returns.loc["2020-01", "f1"]
    assert monthly.loc[0, "f1"] == pytest.approx(np.prod(1 + january) - 1, rel=1e-12)
