"""Monthly factor returns behind one interface: the sample, a user file, or the live Library.

Every factor source has ``load() -> DataFrame``: factor returns in **decimals per month**,
indexed by calendar month-end (``date``, ``datetime64[ns]``), columns named as the
Kenneth R. French Data Library names them (``Mkt-RF``, ``SMB``, ``HML``, ``RF`` and any
others such as ``RMW``, ``CMA``, ``Mom``), sorted by date.

- :class:`SampleFactors`: the Fama-French 3 factors bundled with arch
  (:func:`portflow.sources.sample.french_factors`, 1926-07 to 2018-11).
- :class:`FileFactors`: a user CSV or parquet file with a date column and factor columns.
- :class:`FrenchLibrary`: the monthly files of the Kenneth R. French Data Library
  (https://mba.tuck.dartmouth.edu/pages/faculty/ken.french/data_library.html), downloaded
  with :mod:`urllib`. Like :class:`~portflow.sources.yahoo.YahooSource` the work is split so
  the raw download can be cached: :meth:`~FrenchLibrary.request` (cache key),
  :meth:`~FrenchLibrary.download` (the file's text, one row) and
  :meth:`~FrenchLibrary.parse` (text -> factor table).

Sources know nothing about the artifact store or Prefect.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import time
import urllib.request
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from portflow.config.optimization import FactorDataConfig
from portflow.errors import DataError, preview
from portflow.sources.files import _read, _rows
from portflow.sources.sample import french_factors, sample_path
from portflow.sources.tidy import month_end

STAGE = "factor_source"

FRENCH_LIBRARY_URL = "https://mba.tuck.dartmouth.edu/pages/faculty/ken.french/ftp/{dataset}_CSV.zip"
"""Address of a monthly dataset's zipped CSV in the Kenneth R. French Data Library."""

FRENCH_MISSING = (-99.99, -999.0)
"""Codes the Library writes for a missing return."""

_MONTH_ROW = re.compile(r"^\s*(\d{6})\s*,")
_HEADER_ROW = re.compile(r"^\s*,")


class FactorSource(Protocol):
    """A provider of monthly factor returns."""

    def files(self) -> list[Path] | None:
        """The files ``load`` reads, found without reading them; None for a download."""
        ...

    def load(self) -> pd.DataFrame:
        """Decimal returns per month by month-end; raises ``DataError`` on bad input."""
        ...


class SampleFactors:
    """The Fama-French 3 factors and RF bundled with arch (Kenneth R. French Data Library)."""

    def __init__(self, config: FactorDataConfig) -> None:
        self.config = config

    def files(self) -> list[Path]:
        """The file :meth:`load` reads (found, not read)."""
        return [sample_path("french_factors")]

    def load(self) -> pd.DataFrame:
        """:func:`portflow.sources.sample.french_factors`: 1926-07 to 2018-11, decimals."""
        return french_factors()


def _months(raw: pd.DataFrame, column: str) -> pd.Series:
    """Parse ``raw[column]`` into calendar month-ends.

    Accepts ``YYYYMM`` (the Library's own dating, as text or integers), ISO dates
    (``2018-01-31``, ``2018-01``) and datetimes (parquet). A date inside a month stands for
    that month (the Library dates the month, CRSP its last trading day).
    """
    values = raw[column]
    if pd.api.types.is_datetime64_any_dtype(values):
        dates = values.dt.tz_localize(None) if values.dt.tz is not None else values
    else:
        text = values.astype("string").str.strip().str.replace(r"\.0$", "", regex=True)
        yyyymm = text.str.fullmatch(r"\d{6}").fillna(False).astype(bool)
        dates = pd.Series(pd.NaT, index=raw.index, dtype="datetime64[ns]")
        dates[yyyymm] = pd.to_datetime(text[yyyymm], format="%Y%m", errors="coerce")
        dates[~yyyymm] = pd.to_datetime(text[~yyyymm], format="ISO8601", errors="coerce")
    bad = dates.isna()
    if bad.any():
        raise DataError(
            STAGE,
            column,
            f"missing or unparseable dates at {_rows(raw, bad, [column])}",
            "write the month as YYYYMM (as the Ken French files do) or as an ISO date "
            "(YYYY-MM-DD or YYYY-MM) in every row",
        )
    return pd.Series(month_end(dates), index=raw.index)


