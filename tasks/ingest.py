"""Source stages: a source's data into artifacts versioned by their content.

``ingest`` turns a data section into ``market_data`` and ``risk_free_source``;
``factor_source`` turns ``optimization.factors`` into the factor returns. A live source's
raw download is itself cached in the store per request and as-of date.

Versions by content mean reading the source. To spare a re-run that, a source stage that
reads files (or nothing: the synthetic source) leaves a memo in the store: the files it
read, stamped (:mod:`portflow.sources.reads`), and the versions it gave, under a key of
its config and of the ingesting code's version. :func:`known_ingest` and
:func:`known_factor_source` return those versions, without reading anything, when the
source would read the same files (its ``files()``, resolved now) and every file still has
its stamp and every version verifies; otherwise (a file touched, replaced or gone, a
relative path from another directory, new code, a damaged memo or artifact) the source is
read again as before. Live downloads (yfinance, the French Data Library) leave no memo:
their cache is per as-of date.
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from portflow.config import DataConfig
from portflow.config.optimization import FactorDataConfig
from portflow.errors import DataError
from portflow.sources import Source, YahooSource, make_source
from portflow.sources.factors import FactorSource, FrenchLibrary, make_factor_source
from portflow.sources.reads import FileStamp, recorded_reads
from storage import ArtifactRef, ArtifactStore, StoreSpec
from storage.versions import canonical_json, module_version
from tasks import pipeline_task
from tasks.stage import StageResult, cached_download, persist, warn

DOWNLOAD_STAGE = "yfinance_download"
FRENCH_DOWNLOAD_STAGE = "french_library_download"


@dataclass(frozen=True)
class Ingested:
    """Refs to the ingested tables, and the benchmark ticker among the daily data."""

    market_data: StageResult
    risk_free_source: StageResult
    benchmark: str | None
    download: StageResult | None = None

    @property
    def results(self) -> list[StageResult]:
        found = [self.download] if self.download else []
        return [*found, self.market_data, self.risk_free_source]

    @property
    def outputs(self) -> dict[str, StageResult]:
        """The tables by name, as the shared stages take them."""
        return {"market_data": self.market_data, "risk_free_source": self.risk_free_source}


MEMO_CODE = ("tasks.ingest", "tasks.stage", "storage.versions")
"""Modules whose code (with every portflow module they import) keys a source memo."""


def memo_key(stage: str, config: BaseModel) -> str:
    """The memo of source stage ``stage`` with ``config``, under the current code."""
    payload = {
        "stage": stage,
        "config": config.model_dump(mode="json"),
        "code": [module_version(module) for module in MEMO_CODE],
    }
    return f"{stage}-{hashlib.sha256(canonical_json(payload).encode()).hexdigest()[:16]}"


def _paths(files: list[Path]) -> list[str]:
    return sorted({os.path.abspath(path) for path in files})


def remember(
    store: ArtifactStore,
    key: str,
    source: Source | FactorSource,
    reads: list[FileStamp],
    versions: dict,
) -> None:
    """Leave the memo ``key``: the files ``source`` read and the versions they gave.

    Nothing is remembered for a download, when the files read are not exactly those the
    source declares (:meth:`~portflow.sources.base.Source.files`), or when a file had
    changed too recently for its stamp to be trusted (:meth:`FileStamp.settled`).
    """
    files = source.files()
    stamps = {stamp.key(): stamp for stamp in reads}.values()  # one per file state
    if (
        files is not None
        and _paths(files) == sorted({stamp.path for stamp in stamps})
        and all(stamp.settled() for stamp in stamps)
    ):
        document = {"reads": [stamp.as_json() for stamp in stamps], "versions": versions}
        store.save_memo(key, document)


def remembered(store: ArtifactStore, key: str, source: Source | FactorSource) -> dict | None:
    """The versions of the memo ``key`` when the files ``source`` would read now are the
    files it read (a relative path from another directory, another installation of a
    sample package: other files) and each still has its stamp."""
    memo = store.read_memo(key)
    if memo is None:
        return None
    try:
        stamps = [FileStamp.from_json(value) for value in memo["reads"]]
        versions = dict(memo["versions"])
        files = source.files()
    except (KeyError, TypeError, ValueError):  # not a memo of this module's
        return None
    except DataError:  # a sample package gone: ingest says so
        return None
    if files is None or _paths(files) != sorted({stamp.path for stamp in stamps}):
        return None
    return versions if all(stamp.current() for stamp in stamps) else None


def _reused(store: ArtifactStore, stage: str, version: Any, started: float) -> StageResult | None:
    """``stage@version`` as a reused result when it is in the store and verifies."""
    if not isinstance(version, str):
        return None
    manifest = store.reusable(ArtifactRef(stage, version), warn)
    if manifest is None:
        return None
    return StageResult(stage, version, manifest.rows, "reused", time.perf_counter() - started)


def known_ingest(store_url: StoreSpec, data: DataConfig) -> Ingested | None:
    """What :func:`ingest` would give for ``data``, from its memo, without reading the
    source; None when the memo is missing or out of date."""
    started = time.perf_counter()
    store = ArtifactStore(store_url)
    versions = remembered(store, memo_key("ingest", data), make_source(data))
    if versions is None:
        return None
    results = [
        _reused(store, stage, versions.get(stage), started)
        for stage in ("market_data", "risk_free_source")
    ]
    benchmark = versions.get("benchmark")
    if None in results or not isinstance(benchmark, str | None):
        return None
    return Ingested(*results, benchmark)


def known_factor_source(store_url: StoreSpec, config: FactorDataConfig) -> StageResult | None:
    """What :func:`factor_source` would give for ``config``, from its memo (see
    :func:`known_ingest`)."""
    started = time.perf_counter()
    store = ArtifactStore(store_url)
    source = make_factor_source(config)
    versions = remembered(store, memo_key("factor_source", config), source)
    if versions is None:
        return None
    return _reused(store, "factor_source", versions.get("factor_source"), started)


@pipeline_task(name="ingest")
def ingest(store_url: StoreSpec, data: DataConfig, run_id: str | None = None) -> Ingested:
    """Load the source's daily table and risk-free series; version them by content."""
    started = time.perf_counter()
    store = ArtifactStore(store_url)
    source = make_source(data)
    download = None
    with recorded_reads() as reads:
        if isinstance(source, YahooSource):
            raw, download = cached_download(store, DOWNLOAD_STAGE, source, run_id)
            market = source.parse(raw)
        else:
            market = source.load()
    lineage = {"source": data.model_dump(mode="json"), "benchmark": market.benchmark}
    upstream = {"download": download.ref} if download else None
    daily = persist(
        store,
        "market_data",
        market.daily,
        started=started,
        params=lineage,
        upstream=upstream,
        run_id=run_id,
    )
    risk_free = market.risk_free.rename(f"rf_{market.risk_free_frequency}").to_frame()
    risk_free.index.name = "date"
    rf = persist(
        store,
        "risk_free_source",
        risk_free,
        started=time.perf_counter(),
        params=lineage,
        upstream=upstream,
        run_id=run_id,
    )
    versions = {"market_data": daily.version, "risk_free_source": rf.version}
    versions["benchmark"] = market.benchmark
    remember(store, memo_key("ingest", data), source, reads, versions)
    return Ingested(daily, rf, market.benchmark, download)


@pipeline_task(name="factor_source")
def factor_source(
    store_url: StoreSpec, config: FactorDataConfig, run_id: str | None = None
) -> StageResult:
    """Factor returns from ``config.source``, versioned by content (like ``ingest``).

    A ``french_library`` download is cached in the store per dataset and as-of date.
    """
    started = time.perf_counter()
    store = ArtifactStore(store_url)
    source = make_factor_source(config)
    upstream = None
    with recorded_reads() as reads:
        if isinstance(source, FrenchLibrary):
            raw, download = cached_download(store, FRENCH_DOWNLOAD_STAGE, source, run_id)
            table = source.parse(raw)
            upstream = {"download": download.ref}
        else:
            table = source.load()
    result = persist(
        store,
        "factor_source",
        table,
        started=started,
        params=config.model_dump(mode="json"),
        upstream=upstream,
        run_id=run_id,
    )
    remember(
        store, memo_key("factor_source", config), source, reads, {"factor_source": result.version}
    )
    return result
