"""Source stages: a source's data into artifacts versioned by their content.

``ingest`` turns a data section into ``market_data`` and ``risk_free_source``;
``factor_source`` turns ``optimization.factors`` into the factor returns. A live source's
raw download is itself cached in the store per request and as-of date.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from portflow.config import DataConfig
from portflow.config.optimization import FactorDataConfig
from portflow.sources import YahooSource, make_source
from portflow.sources.factors import FrenchLibrary, make_factor_source
from storage import ArtifactStore
from tasks import pipeline_task
from tasks.stage import StageResult, cached_download, persist

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


@pipeline_task(name="ingest")
def ingest(store_url: str, data: DataConfig, run_id: str | None = None) -> Ingested:
    """Load the source's daily table and risk-free series; version them by content."""
    started = time.perf_counter()
    store = ArtifactStore(store_url)
    source = make_source(data)
    download = None
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
    return Ingested(daily, rf, market.benchmark, download)


@pipeline_task(name="factor_source")
def factor_source(
    store_url: str, config: FactorDataConfig, run_id: str | None = None
) -> StageResult:
    """Factor returns from ``config.source``, versioned by content (like ``ingest``).

    A ``french_library`` download is cached in the store per dataset and as-of date.
    """
    started = time.perf_counter()
    store = ArtifactStore(store_url)
    source = make_factor_source(config)
    upstream = None
    if isinstance(source, FrenchLibrary):
        raw, download = cached_download(store, FRENCH_DOWNLOAD_STAGE, source, run_id)
        table = source.parse(raw)
        upstream = {"download": download.ref}
    else:
        table = source.load()
    return persist(
        store,
        "factor_source",
        table,
        started=started,
        params=config.model_dump(mode="json"),
        upstream=upstream,
        run_id=run_id,
    )
