"""A user-supplied daily panel (CSV or parquet), e.g. a CRSP daily stock file extract.

One row per (date, ticker). ``config.columns`` maps portflow fields to the file's columns
(a CRSP extract: ``{ticker: permno, close: prc, ret: ret, volume: vol,
shares_outstanding: shrout, sic: siccd}``); a field that is not mapped but is a column
under its own name is used as it is. Values are taken in the file's units (CRSP
``shrout`` is in thousands of shares; cap weights do not depend on the scale).

CRSP conventions applied to every price field: a negative price is a bid/ask midpoint, so
its absolute value is used; a zero price (no trade and no quote) is missing. Tickers are
text (a permno ``10001`` becomes ``"10001"``).

Without an adjusted close, a total-return index is built from ``ret`` per ticker (CRSP's
holding-period return, dividends included), ``adj_close = cumprod(1 + ret)``, with CRSP's
conventions for what is missing:

- a ticker's first row starts the index at 1 when its return is missing (a new listing
  has no earlier price), so the second day's return is kept;
- a delisting return ``dlret`` (on a ticker's last row) is compounded into that day's
  return, ``(1 + ret)(1 + dlret) - 1`` with a missing ``ret`` counting as 0, so the loss
  (or merger premium) of a stock that leaves is earned by whoever held it;
- a gap (rows without a price or a return) carries the last index value, as a stale
  price would: daily returns are 0 inside the gap, and the next return, which CRSP runs
  from the last price over gaps of up to 10 trading days, moves the index by the whole
  gap's return, so monthly compounding is exact. What a gap day holds depends only on the
  days before it (whether a later return will span the gap is not known on the day);
- a return that is unknown while a price exists (after a gap no return spans) leaves the
  index missing that day: the prices stage's ``missing`` policy decides (``keep`` leaves
  it missing, and the month has no return for that ticker);
- rows before a ticker's first price or return have no index.

Returns below -100% are rejected: they are CRSP's numeric missing-value codes (-66, -77,
-88, -99; -55, -44 for ``dlret``) read as numbers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from portflow.config import FilesData
from portflow.errors import DataError, preview
from portflow.sources.base import EXTRA_FIELDS, TIDY_FIELDS, MarketData
from portflow.sources.reads import reading
from portflow.sources.sample import french_factors, sample_path
from portflow.sources.tidy import filter_dates, month_end, naive_dates, risk_free_for, tidy

NUMERIC_FIELDS = (*TIDY_FIELDS, "ret", "dlret", *EXTRA_FIELDS)
"""Fields parsed as numbers; ``ret`` is a simple decimal return per day, ``dlret`` a
delisting return (CRSP: on the stock's last row)."""

FILE_FIELDS = ("date", "ticker", *NUMERIC_FIELDS)
"""Every field ``config.columns`` may map."""

PRICE_FIELDS = ("open", "high", "low", "close", "adj_close")


def _check_file(path: Path, setting: str) -> None:
    if not path.is_file():
        raise DataError("ingest", setting, f"no such file: {path}", "give the path of a file")
    if path.suffix not in (".csv", ".parquet"):
        raise DataError(
            "ingest", setting, f"unknown file type {path.suffix!r} ({path})", "use .csv or .parquet"
        )


def _unreadable(path: Path, setting: str, error: Exception) -> DataError:
    """The error for a file that is empty, not CSV text or not parquet."""
    problem = " ".join(str(error).split())[:200]
    return DataError(
        "ingest",
        setting,
        f"cannot read {path.name} as {path.suffix[1:]}: {problem}",
        f"give a {path.suffix[1:]} file with a header row and one row per record",
    )


def _header(path: Path, setting: str) -> list[str]:
    """The column names of a CSV or parquet file, without reading its rows."""
    _check_file(reading(path), setting)
    try:
        if path.suffix == ".csv":
            return list(pd.read_csv(path, nrows=0).columns)
        return [c for c in pq.read_schema(path).names if not c.startswith("__index_level_")]
    except (ValueError, OSError) as error:  # empty, not CSV text, not parquet (ArrowInvalid)
        raise _unreadable(path, setting, error) from None


def _read(path: Path, setting: str, columns: list[str] | None = None) -> pd.DataFrame:
    """Read a CSV (all columns as text) or parquet file, indexed by its line / row number.

    Only ``columns`` are read when given (a CRSP extract often carries many more). The
    index is named ``"line"`` for CSV (the header is line 1) and ``"row"`` for parquet
    (1-based), so that errors can point into the file.
    """
    _check_file(reading(path), setting)
    try:
        if path.suffix == ".csv":
            frame = pd.read_csv(path, dtype=str, usecols=columns)
            frame.index = pd.RangeIndex(2, len(frame) + 2, name="line")
        else:
            frame = pd.read_parquet(path, columns=columns).reset_index(drop=True)
            frame.index = pd.RangeIndex(1, len(frame) + 1, name="row")
    except (ValueError, OSError) as error:  # empty, not CSV text, not parquet (ArrowInvalid)
        raise _unreadable(path, setting, error) from None
    if frame.empty:
        header = f" below its header ({preview(frame.columns)})" if len(frame.columns) else ""
        raise DataError(
            "ingest",
            setting,
            f"{path.name} has no rows{header}",
            "give a file with a header row and at least one row of data",
        )
    return frame


def _rows(raw: pd.DataFrame, bad: pd.Series, columns: list[str]) -> str:
    """The first few flagged rows, e.g. ``line 4 (ret=C), line 9 (ret=B) (+3 more)``."""
    flagged = raw.loc[bad, columns]
    return preview(
        f"{raw.index.name} {i} ({', '.join(f'{c}={v}' for c, v in zip(columns, row, strict=True))})"
        for i, row in zip(flagged.index, flagged.itertuples(index=False), strict=True)
    )


def _dates(raw: pd.DataFrame, column: str) -> pd.Series:
    """Parse ``raw[column]`` as dates (integers such as CRSP's 20200131 included)."""
    values = raw[column]
    if pd.api.types.is_numeric_dtype(values):
        values = values.astype("Int64").astype(str)
    dates = pd.to_datetime(values, errors="coerce")
    if dates.isna().any():
        raise DataError(
            "ingest",
            column,
            f"missing or unparseable dates at {_rows(raw, dates.isna(), [column])}",
            "write dates as YYYY-MM-DD (or YYYYMMDD) in every row",
        )
    return naive_dates(dates)


def _numbers(raw: pd.DataFrame, column: str) -> pd.Series:
    """Parse ``raw[column]`` as floats; empty cells are missing, text is an error."""
    numbers = pd.to_numeric(raw[column], errors="coerce").astype("float64")
    bad = numbers.isna() & raw[column].notna()
    if bad.any():
        raise DataError(
            "ingest",
            column,
            f"non-numeric values at {_rows(raw, bad, [column])}",
            "leave missing values empty or drop those rows (CRSP letter codes in ret, "
            "such as B or C, mean no valid return)",
        )
    return numbers


def total_return_index(raw: pd.DataFrame, panel: pd.DataFrame, names: dict[str, str]) -> pd.Series:
    """``adj_close`` from ``ret`` (and ``dlret``) with the conventions of the module docstring.

    Parameters
    ----------
    raw : DataFrame
        The file as read (for error messages).
    panel : DataFrame
        Parsed ``date``, ``ticker``, ``ret`` and, if the file has them, ``close`` and
        ``dlret``, on the rows of ``raw``.
    names : dict
        Field -> file column.

    Returns
    -------
    Series
        The index on the rows of ``panel``.

    Raises
    ------
    DataError
        On a return or delisting return below -1 (a numeric missing-value code).
    """
    for field in ("ret", "dlret"):
        if field in panel:
            bad = panel[field] < -1
            if bad.any():
                raise DataError(
                    "ingest",
                    names[field],
                    f"returns below -100% at {_rows(raw, bad, [names[field]])}",
                    "these look like CRSP numeric missing-value codes (-66, -77, -88, -99; "
                    "-55, -44 for delisting returns): leave missing returns empty",
                )
    codes, _ = pd.factorize(panel["ticker"])
    order = np.lexsort((panel["date"].to_numpy(), codes))  # by ticker, then date
    needed = [c for c in ("ret", "dlret", "close") if c in panel]
    rows = panel[needed].take(order)
    ret = rows["ret"]
    if "dlret" in rows:
        ret = ret.where(rows["dlret"].isna(), (1 + ret.fillna(0.0)) * (1 + rows["dlret"]) - 1)
    ticker = pd.Series(codes[order], index=rows.index)
    priced = ret.notna() | (rows["close"].notna() if "close" in rows else False)
    seen = priced.astype(int).groupby(ticker).cumsum()  # priced rows up to each row
    unknown = (priced & ret.isna() & (seen > 1)) | (seen == 0)
    level = (1.0 + ret.fillna(0.0)).groupby(ticker).cumprod()
    return level.mask(unknown).reindex(panel.index)


def _unique(raw: pd.DataFrame, keys: pd.DataFrame, columns: list[str]) -> None:
    """Raise if two rows share the same ``keys`` (parsed values of ``raw[columns]``)."""
    repeated = keys.duplicated(keep=False)
    if repeated.any():
        raise DataError(
            "ingest",
            ", ".join(columns),
            f"duplicate rows at {_rows(raw, repeated, columns)}",
            "keep one row per key (for CRSP, drop repeated rows such as share-class "
            "or distribution duplicates)",
        )


class FilesSource:
    """Source of a daily panel read from a CSV or parquet file; see the module docstring.

    Parameters
    ----------
    config : FilesData
        ``path``, ``columns`` mapping, ``benchmark`` ticker, date range and risk-free file.
    """

    def __init__(self, config: FilesData) -> None:
        self.config = config

    def load(self) -> MarketData:
        """Read, validate and cut the panel; read the risk-free rate.

        Raises
        ------
        DataError
            Naming the column and the first offending rows on: a missing file or required
            column (date, ticker and one of adj_close / close / ret), an unknown field in
            ``data.columns``, unparseable dates, text in numeric columns, duplicate (date,
            ticker) rows, a benchmark that is not in the panel, or no data in the range.
        """
        path = Path(self.config.path)
        names = self._columns(_header(path, "data.path"), path)
        raw = _read(path, "data.path", list(dict.fromkeys(names.values())))
        panel = pd.DataFrame(
            {"date": _dates(raw, names["date"]), "ticker": self._tickers(raw, names["ticker"])}
        )
        _unique(raw, panel, [names["date"], names["ticker"]])
        for field in NUMERIC_FIELDS:
            if field in names:
                panel[field] = _numbers(raw, names[field])
        for field in PRICE_FIELDS:
            if field in panel:
                panel[field] = panel[field].abs().where(lambda p: p != 0)
        if "adj_close" not in panel and "ret" in panel:
            panel["adj_close"] = total_return_index(raw, panel, names)
        del raw  # the parsed panel holds everything from here on
        daily = filter_dates(tidy(panel), self.config.start, self.config.end, what=path.name)
        benchmark = self.config.benchmark
        if benchmark is not None and not (daily["ticker"] == benchmark).any():
            raise DataError(
                "ingest",
                "data.benchmark",
                f"{benchmark!r} is not a ticker of {path.name} in the date range; its tickers "
                f"include {preview(sorted(daily['ticker'].unique()))}",
                "set data.benchmark to one of the panel's tickers, or to null",
            )
        frequency = self.config.risk_free_frequency
        return MarketData(
            daily, benchmark, risk_free_for(self._risk_free(), daily, frequency), frequency
        )

    def _columns(self, header: list[str], path: Path) -> dict[str, str]:
        """Map each field the file provides to its column (``header``: the file's column
        names); check the required ones exist."""
        mapping = self.config.columns
        unknown = sorted(set(mapping) - set(FILE_FIELDS))
        if unknown:
            raise DataError(
                "ingest",
                "data.columns",
                f"unknown field(s) {preview(unknown)}",
                f"map only these fields: {' '.join(FILE_FIELDS)}",
            )
        absent = {f: c for f, c in mapping.items() if c not in header}
        if absent:
            raise DataError(
                "ingest",
                ", ".join(f"data.columns.{f}" for f in absent),
                f"{path.name} has no column {preview(absent.values())}; its columns are "
                f"{preview(header, limit=20)}",
                "map each field to one of the file's columns (names are case-sensitive)",
            )
        mapped = set(mapping.values())
        names = {f: f for f in FILE_FIELDS if f in header and f not in mapped} | mapping
        required = [f for f in ("date", "ticker") if f not in names]
        if not {"adj_close", "close", "ret"} & names.keys():
            required.append("adj_close, close or ret")
        if required:
            raise DataError(
                "ingest",
                "data.columns",
                f"{path.name} has no column for {' / '.join(required)}; its columns are "
                f"{preview(header, limit=20)}",
                "name the columns after the fields or map them in data.columns, "
                "e.g. {ticker: permno, close: prc}",
            )
        return names

    @staticmethod
    def _tickers(raw: pd.DataFrame, column: str) -> pd.Series:
        """Tickers as text; whole-number floats (a permno read as 10001.0) lose the ``.0``."""
        values = raw[column]
        if values.isna().any():
            raise DataError(
                "ingest",
                column,
                f"missing tickers at {_rows(raw, values.isna(), [column])}",
                "give every row a ticker (or drop those rows)",
            )
        if pd.api.types.is_float_dtype(values) and (values % 1 == 0).all():
            values = values.astype("int64")
        return values.astype(str)

    def files(self) -> list[Path]:
        """The files :meth:`load` reads: the panel and the risk-free file (or the bundled
        Ken French rate's); found, not read."""
        config = self.config
        if config.risk_free_path is not None:
            return [Path(config.path), Path(config.risk_free_path)]
        return [Path(config.path), sample_path("french_factors")]

    def _risk_free(self) -> pd.Series:
        """The risk-free file (columns ``date``, ``rf``), or Ken French's monthly RF."""
        config = self.config
        if config.risk_free_path is None:
            if config.risk_free_frequency == "daily":
                raise DataError(
                    "ingest",
                    "data.risk_free_frequency",
                    "daily, but no data.risk_free_path; the default Ken French rate is monthly",
                    "set risk_free_frequency: monthly, or give a daily risk_free_path",
                )
            return french_factors()["RF"].rename("rf")
        path = Path(config.risk_free_path)
        raw = _read(path, "data.risk_free_path")
        missing = [c for c in ("date", "rf") if c not in raw.columns]
        if missing:
            raise DataError(
                "ingest",
                "data.risk_free_path",
                f"{path.name} has no column {preview(missing)}; its columns are "
                f"{preview(raw.columns, limit=20)}",
                "give the file the columns date and rf (decimal rate per period)",
            )
        dates = _dates(raw, "date")
        if config.risk_free_frequency == "monthly":
            dates = pd.Series(month_end(dates), index=raw.index)
        _unique(raw, dates.to_frame(), ["date"])
        rf = pd.Series(_numbers(raw, "rf").to_numpy(), index=pd.DatetimeIndex(dates, name="date"))
        return rf.sort_index().rename("rf")
