"""A user panel: a small CRSP-style extract written as CSV and parquet."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from portflow.config import FilesData
from portflow.errors import DataError
from portflow.sources.files import FilesSource

CRSP = {"ticker": "permno", "close": "prc", "volume": "vol", "shares_outstanding": "shrout"}
CRSP_CSV = """\
permno,date,ret,prc,shrout,vol,siccd
10001,20181101,,-10.50,1000,200,4920
10001,20181102,0.010,10.605,1000,300,4920
10001,20181105,-0.020,-10.3929,1000,,4920
84398,20181101,0.005,324.87,900000,59151200,6726
84398,20181102,-0.008,322.41,900000,77709700,6726
84398,20181105,0.004,323.64,900000,55653900,6726
"""


def write_csv(tmp_path, text, name="crsp.csv"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def load(path, **config):
    columns = config.pop("columns", CRSP | {"sic": "siccd"})
    return FilesSource(FilesData(path=path, columns=columns, **config)).load()


def test_crsp_csv(tmp_path, assert_tidy):
    data = load(write_csv(tmp_path, CRSP_CSV), benchmark="84398")
    daily = data.daily
    assert_tidy(daily)
    assert list(daily.columns) == [
        "date",
        "ticker",
        "close",
        "adj_close",
        "volume",
        "shares_outstanding",
        "sic",
    ]
    assert daily["ticker"].tolist() == ["10001", "84398"] * 3
    assert data.benchmark == "84398"
    permno = daily[daily["ticker"] == "10001"]
    assert permno["close"].tolist() == [10.50, 10.605, 10.3929]  # bid/ask midpoints made positive
    # the first return is missing in CRSP: the index starts there at 1
    assert permno["adj_close"].tolist() == pytest.approx([1.0, 1.01, 1.01 * 0.98])
    etf = daily[daily["ticker"] == "84398"]
    assert etf["adj_close"].tolist() == pytest.approx(np.cumprod([1.005, 0.992, 1.004]))
    assert np.isnan(permno["volume"].iloc[2])
    assert etf["shares_outstanding"].tolist() == [900000.0] * 3
    assert etf["sic"].tolist() == [6726] * 3
    assert data.risk_free_frequency == "monthly"  # Ken French RF, for the months in range
    assert data.risk_free.to_dict() == {pd.Timestamp("2018-11-30"): pytest.approx(0.0018)}


def test_parquet_with_numeric_dates_and_float_permnos(tmp_path):
    csv = write_csv(tmp_path, CRSP_CSV)
    frame = pd.read_csv(csv)  # numeric: date 20181101, permno as float as SAS exports it
    frame["permno"] = frame["permno"].astype(float)
    path = tmp_path / "crsp.parquet"
    frame.to_parquet(path)
    pd.testing.assert_frame_equal(load(str(path)).daily, load(csv).daily)


def test_fields_named_after_portflow_are_used_without_mapping(tmp_path, assert_tidy):
    text = "date,ticker,close,adj_close\n2018-11-01,A,10,9.5\n2018-11-01,B,20,20\n"
    daily = load(write_csv(tmp_path, text), columns={}).daily
    assert_tidy(daily)
    assert list(daily.columns) == ["date", "ticker", "close", "adj_close"]
    assert daily["adj_close"].tolist() == [9.5, 20.0]


def test_mapped_column_missing_from_the_file(tmp_path):
    with pytest.raises(DataError) as err:
        load(write_csv(tmp_path, CRSP_CSV), columns=CRSP | {"ticker": "PERMNO"})
    assert err.value.field == "data.columns.ticker"
    assert "no column PERMNO" in err.value.problem and "permno" in err.value.problem


def test_required_column_missing(tmp_path):
    with pytest.raises(DataError) as err:
        load(write_csv(tmp_path, CRSP_CSV), columns={"close": "prc"})
    assert err.value.field == "data.columns"
    assert "no column for ticker" in err.value.problem
    assert "{ticker: permno" in err.value.fix


def test_unknown_field_in_mapping(tmp_path):
    with pytest.raises(DataError, match="unknown field.*price") as err:
        load(write_csv(tmp_path, CRSP_CSV), columns=CRSP | {"price": "prc"})
    assert err.value.field == "data.columns"


def test_letter_code_in_ret_names_the_line(tmp_path):
    text = CRSP_CSV.replace("10001,20181102,0.010", "10001,20181102,C")
    with pytest.raises(DataError) as err:
        load(write_csv(tmp_path, text))
    assert err.value.field == "ret"
    assert err.value.problem == "non-numeric values at line 3 (ret=C)"


def test_unparseable_date_names_the_line(tmp_path):
    text = CRSP_CSV.replace("84398,20181102", "84398,2018-13-45")
    with pytest.raises(DataError, match=r"line 6 \(date=2018-13-45\)") as err:
        load(write_csv(tmp_path, text))
    assert err.value.field == "date"


def test_duplicate_rows_name_both_lines(tmp_path):
    text = CRSP_CSV + "84398,20181105,0.004,323.64,900000,55653900,6726\n"
    with pytest.raises(DataError) as err:
        load(write_csv(tmp_path, text))
    assert err.value.field == "date, permno"
    assert "line 7 (date=20181105, permno=84398)" in err.value.problem
    assert "line 8 (date=20181105, permno=84398)" in err.value.problem


def test_benchmark_must_be_in_the_panel(tmp_path):
    with pytest.raises(DataError, match="'SPY' is not a ticker") as err:
        load(write_csv(tmp_path, CRSP_CSV), benchmark="SPY")
    assert err.value.field == "data.benchmark"


def test_date_range_without_data(tmp_path):
    config = {"start": dt.date(2021, 1, 1), "end": dt.date(2021, 2, 1)}
    with pytest.raises(DataError, match="covers 2018-11-01 to 2018-11-05"):
        load(write_csv(tmp_path, CRSP_CSV), **config)


def test_bad_path_and_suffix(tmp_path):
    with pytest.raises(DataError, match="no such file") as err:
        load(str(tmp_path / "missing.csv"))
    assert err.value.field == "data.path"
    with pytest.raises(DataError, match="unknown file type '.xlsx'"):
        load(write_csv(tmp_path, CRSP_CSV, name="crsp.xlsx"))


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("empty.csv", "", "cannot read empty.csv as csv: No columns to parse from file"),
        ("header.csv", CRSP_CSV.splitlines()[0] + "\n", "header.csv has no rows below its header"),
        ("garbage.parquet", "not parquet", "cannot read garbage.parquet as parquet"),
        ("binary.csv", "\udcff\udcfe", "cannot read binary.csv as csv"),
    ],
)
def test_an_empty_or_unreadable_file_is_one_data_error(tmp_path, name, content, problem):
    path = tmp_path / name
    path.write_bytes(content.encode("utf-8", "surrogateescape"))
    with pytest.raises(DataError, match=problem) as err:
        load(str(path))
    assert (err.value.stage, err.value.field) == ("ingest", "data.path")
    assert "\n" not in str(err.value)


def test_risk_free_file_daily_and_monthly(tmp_path):
    panel = write_csv(tmp_path, CRSP_CSV)
    daily_rf = "date,rf\n2018-11-01,0.0001\n2018-11-02,0.0002\n2018-11-05,0.0003\n"
    data = load(
        panel, risk_free_path=write_csv(tmp_path, daily_rf, "rf.csv"), risk_free_frequency="daily"
    )
    assert data.risk_free_frequency == "daily"
    assert data.risk_free.index.tolist() == sorted(data.daily["date"].unique())
    assert data.risk_free.tolist() == [0.0001, 0.0002, 0.0003]

    monthly_rf = "date,rf\n2018-10-01,0.0015\n2018-11-01,0.0013\n"
    data = load(panel, risk_free_path=write_csv(tmp_path, monthly_rf, "rf.csv"))
    assert data.risk_free.to_dict() == {pd.Timestamp("2018-11-30"): 0.0013}


def test_risk_free_errors(tmp_path):
    panel = write_csv(tmp_path, CRSP_CSV)
    with pytest.raises(DataError, match="no column rf") as err:
        load(panel, risk_free_path=write_csv(tmp_path, "date,RF\n2018-11-01,0.1\n", "rf.csv"))
    assert err.value.field == "data.risk_free_path"
    with pytest.raises(DataError) as err:
        load(panel, risk_free_frequency="daily")
    assert err.value.field == "data.risk_free_frequency"


def crsp_rows(tmp_path, rows: str) -> pd.DataFrame:
    """Load ``permno,date,prc,ret,dlret`` rows; the daily table of permno 1 by date."""
    text = "permno,date,prc,ret,dlret\n" + rows
    daily = load(write_csv(tmp_path, text), columns={"ticker": "permno", "close": "prc"}).daily
    return daily.set_index("date")


def test_delisting_return_is_compounded_into_the_last_day(tmp_path):
    daily = crsp_rows(
        tmp_path,
        "1,20200102,10,,\n1,20200103,11,0.1,\n1,20200106,11.55,0.05,-0.3\n"
        "2,20200102,5,,\n2,20200103,,,-0.5\n",  # a delisting day with no trade: ret missing
    )
    one = daily[daily["ticker"] == "1"]["adj_close"]
    assert one.tolist() == pytest.approx([1.0, 1.1, 1.1 * 1.05 * 0.7])
    two = daily[daily["ticker"] == "2"]["adj_close"]
    assert two.tolist() == pytest.approx([1.0, 0.5])


def test_gaps_carry_the_index_and_an_unknown_return_leaves_it_missing(tmp_path):
    rows = ["1,20200102,,,"]  # before the first price: no index
    rows += ["1,20200103,10,,", "1,20200106,,,", "1,20200107,,,", "1,20200108,12,0.2,"]
    rows += ["1,20200109,12.6,0.05,", "1,20200110,,,", "1,20200113,13,,"]  # not spanned
    rows += ["1,20200114,13.13,0.01,"]
    index = crsp_rows(tmp_path, "\n".join(rows) + "\n")["adj_close"]
    expected = [np.nan, 1.0, 1.0, 1.0, 1.2, 1.26, 1.26, np.nan, 1.26 * 1.01]
    np.testing.assert_allclose(index.to_numpy(), expected)


@pytest.mark.parametrize(("column", "code"), [("ret", "-99"), ("dlret", "-55")])
def test_crsp_numeric_missing_codes_are_rejected(tmp_path, column, code):
    row = "1,20200102,10,-0.01,\n1,20200103,10,0.0,\n".replace(
        "0.0,", f"{code}," if column == "ret" else f"0.0,{code}"
    )
    with pytest.raises(DataError, match=rf"\[ingest\] {column}: returns below -100% at line 3"):
        crsp_rows(tmp_path, row)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_only_the_mapped_columns_are_read(tmp_path, suffix, monkeypatch):
    frame = pd.read_csv(write_csv(tmp_path, CRSP_CSV))
    wide = frame.assign(comnam="A COMPANY, INC", shrcd=11, exchcd=3)  # CRSP extras
    path = tmp_path / f"wide{suffix}"
    wide.to_csv(path, index=False) if suffix == ".csv" else wide.to_parquet(path)
    reads = []
    original = pd.read_parquet if suffix == ".parquet" else pd.read_csv

    def spy(*args, **kwargs):
        reads.append(kwargs.get("columns", kwargs.get("usecols")))
        return original(*args, **kwargs)

    monkeypatch.setattr(pd, "read_parquet" if suffix == ".parquet" else "read_csv", spy)
    daily = load(str(path)).daily
    monkeypatch.undo()
    mapped = {"permno", "date", "ret", "prc", "shrout", "vol", "siccd"}
    assert [set(r) for r in reads if r is not None] == [mapped]  # the panel's one read
    pd.testing.assert_frame_equal(daily, load(write_csv(tmp_path, CRSP_CSV)).daily)
