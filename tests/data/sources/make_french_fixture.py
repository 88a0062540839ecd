"""Rebuild ``ff_research_data_factors.zip``: a Kenneth R. French Data Library file (offline).

The machines that made it have no internet, so the monthly values are the real ones the
Library published, as bundled with arch (``portflow.sources.sample.read_sample
("french_factors")``), for 2017-01 to 2018-11. The layout is the Library's own
``F-F_Research_Data_Factors.CSV``: two description lines, a blank line, the header
``,Mkt-RF,SMB,HML,RF``, the monthly rows ``YYYYMM,%8.2f,...`` in percent, a blank line,
the annual block (`` Annual Factors: January-December ``, its header, ``YYYY`` rows), a
blank line and the copyright line; CRLF line ends; zipped as the only member. The annual
2017 row is the 2017 months compounded (illustrative: the parser must ignore it).

    .venv/bin/python tests/data/sources/make_french_fixture.py
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from portflow.sources.sample import read_sample

HERE = Path(__file__).parent
COLUMNS = ["Mkt-RF", "SMB", "HML", "RF"]


def _row(label: str, values) -> str:
    return label + "".join(f",{v:8.2f}" for v in values)


def main() -> None:
    raw = read_sample("french_factors")
    months = raw[raw["Date"].between(201701, 201811)]
    year = months[months["Date"] // 100 == 2017]
    annual = ((1 + year[COLUMNS] / 100).prod() - 1) * 100
    lines = [
        "This file was created by CMPT_ME_BEME_RETS using the 201811 CRSP database.",
        "The 1-month TBill return is from Ibbotson and Associates, Inc.",
        "",
        "," + ",".join(COLUMNS),
        *(_row(str(d), v) for d, v in zip(months["Date"], months[COLUMNS].to_numpy(), strict=True)),
        "",
        " Annual Factors: January-December ",
        "," + ",".join(COLUMNS),
        _row("2017", annual.to_numpy()),
        "",
        "Copyright 2019 Kenneth R. French",
        "",
    ]
    with zipfile.ZipFile(HERE / "ff_research_data_factors.zip", "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(zipfile.ZipInfo("F-F_Research_Data_Factors.CSV", (2019, 1, 4, 0, 0, 0)),
                   "\r\n".join(lines))  # fmt: skip


if __name__ == "__main__":
    main()