class FileFactors:
    """Factor returns from a user's CSV or parquet file (``optimization.factors.path``).

    The file has a date column (``date_column``) and one column per factor; the requested
    ``factors`` (and ``RF`` when present) are kept, other columns are ignored. Values are
    ``units``: ``percent`` as in the Kenneth R. French Data Library's files, or ``decimal``.
    """

    def __init__(self, config: FactorDataConfig) -> None:
        self.config = config

    def files(self) -> list[Path]:
        """The file :meth:`load` reads (found, not read)."""
        return [Path(str(self.config.path))]

    def load(self) -> pd.DataFrame:
        """Read and validate the file.

        Returns
        -------
        DataFrame of shape (n_months, n_kept)
            The requested factors in their configured order, then ``RF`` if the file has
            it; decimal returns per month, indexed by month-end ``date``, sorted.

        Raises
        ------
        DataError
            Naming the column and the first offending lines (CSV, header = line 1) or rows
            (parquet, 1-based) on: a missing file or column, a missing requested factor,
            unparseable dates, text in a factor column, or two rows for the same month.
        """
        config = self.config
        path = Path(str(config.path))
        raw = _read(path, "optimization.factors.path")
        if config.date_column not in raw.columns:
            raise DataError(
                STAGE,
                "optimization.factors.date_column",
                f"{path.name} has no column {config.date_column!r}; its columns are "
                f"{preview(raw.columns, limit=20)}",
                "set optimization.factors.date_column to the file's date column",
            )
        missing = [f for f in config.factors if f not in raw.columns]
        if missing:
            raise DataError(
                STAGE,
                "optimization.factors.factors",
                f"{path.name} has no column {preview(missing)}; its columns are "
                f"{preview(raw.columns, limit=20)}",
                "name the file's factor columns as in optimization.factors.factors "
                "(case-sensitive), or choose factors the file has",
            )
        months = _months(raw, config.date_column)
        repeated = months.duplicated(keep=False)
        if repeated.any():
            raise DataError(
                STAGE,
                config.date_column,
                "two or more rows for the same month at "
                f"{_rows(raw, repeated, [config.date_column])}",
                "keep one row per month",
            )
        kept = list(dict.fromkeys([*config.factors, *(["RF"] if "RF" in raw.columns else [])]))
        table = pd.DataFrame(index=raw.index)
        for column in kept:
            numbers = pd.to_numeric(raw[column], errors="coerce").astype("float64")
            bad = numbers.isna() & raw[column].notna() & raw[column].astype("string").ne("")
            if bad.any():
                raise DataError(
                    STAGE,
                    column,
                    f"non-numeric values at {_rows(raw, bad, [column])}",
                    "write returns as numbers; leave a missing month empty",
                )
            table[column] = numbers / 100 if config.units == "percent" else numbers
        table.index = pd.DatetimeIndex(months.to_numpy(), name="date")
        return table.sort_index()


def parse_french_csv(text: str, *, source: str) -> pd.DataFrame:
    """The monthly table of a Kenneth R. French Data Library CSV, in the file's percent.

    The files read: lines of description, a header ``,Mkt-RF,SMB,HML,RF``, the monthly
    rows ``YYYYMM,   2.96,  -2.56, ...`` in percent, a blank line, then other blocks (the
    annual factors ``YYYY, ...`` with their own header) and a copyright line. Only the
    first block of ``YYYYMM`` rows is the monthly table; everything after it is ignored.

    Parameters
    ----------
    text : str
        The CSV file's text.
    source : str
        URL or file name, for error messages.

    Returns
    -------
    DataFrame of shape (n_months, n_columns)
        Percent returns per month, columns as the header names them (stripped), indexed by
        calendar month-end ``date``; the Library's missing codes (-99.99, -999) are NaN.

    Raises
    ------
    DataError
        When no monthly block is found or a row is malformed.
    """
    lines = text.splitlines()
    start = next(
        (
            i
            for i in range(len(lines) - 1)
            if _HEADER_ROW.match(lines[i]) and _MONTH_ROW.match(lines[i + 1])
        ),
        None,
    )
    fix = (
        "check optimization.factors.dataset; if the Library changed its format, download "
        "the file by hand and use optimization.factors.source: files with units: percent"
    )
    if start is None:
        raise DataError(
            STAGE,
            source,
            "no monthly table (a header ',Mkt-RF,...' followed by YYYYMM rows) in the file",
            fix,
        )
    columns = [c.strip() for c in lines[start].split(",")[1:]]
    months, values = [], []
    for number, line in enumerate(lines[start + 1 :], start=start + 2):
        if not _MONTH_ROW.match(line):
            break  # the blank line that ends the monthly block
        cells = line.split(",")
        if len(cells) != len(columns) + 1:
            raise DataError(
                STAGE,
                source,
                f"line {number} has {len(cells) - 1} values for {len(columns)} columns: {line!r}",
                fix,
            )
        try:
            values.append([float(c) for c in cells[1:]])
        except ValueError:
            problem = f"non-numeric value at line {number}: {line!r}"
            raise DataError(STAGE, source, problem, fix) from None
        months.append(cells[0].strip())
    table = pd.DataFrame(np.array(values, dtype="float64"), columns=columns)
    table = table.mask(table.isin(FRENCH_MISSING))
    table.index = month_end(pd.to_datetime(months, format="%Y%m")).rename("date")
    if table.index.duplicated().any() or not table.index.is_monotonic_increasing:
        raise DataError(STAGE, source, "the monthly rows are not in strictly increasing order", fix)
    return table


