"""The ingest task: the configured source's data into content-addressed artifacts."""

from __future__ import annotations

import time
from dataclasses import dataclass

from portflow.config import DataConfig
from portflow.sources import YahooSource, make_source
from storage import ArtifactStore
from tasks import stage_task
from tasks.stage import StageResult, cached_download, persist

DOWNLOAD_STAGE = "yfinance_download"


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


@stage_task(name="ingest")
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
