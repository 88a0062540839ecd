"""Factor sources: sample, a user file and the Kenneth R. French Data Library (recorded zip)."""

from __future__ import annotations

import datetime as dt
import io
import urllib.error
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

import portflow.sources.factors as factors_module
from portflow.config.optimization import FactorDataConfig
from portflow.errors import DataError
from portflow.sources.factors import (
    FileFactors,
    FrenchLibrary,
    SampleFactors,
    make_factor_source,
    parse_french_csv,
)
from portflow.sources.sample import french_factors
from storage import ArtifactStore
from tasks.ingest import FRENCH_DOWNLOAD_STAGE, factor_source

FIXTURES = Path(__file__).parents[1] / "data" / "sources"
RECORDED_ZIP = (FIXTURES / "ff_research_data_factors.zip").read_bytes()
FF3_URL = (
    "https://mba.tuck.dartmouth.edu/pages/faculty/ken.french/ftp/F-F_Research_Data_Factors_CSV.zip"
)
LIVE = {"source": "french_library", "as_of": dt.date(2019, 1, 4)}


class FakeOpener:
    """Stands in for urllib: one outcome per call (bytes or an exception), the last repeats."""

    def __init__(self, *outcomes) -> None:
        self.outcomes = list(outcomes)
        self.calls: list[tuple[str, float]] = []

    def __call__(self, url: str, timeout: float) -> bytes:
        self.calls.append((url, timeout))
        outcome = self.outcomes[min(len(self.calls), len(self.outcomes)) - 1]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


def library(*outcomes, **config) -> tuple[FrenchLibrary, FakeOpener, list[float]]:
    sleeps: list[float] = []
    opener = FakeOpener(*(outcomes or (RECORDED_ZIP,)))
    source = FrenchLibrary(FactorDataConfig(**(LIVE | config)), opener=opener, sleep=sleeps.append)
    return source, opener, sleeps


