"""Ken French industries from SIC codes: known codes, range boundaries, the published range
lists (two transcriptions of each file and an independent encoding), residual codes."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from portflow.quant.industries import (
    ATTRIBUTION,
    CLASSIFICATIONS,
    FF12,
    FF49,
    industries_from_sic,
    industry_names,
)
from portflow.sources.sample import SAMPLE_SIC

SOURCES = Path(__file__).parents[1] / "data" / "industries"

SP500_20_SECTORS = {
    "AAPL": "BusEq", "AMD": "BusEq", "BAC": "Money", "BBY": "Shops", "CVX": "Enrgy",
    "GE": "Manuf", "HD": "Shops", "JNJ": "Hlth", "JPM": "Money", "KO": "NoDur", "LLY": "Hlth",
    "MRK": "Hlth", "MSFT": "BusEq", "PEP": "NoDur", "PFE": "Hlth", "PG": "Chems",
    "RRC": "Enrgy", "UNH": "Money", "WMT": "Shops", "XOM": "Enrgy",
}  # fmt: skip
"""The sample's 20 stocks under the 12 industries, as the hand-written table that SIC codes
replaced had them (PG in Chems and UNH in Money, as in French's portfolios)."""


def one(code, classification):
    value = industries_from_sic([code], classification).iloc[0]
    return None if pd.isna(value) else value


def read_siccodes(name: str) -> list[tuple[int, str, str, list[tuple[int, int]]]]:
    """A transcription of a Siccodes file: ``number|name|description`` then its ranges."""
    lines = (SOURCES / name).read_text().split("\n")
    industries = []
    for header, ranges in zip(lines[0::2], lines[1::2], strict=False):
        if header:
            number, short, description = header.split("|")
            spans = [tuple(map(int, r.split("-"))) for r in ranges.split()]
            industries.append((int(number), short, description, spans))
    return industries


def read_code_ranges(name: str) -> np.ndarray:
    """Industry number of each code 0..9999 (0: none) from ``number lo-hi lo-hi ...`` lines."""
    owner = np.zeros(10_000, dtype=int)
    for line in (SOURCES / name).read_text().splitlines():
        number, *ranges = line.split()
        for text in ranges:
            lo, _, hi = text.partition("-")
            owner[int(lo) : int(hi or lo) + 1] = int(number)
    return owner


def numbers(classification) -> np.ndarray:
    """Industry number (1-based, 0 for none) of each code 0..9999 through the public API."""
    codes = industries_from_sic(np.arange(10_000), classification).cat.codes.to_numpy()
    return codes.astype(int) + 1


@pytest.mark.parametrize(
    ("sic", "ff12", "ff49"),
    [
        (3571, "BusEq", "Hardw"),  # electronic computers
        (3570, "BusEq", "Hardw"),
        (3674, "BusEq", "Chips"),
        (7372, "BusEq", "Softw"),
        (7370, "BusEq", "Softw"),
        (2834, "Hlth", "Drugs"),
        (6021, "Money", "Banks"),
        (6324, "Money", "Insur"),
        (2911, "Enrgy", "Oil"),
        (1311, "Enrgy", "Oil"),
        (2840, "Chems", "Hshld"),  # soaps: FF12 Chems, FF49 Consumer Goods
        (3600, "Manuf", "ElcEq"),
        (2080, "NoDur", "Beer"),  # beverages
        (2086, "NoDur", "Soda"),  # bottled and canned soft drinks
        (5331, "Shops", "Rtail"),
        (4950, "Other", "Other"),  # sanitary services
        (1000, "Other", "Mines"),  # FF12 residual
    ],
)
def test_known_codes(sic, ff12, ff49):
    assert one(sic, "ff12") == ff12
    assert one(sic, "ff49") == ff49


def test_sample_universe_sic_gives_the_hand_written_sector_table():
    tickers = list(SP500_20_SECTORS)
    sectors = industries_from_sic([SAMPLE_SIC[t] for t in tickers], "ff12")
    assert dict(zip(tickers, sectors, strict=True)) == SP500_20_SECTORS
    tech4 = industries_from_sic([SAMPLE_SIC[t] for t in ("AAPL", "GOOG", "IBM", "MSFT")], "ff12")
    assert tech4.tolist() == ["BusEq"] * 4


@pytest.mark.parametrize(
    ("sic", "ff12", "ff49"),
    [
        (100, "NoDur", "Agric"),
        (99, "Other", None),  # below every range
        (999, "NoDur", "Toys"),
        (2829, "Chems", "Chems"),
        (2830, "Hlth", "Drugs"),
        (2836, "Hlth", "Drugs"),
        (2837, "Hlth", None),
        (2839, "Hlth", None),
        (2840, "Chems", "Hshld"),
        (3579, "BusEq", "Hardw"),
        (3580, "Manuf", "Mach"),
        (3629, "Manuf", "ElcEq"),
        (3630, "Durbl", "Hshld"),
        (3989, "NoDur", None),
        (3990, "Durbl", None),
        (4949, "Utils", None),
        (4991, "Other", "Other"),
        (4992, "Other", None),
        (5100, "Shops", "Whlsl"),
        (5101, "Shops", None),
        (7373, "BusEq", "Softw"),
        (7374, "BusEq", "BusSv"),
        (7375, "BusEq", "Softw"),
        (7379, "BusEq", "BusSv"),
        (7380, "Other", "BusSv"),
        (9999, "Other", None),  # nonclassifiable establishments
    ],
)
def test_range_boundaries(sic, ff12, ff49):
    assert one(sic, "ff12") == ff12
    assert one(sic, "ff49") == ff49


@pytest.mark.parametrize("classification", ["ff12", "ff49"])
def test_every_range_end_and_every_code_against_a_naive_scan(classification):
    industries = CLASSIFICATIONS[classification]
    expected = np.zeros(10_000, dtype=int)
    for industry in industries:
        for lo, hi in industry.ranges:
            assert one(lo, classification) == industry.name
            assert one(hi, classification) == industry.name
            assert (expected[lo : hi + 1] == 0).all(), "ranges overlap"
            expected[lo : hi + 1] = industry.number
    if classification == "ff12":
        expected[expected == 0] = 12
    expected[0] = 0
    np.testing.assert_array_equal(numbers(classification), expected)


def test_names_numbers_and_range_counts_as_published():
    assert industry_names("ff12") == (
        "NoDur", "Durbl", "Manuf", "Enrgy", "Chems", "BusEq",
        "Telcm", "Utils", "Shops", "Hlth", "Money", "Other",
    )  # fmt: skip
    assert len(industry_names("ff49")) == 49 and industry_names("ff49")[-1] == "Other"
    for industries in (FF12, FF49):
        assert [i.number for i in industries] == list(range(1, len(industries) + 1))
    assert [len(i.ranges) for i in FF12] == [6, 10, 14, 2, 2, 5, 1, 1, 3, 4, 1, 0]
    assert [len(i.ranges) for i in FF49] == [
        5, 11, 5, 5, 1, 6, 10, 8, 26, 7, 1, 3, 6, 7, 7, 9, 27, 6, 9, 5, 20, 12, 16, 5, 2,
        3, 1, 11, 1, 11, 9, 10, 36, 42, 12, 3, 11, 11, 5, 4, 28, 41, 64, 7, 25, 9, 14, 17, 4,
    ]  # fmt: skip
    assert FF49[12].description == "Pharmaceutical Products"
    assert FF12[11].description.startswith("Other -- Mines")
    assert "Kenneth R. French Data Library" in ATTRIBUTION


@pytest.mark.parametrize(
    ("industries", "files"),
    [
        (FF12, ["ff12_wenzhi.txt"]),
        (FF49, ["ff49_wenzhi.txt", "ff49_naylor.txt"]),
    ],
)
def test_ranges_equal_the_published_files(industries, files):
    """Two copies of Siccodes49.txt (2022 and an older one) list the same industries."""
    ours = [(i.number, i.name, i.description, list(i.ranges)) for i in industries]
    for name in files:
        assert ours == read_siccodes(name)


def test_independent_encodings_agree_code_by_code():
    """FF12: deHaan and Li's SAS macro. FF49: Novy-Marx and Velikov's MATLAB function,
    which merges 5099-5113 and so also covers 5101-5109 (French lists 5099, 5100, 5110-5113)."""
    sas = read_code_ranges("ff12_dehaan_sas.txt")
    sas[sas == 0] = 12
    sas[0] = 0
    np.testing.assert_array_equal(numbers("ff12"), sas)
    matlab = read_code_ranges("ff49_novymarx_velikov_matlab.txt")
    differ = np.flatnonzero(numbers("ff49") != matlab)
    assert differ.tolist() == list(range(5101, 5110))
    assert (matlab[differ] == 42).all()


def test_missing_and_zero_have_no_industry_and_the_index_is_kept():
    sic = pd.Series([3571, None, 0, 9999], index=[10, 11, 12, 13], dtype="Int64")
    ff12 = industries_from_sic(sic, "ff12")
    assert ff12.index.tolist() == [10, 11, 12, 13] and ff12.name == "industry"
    assert ff12.tolist()[0] == "BusEq" and ff12.iloc[3] == "Other"
    assert ff12.iloc[1:3].isna().all()
    assert industries_from_sic(sic, "ff49").iloc[1:].isna().all()
    floats = industries_from_sic(np.array([2834.0, np.nan]), "ff49")
    assert floats.iloc[0] == "Drugs" and pd.isna(floats.iloc[1])
    assert list(ff12.cat.categories) == list(industry_names("ff12"))


def test_sic_per_date_gives_industry_per_date():
    panel = pd.DataFrame(
        {
            "date": pd.to_datetime(["2020-01-02", "2020-01-03", "2020-01-06"]),
            "ticker": "10001",
            "sic": [3571, 3571, 7372],  # the stock is reclassified on 2020-01-06
        }
    )
    assert industries_from_sic(panel["sic"], "ff49").tolist() == ["Hardw", "Hardw", "Softw"]
    assert industries_from_sic(panel["sic"], "ff12").tolist() == ["BusEq"] * 3


@pytest.mark.parametrize("bad", [[3571.5], [-1], [10_000], ["abc"]])
def test_invalid_codes_raise(bad):
    with pytest.raises(ValueError):
        industries_from_sic(bad, "ff12")


def test_unknown_classification_names_the_choices():
    with pytest.raises(ValueError, match="ff12, ff49"):
        industries_from_sic([3571], "ff48")
