"""What verified reuse costs: reuse checks and loads with and without verification, in one run.

Policy measured (storage/store.py): every reuse check verifies the version in full (the
manifest's own checksum, then the data's size and sha256, streamed from the file), and every
load verifies the manifest and the size and sha256 of the bytes it reads. Nothing is cached
between checks, so a file damaged after it was checked is caught by the next check.

Three measurements, each against a baseline taken in the same run (best of ``--repeat``):

1. A warm re-run of real stages, inline (no Prefect): the shared stages of the two data
   sections of configs/default.yaml (sample data), the beta hedge and the
   volatility-managed portfolios; every stage is reused. Baseline: the same re-run with the
   reuse check before this change (manifest read, data not verified).
2. Reuse checks alone over every version of a store: verified (``reusable``) against the
   unverified check (``exists`` + ``manifest``), for the store of (1) and for synthetic
   stores of 70 versions of random panels, 17 MB (the size of the default pipeline's
   store: 70 versions, 17 MB) and 170 MB (``--synthetic-mb``).
3. Loads of every version: ``load`` (verified) against reading the bytes and parsing the
   parquet without any check, and the time of hashing the bytes alone. The load before
   this change verified the sha256 too; parsing the parquet dominates either way.

Run: ``.venv/bin/python benchmarks/store_verification.py`` (under a minute).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import tempfile
import time
from collections.abc import Callable
from contextlib import contextmanager

import numpy as np
import pandas as pd

from portflow.config import load_config
from storage import ArtifactStore, Manifest
from tasks.hedge import HEDGE
from tasks.ingest import ingest
from tasks.run import PipelineRun
from tasks.shared import SHARED
from tasks.vol_managed import VOL_MANAGED


def best_of(repeat: int, *actions: Callable[[], object]) -> list[float]:
    """Shortest wall time of each action over ``repeat`` rounds, in seconds; the actions
    alternate within a round so that load on the machine affects them alike."""
    times: list[list[float]] = [[] for _ in actions]
    for _ in range(repeat):
        for action, spent in zip(actions, times, strict=True):
            started = time.perf_counter()
            action()
            spent.append(time.perf_counter() - started)
    return [min(spent) for spent in times]


def unverified_warm_run(root: str) -> list[str]:
    with unverified_reuse():
        return warm_run(root)


def warm_run(root: str) -> list[str]:
    """Shared stages per data section, hedge and vol_managed of configs/default.yaml."""
    settings = load_config("default")
    run = PipelineRun(root, settings, inline=True)
    universes = {}
    for strategy in ("hedge", "vol_managed"):
        data = settings.data_for(strategy)
        key = data.model_dump_json()
        if key not in universes:
            ingested = ingest.fn(root, data)
            run.record(strategy, *ingested.results)
            outputs = run.submit(strategy, SHARED, ingested.outputs)
            universes[key] = (ingested.benchmark, outputs)
        benchmark, outputs = universes[key]
        stages = HEDGE if strategy == "hedge" else VOL_MANAGED
        context = {"benchmark": benchmark} if strategy == "hedge" else {"market": benchmark}
        run.submit(strategy, stages, outputs, **context)
    return [row["status"] for row in run.rows()]


@contextmanager
def unverified_reuse():
    """The reuse check before this change: a readable manifest, the data not verified."""
    verify = ArtifactStore.verify
    ArtifactStore.verify = ArtifactStore.manifest
    try:
        yield
    finally:
        ArtifactStore.verify = verify


def synthetic_store(root: str, megabytes: float, versions: int = 70) -> ArtifactStore:
    """``versions`` random float panels whose parquet files add up to about ``megabytes``."""
    store = ArtifactStore(root)
    rng = np.random.default_rng(0)
    weights = rng.lognormal(sigma=1.5, size=versions)
    rows = np.maximum(10, (weights / weights.sum() * megabytes * 1e6 / (20 * 10.3)).astype(int))
    for i, n in enumerate(rows):
        frame = pd.DataFrame(rng.normal(size=(n, 20)), columns=[f"a{j}" for j in range(20)])
        store.save("panel", frame, version=f"v{i:03d}")
    return store


def raw_load(store: ArtifactStore, manifest: Manifest) -> pd.DataFrame:
    return pd.read_parquet(io.BytesIO(store.fs.cat_file(store._data_path(manifest.ref))))


def report_store(name: str, store: ArtifactStore, repeat: int) -> None:
    manifests = store.manifests()
    size = sum(m.size_bytes for m in manifests) / 1e6
    refs = [m.ref for m in manifests]

    def unverified() -> None:
        for ref in refs:
            assert store.exists(ref) and store.manifest(ref)

    def verified() -> None:
        for ref in refs:
            assert store.reusable(ref) is not None

    def loads() -> None:
        for ref in refs:
            store.load(ref)

    def raw_loads() -> None:
        for manifest in manifests:
            raw_load(store, manifest)

    payloads = [store.fs.cat_file(store._data_path(ref)) for ref in refs]

    def hashing() -> None:
        for payload in payloads:
            hashlib.sha256(payload).hexdigest()

    t_unverified, t_verified, t_raw, t_load, t_hash = best_of(
        repeat, unverified, verified, raw_loads, loads, hashing
    )
    print(f"\n{name}: {len(refs)} versions, {size:.1f} MB of parquet")
    print(
        f"  reuse checks  unverified {t_unverified * 1e3:8.1f} ms   verified "
        f"{t_verified * 1e3:8.1f} ms   ratio {t_verified / t_unverified:6.1f}x   "
        f"(+{(t_verified - t_unverified) * 1e3 / len(refs):.2f} ms per version, "
        f"{size / (t_verified - t_unverified):.0f} MB/s)"
    )
    print(
        f"  loads         unchecked  {t_raw * 1e3:8.1f} ms   verified "
        f"{t_load * 1e3:8.1f} ms   ratio {t_load / t_raw:6.2f}x   "
        f"(sha256 of the bytes alone {t_hash * 1e3:.1f} ms)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="best of this many runs")
    parser.add_argument(
        "--synthetic-mb", type=float, nargs="+", default=[17.0, 170.0], help="store sizes"
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="portflow-bench-") as tmp:
        root = f"{tmp}/real"
        assert set(warm_run(root)) == {"computed"}
        assert set(warm_run(root)) == {"reused"}  # warm caches before timing
        t_unverified, t_verified = best_of(
            args.repeat, lambda: unverified_warm_run(root), lambda: warm_run(root)
        )
        store = ArtifactStore(root)
        print(
            f"warm re-run, inline, shared + hedge + vol_managed of configs/default.yaml "
            f"({len(store.manifests())} versions reused)\n"
            f"  unverified reuse {t_unverified:6.3f} s   verified reuse {t_verified:6.3f} s   "
            f"ratio {t_verified / t_unverified:5.3f}x   "
            f"(+{(t_verified - t_unverified) * 1e3:.1f} ms)"
        )
        report_store("store of the warm re-run", store, args.repeat)
        for megabytes in args.synthetic_mb:
            synthetic = synthetic_store(f"{tmp}/synthetic-{megabytes:g}", megabytes)
            report_store("synthetic store", synthetic, args.repeat)


if __name__ == "__main__":
    main()