def zipped(name: str, text: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(name, text)
    return buffer.getvalue()


# Kenneth R. French Data Library -----------------------------------------------------------


def test_recorded_file_parses_to_the_arch_sample_values():
    source, opener, sleeps = library()
    table = source.load()
    expected = french_factors().loc["2017-01":"2018-11"]
    assert list(table.columns) == ["Mkt-RF", "SMB", "HML", "RF"]
    assert table.index.name == "date" and str(table.index.dtype) == "datetime64[ns]"
    assert len(table) == 23  # the annual 2017 row is not a month
    np.testing.assert_allclose(table.to_numpy(), expected.to_numpy(), rtol=0, atol=1e-12)
    pd.testing.assert_index_equal(table.index, expected.index)
    assert table.loc["2018-01-31", "Mkt-RF"] == pytest.approx(0.0558, abs=1e-15)  # 5.58 %
    assert table.loc["2017-12-31", "Mkt-RF"] == pytest.approx(0.0106, abs=1e-15)  # not 21.36
    assert opener.calls == [(FF3_URL, 30.0)] and sleeps == []


def test_request_is_dataset_url_and_as_of():
    source, _, _ = library()
    assert source.request() == {
        "dataset": "F-F_Research_Data_Factors",
        "url": FF3_URL,
        "as_of": "2019-01-04",
    }
    today = FrenchLibrary(FactorDataConfig(source="french_library"), today=dt.date(2024, 5, 6))
    assert today.request()["as_of"] == "2024-05-06"
    five = FrenchLibrary(
        FactorDataConfig(source="french_library", dataset="F-F_Research_Data_5_Factors_2x3")
    )
    assert five.url.endswith("/ftp/F-F_Research_Data_5_Factors_2x3_CSV.zip")


def test_download_keeps_the_csv_text_and_parse_reads_it():
    source, _, _ = library()
    raw = source.download()
    assert list(raw.columns) == ["url", "file", "text"] and len(raw) == 1
    assert raw.loc[0, "file"] == "F-F_Research_Data_Factors.CSV"
    assert raw.loc[0, "text"].startswith("This file was created by CMPT_ME_BEME_RETS")
    pd.testing.assert_frame_equal(source.parse(raw), source.load())


def test_months_after_as_of_are_dropped():
    source, _, _ = library(as_of=dt.date(2018, 10, 30))
    assert source.load().index.max() == pd.Timestamp("2018-09-30")


def test_failures_are_retried_with_exponential_backoff():
    source, opener, sleeps = library(
        urllib.error.URLError("timed out"), b"<html>Service Unavailable</html>", RECORDED_ZIP
    )
    assert len(source.load()) == 23
    assert len(opener.calls) == 3 and sleeps == [2.0, 4.0]


def test_network_failure_after_retries_names_the_url_and_the_fix():
    source, opener, sleeps = library(
        urllib.error.URLError("Name or service not known"), retries=2, backoff_seconds=0.5
    )
    with pytest.raises(DataError) as err:
        source.download()
    assert err.value.stage == "factor_source" and err.value.field == FF3_URL
    assert "after 3 attempt(s)" in err.value.problem
    assert "Name or service not known" in err.value.problem
    assert "source: files" in err.value.fix and "units: percent" in err.value.fix
    assert len(opener.calls) == 3 and sleeps == [0.5, 1.0]


def test_parser_reads_extra_columns_missing_codes_and_stops_at_the_blank_line():
    text = "\r\n".join(
        [
            "This file was created using the 202401 CRSP database.",
            "The Tbill return is the simple monthly rate.",
            "",
            "  ,Mkt-RF,SMB,HML,RMW,CMA,RF",
            "196307,   -0.39,   -0.41,   -0.97,    0.68,   -1.18,    0.27",
            "196308,    5.07,  -99.99,    1.80,    0.36,   -0.35,    0.25",
            "",
            "  Annual Factors: January-December ",
            ",Mkt-RF,SMB,HML,RMW,CMA,RF",
            "196401,   99.00,   99.00,   99.00,   99.00,   99.00,   99.00",  # looks like a month
            "",
            "Copyright 2024 Kenneth R. French",
        ]
    )
    table = parse_french_csv(text, source="test")
    assert list(table.columns) == ["Mkt-RF", "SMB", "HML", "RMW", "CMA", "RF"]
    assert list(table.index) == [pd.Timestamp("1963-07-31"), pd.Timestamp("1963-08-31")]
    assert np.isnan(table.loc["1963-08-31", "SMB"])
    assert table.loc["1963-07-31", "CMA"] == -1.18  # still in percent


def test_a_file_without_a_monthly_table_is_a_data_error():
    source, _, _ = library(zipped("F-F_Research_Data_Factors.CSV", "Copyright\r\n"), retries=0)
    with pytest.raises(DataError, match="no monthly table") as err:
        source.load()
    assert err.value.field.startswith(FF3_URL)


# User files -------------------------------------------------------------------------------


def files_config(path: Path, **settings) -> FactorDataConfig:
    return FactorDataConfig(source="files", path=str(path), **({"units": "percent"} | settings))


def test_csv_in_percent_with_yyyymm_dates(tmp_path):
    path = tmp_path / "factors.csv"
    path.write_text("month,HML,Mkt-RF,SMB,RF,note\n201802,-1.19,-3.65,0.28,0.11,x\n"
                    "201801,-1.37,5.58,-3.03,0.11,y\n")  # fmt: skip
    table = FileFactors(files_config(path, date_column="month")).load()
    assert list(table.columns) == ["Mkt-RF", "SMB", "HML", "RF"]  # requested order, then RF
    expected = french_factors().loc["2018-01":"2018-02"]
    np.testing.assert_allclose(table.to_numpy(), expected.to_numpy(), rtol=0, atol=1e-12)
    pd.testing.assert_index_equal(table.index, expected.index)


def test_parquet_in_decimals_with_iso_dates(tmp_path):
    path = tmp_path / "factors.parquet"
    pd.DataFrame(
        {"date": pd.to_datetime(["2020-01-31", "2020-02-03"]), "Mkt-RF": [0.01, -0.02],
         "SMB": [0.0, 0.001], "HML": [0.5, 0.25], "Mom": [0.03, 0.04]}
    ).to_parquet(path)  # fmt: skip
    config = files_config(path, units="decimal", factors=("Mkt-RF", "Mom"))
    table = make_factor_source(config).load()
    assert list(table.columns) == ["Mkt-RF", "Mom"]
    assert list(table.index) == [pd.Timestamp("2020-01-31"), pd.Timestamp("2020-02-29")]
    assert table.loc["2020-02-29", "Mom"] == 0.04


@pytest.mark.parametrize(
    ("rows", "field", "problem"),
    [
        (["201801,1,2,3", "2018-13,1,2,3"], "date", "unparseable dates at line 3 (date=2018-13)"),
        (["201801,1,2,3", "201802,1,2.1%,3"], "SMB", "non-numeric values at line 3 (SMB=2.1%)"),
        (
            ["201801,1,2,3", "2018-01-31,1,2,3"],
            "date",
            "same month at line 2 (date=201801), line 3",
        ),
    ],
)
def test_bad_files_name_the_column_and_rows(tmp_path, rows, field, problem):
    path = tmp_path / "factors.csv"
    path.write_text("\n".join(["date,Mkt-RF,SMB,HML", *rows]) + "\n")
    with pytest.raises(DataError) as err:
        FileFactors(files_config(path)).load()
    assert (err.value.stage, err.value.field) == ("factor_source", field)
    assert problem in err.value.problem


def test_missing_factor_or_date_column_is_named(tmp_path):
    path = tmp_path / "factors.csv"
    path.write_text("date,Mkt-RF,SMB\n201801,1,2\n")
    with pytest.raises(DataError, match="has no column HML") as err:
        FileFactors(files_config(path)).load()
    assert err.value.field == "optimization.factors.factors"
    with pytest.raises(DataError, match="has no column 'month'") as err:
        FileFactors(files_config(path, date_column="month", factors=("SMB",))).load()
    assert err.value.field == "optimization.factors.date_column"


# Config and task ------------------------------------------------------------------------


def test_config_fields_must_match_the_source():
    assert FactorDataConfig().source == "sample"
    assert isinstance(make_factor_source(FactorDataConfig()), SampleFactors)
    with pytest.raises(ValidationError, match="needs path and units"):
        FactorDataConfig(source="files", path="f.csv")
    with pytest.raises(ValidationError, match="dataset do not apply to source 'sample'"):
        FactorDataConfig(dataset="F-F_Research_Data_5_Factors_2x3")
    with pytest.raises(ValidationError, match="path, units do not apply to source 'french"):
        FactorDataConfig(source="french_library", path="f.csv", units="percent")
    with pytest.raises(ValidationError):
        FactorDataConfig(source="french_library", dataset="F-F_Momentum_Factor")


def test_task_downloads_once_per_as_of_and_persists_the_parsed_table(tmp_path, monkeypatch):
    opener = FakeOpener(RECORDED_ZIP)
    monkeypatch.setattr(factors_module, "_urlopen", opener)
    config = FactorDataConfig(**LIVE)
    first = factor_source.fn(store_url=str(tmp_path), config=config)
    second = factor_source.fn(store_url=str(tmp_path), config=config)
    assert len(opener.calls) == 1  # the second run reads the cached download
    assert (first.status, second.status) == ("computed", "reused")
    assert first.version == second.version
    store = ArtifactStore(str(tmp_path))
    table = store.load(first.ref)
    expected = french_factors().loc["2017-01":"2018-11"]
    np.testing.assert_allclose(table.to_numpy(), expected.to_numpy(), rtol=0, atol=1e-12)
    (download,) = store.manifests(FRENCH_DOWNLOAD_STAGE)
    assert download.params == FrenchLibrary(config).request()
    assert store.manifest(first.ref).upstream == {"download": str(download.ref)}
    assert (
        store.load(download.ref).loc[0, "text"]
        == FrenchLibrary(config, opener=FakeOpener(RECORDED_ZIP)).download().loc[0, "text"]
    )


def test_task_reads_sample_and_files(tmp_path):
    sample = factor_source.fn(store_url=str(tmp_path), config=FactorDataConfig())
    pd.testing.assert_frame_equal(
        ArtifactStore(str(tmp_path)).load(sample.ref), french_factors(), check_freq=False
    )
    path = tmp_path / "factors.csv"
    path.write_text("date,Mkt-RF,SMB,HML\n2018-01,5.58,-3.03,-1.37\n")
    result = factor_source.fn(store_url=str(tmp_path), config=files_config(path))
    table = ArtifactStore(str(tmp_path)).load(result.ref)
    assert table.loc["2018-01-31"].tolist() == pytest.approx([0.0558, -0.0303, -0.0137])
