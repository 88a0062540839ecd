"""Industries per date from SIC codes: the code up to t, carried, never one from after t."""

import numpy as np
import pandas as pd

from portflow.quant.optimization.stock_industries import stock_industries

DATES = pd.bdate_range("2020-01-01", "2020-04-30")
MONTHS = pd.DatetimeIndex(["2020-01-31", "2020-02-29", "2020-03-31", "2020-04-30"])


def market(sic: dict[str, list]) -> pd.DataFrame:
    """Daily rows of each ticker; ``sic[ticker]`` gives its code per month (None: missing)."""
    frames = []
    for ticker, codes in sic.items():
        month = DATES.to_period("M").to_timestamp(how="end").normalize()
        code = pd.Series(dict(zip(MONTHS, codes, strict=True))).reindex(month).to_numpy()
        frames.append(pd.DataFrame({"date": DATES, "ticker": ticker, "sic": code}))
    frame = pd.concat(frames).sort_values(["date", "ticker"], ignore_index=True)
    return frame.astype({"sic": "Int64"})


def loadings(tickers, tradable=True) -> pd.DataFrame:
    return pd.DataFrame(
        [(t, k) for t in MONTHS for k in tickers], columns=["date", "ticker"]
    ).assign(tradable=tradable)


def test_industry_at_each_date_is_that_of_the_last_code_up_to_it():
    data = market(
        {
            "A": [3571, 3571, 7372, 7372],  # computers -> software: BusEq, Hardw -> Softw
            "B": [None, 2834, None, 6021],  # a code from February, carried over March
            "C": [9999, 9999, 9999, 9999],  # nonclassifiable: FF12 Other, no FF49 industry
            "D": [None, None, None, None],  # no code at all
        }
    )
    ff49 = stock_industries(loadings("ABCD"), data, industries="ff49")
    table = ff49.pivot(index="date", columns="ticker", values="industry").astype(str)
    assert table["A"].tolist() == ["Hardw", "Hardw", "Softw", "Softw"]
    assert table["B"].tolist() == ["Unassigned", "Drugs", "Drugs", "Banks"]
    assert (table["C"] == "Unassigned").all() and (table["D"] == "Unassigned").all()
    assert ff49["sic"].isna().sum() == 4 + 1  # D always, B in January
    ff12 = stock_industries(loadings("ABCD"), data, industries="ff12")
    assert ff12.set_index(["date", "ticker"]).loc[(MONTHS[0], "C"), "industry"] == "Other"
    assert list(ff12["industry"].cat.categories)[-2:] == ["Other", "Unassigned"]


def test_codes_after_t_never_reach_t_and_only_tradable_stocks_have_rows():
    data = market({"A": [3571, 3571, 7372, 7372], "B": [2834, 2834, 2834, 2834]})
    before = stock_industries(loadings("AB"), data, industries="ff49")
    changed = data.copy()
    changed.loc[changed["date"] > MONTHS[1], "sic"] = 1311  # every later code differs
    after = stock_industries(loadings("AB"), changed, industries="ff49")
    early = before["date"] <= MONTHS[1]
    pd.testing.assert_frame_equal(before[early], after[early])
    assert (after.loc[~early, "industry"] == "Oil").all()
    some = loadings("AB").assign(tradable=lambda f: f["ticker"].eq("A"))
    assert stock_industries(some, data, industries="ff12")["ticker"].eq("A").all()
    assert np.array_equal(before["date"].unique(), MONTHS)


def test_data_without_sic_gives_every_stock_the_unassigned_group():
    data = market({"A": [3571] * 4}).drop(columns="sic")
    table = stock_industries(loadings("A"), data, industries="ff12")
    assert (table["industry"] == "Unassigned").all() and table["sic"].isna().all()