def _urlopen(url: str, timeout: float) -> bytes:
    """Fetch ``url`` with :mod:`urllib` (no new dependency)."""
    request = urllib.request.Request(url, headers={"User-Agent": "portflow"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.read()


def _csv_member(content: bytes, dataset: str) -> tuple[str, str]:
    """The name and text of the CSV inside a Library zip (raises ``BadZipFile``, ``KeyError``)."""
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        names = [n for n in archive.namelist() if n.lower().endswith(".csv")]
        if not names:
            raise KeyError(f"no .csv file in the zip (it holds {archive.namelist()})")
        name = next((n for n in names if Path(n).stem == dataset), names[0])
        return name, archive.read(name).decode("latin-1")


class FrenchLibrary:
    """Monthly factor returns from the Kenneth R. French Data Library, downloaded live.

    Parameters
    ----------
    config : FactorDataConfig
        ``dataset`` (the Library's file name, e.g. ``F-F_Research_Data_Factors``), ``as_of``,
        ``retries`` and ``backoff_seconds``.
    opener : callable, optional
        ``opener(url, timeout) -> bytes``; default :func:`urllib.request.urlopen`. Tests
        pass one that returns a recorded zip or raises.
    sleep : callable, default ``time.sleep``
        Called with the seconds to wait between retries.
    today : date, optional
        The date a null ``as_of`` resolves to; default the current date.
    timeout : float
        Seconds before one attempt gives up.
    """

    def __init__(
        self,
        config: FactorDataConfig,
        *,
        opener: Callable[[str, float], bytes] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        today: dt.date | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.config = config
        self._open = opener or _urlopen
        self._sleep = sleep
        self._today = today
        self._timeout = timeout

    @property
    def url(self) -> str:
        """Address of the configured dataset's zip."""
        return FRENCH_LIBRARY_URL.format(dataset=self.config.dataset)

    def files(self) -> None:
        """None: a download, cached in the store per request and as-of date instead."""
        return None

    def request(self) -> dict[str, Any]:
        """The JSON-able identity of a download, to key a cache on.

        Returns
        -------
        dict
            ``dataset`` (the Library's file name), ``url`` and ``as_of`` (ISO date; null
            ``as_of`` is today, so a live run downloads at most once a day).
        """
        as_of = self.config.as_of or self._today or dt.date.today()
        return {"dataset": self.config.dataset, "url": self.url, "as_of": as_of.isoformat()}

    def download(self) -> pd.DataFrame:
        """Download the dataset's zip and keep the CSV text inside, retrying with backoff.

        Any failure (network error, HTTP error, a response that is not a zip holding a
        CSV) is retried ``config.retries`` times, waiting ``backoff_seconds``, then twice
        that, and so on.

        Returns
        -------
        DataFrame of shape (1, 3)
            Columns ``url``, ``file`` (the CSV's name in the zip) and ``text`` (its full
            text): the recording itself, so a cached download can be parsed again by a
            later version of :meth:`parse`.

        Raises
        ------
        DataError
            Naming the URL, the last error and the fix, after the last attempt.
        """
        url = self.url
        attempts = self.config.retries + 1
        errors: list[str] = []
        for attempt in range(attempts):
            if attempt:
                self._sleep(self.config.backoff_seconds * 2 ** (attempt - 1))
            try:
                name, text = _csv_member(self._open(url, self._timeout), self.config.dataset)
            except Exception as exc:  # network, HTTP, not-a-zip: all retried
                errors.append(repr(exc))
                continue
            return pd.DataFrame({"url": [url], "file": [name], "text": [text]})
        raise DataError(
            STAGE,
            url,
            f"the Kenneth R. French Data Library did not answer with a zipped CSV after "
            f"{attempts} attempt(s); last error: {errors[-1]}",
            "check the network and run again later, or download the zip by hand, unzip it "
            "and set optimization.factors.source: files, path: <the .CSV>, units: percent",
        )

    def parse(self, raw: pd.DataFrame) -> pd.DataFrame:
        """Turn a :meth:`download` row into decimal monthly factor returns.

        Returns
        -------
        DataFrame of shape (n_months, n_columns)
            The monthly block of the file / 100, indexed by month-end ``date``; months
            ending after ``as_of`` are dropped, so a pinned ``as_of`` gives the same months
            even when the file is downloaded later.
        """
        row = raw.iloc[0]
        table = parse_french_csv(str(row["text"]), source=f"{row['url']} ({row['file']})") / 100
        as_of = pd.Timestamp(self.request()["as_of"])
        return table.loc[table.index <= as_of]

    def load(self) -> pd.DataFrame:
        """Download and parse: ``parse(download())``."""
        return self.parse(self.download())


FACTOR_SOURCES: dict[str, type] = {
    "sample": SampleFactors,
    "files": FileFactors,
    "french_library": FrenchLibrary,
}
"""``optimization.factors.source`` -> the class that provides it."""


def make_factor_source(config: FactorDataConfig) -> FactorSource:
    """The factor source for a config (its ``source`` field picks the class)."""
    return FACTOR_SOURCES[config.source](config)
