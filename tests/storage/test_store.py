"""The artifact store: round trips, immutability, checksums, atomicity, concurrency."""

import json
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pandas as pd
import pytest

from portflow.errors import ArtifactError
from storage import ArtifactRef, ArtifactStore, RunRecord, content_version, lineage_version


def wide_frame() -> pd.DataFrame:
    index = pd.bdate_range("2020-01-01", periods=30, name="date")
    columns = pd.Index(["AAPL", "MSFT", "SP500"], name="ticker")
    rng = np.random.default_rng(0)
    return pd.DataFrame(rng.normal(size=(30, 3)), index=index, columns=columns)


def tidy_frame() -> pd.DataFrame:
    dates = pd.bdate_range("2021-03-01", periods=4)
    return pd.DataFrame(
        {
            "date": np.repeat(dates, 2),
            "ticker": ["IBM", "MSFT"] * 4,
            "adj_close": np.linspace(10.0, 17.0, 8),
            "volume": np.arange(8, dtype="int64") * 1000,
        }
    )


@pytest.fixture(params=["local", "memory"])
def store(request, tmp_path):
    if request.param == "local":
        return ArtifactStore(str(tmp_path / "store"))
    root = f"memory://portflow-{request.node.name}-{time.time_ns()}"
    return ArtifactStore(root)


@pytest.mark.parametrize("make", [wide_frame, tidy_frame])
def test_round_trip_is_lossless(store, make):
    frame = make()
    ref = store.save("stage", frame, version="v1", params={"window": 30})
    loaded = store.load(ref)
    pd.testing.assert_frame_equal(loaded, frame, check_freq=False)
    assert loaded.columns.name == frame.columns.name
    assert loaded.index.name == frame.index.name


def test_manifest_records_lineage_and_schema(store):
    frame = wide_frame()
    upstream = {"prices": ArtifactRef("prices", "abc")}
    ref = store.save(
        "daily",
        frame,
        version="v1",
        params={"k": 1},
        upstream=upstream,
        code_version="c0de",
        run_id="run-1",
    )
    manifest = store.manifest(ref)
    assert (manifest.stage, manifest.version) == ("daily", "v1")
    assert manifest.upstream == {"prices": "prices@abc"}
    assert manifest.params == {"k": 1}
    assert (manifest.rows, manifest.columns) == (30, 3)
    assert [c.name for c in manifest.columns_schema] == ["AAPL", "MSFT", "SP500"]
    assert manifest.index == ["date"]
    assert manifest.code_version == "c0de" and manifest.run_id == "run-1"
    raw = json.loads(store.fs.cat_file(store._manifest_path(ref)))
    assert "schema" in raw and len(raw["sha256"]) == 64


def test_versions_are_never_overwritten(store):
    first = wide_frame()
    ref = store.save("stage", first, version="v1")
    store.save("stage", first * 2, version="v1")
    pd.testing.assert_frame_equal(store.load(ref), first, check_freq=False)


def test_default_version_is_the_content_hash(store):
    frame = tidy_frame()
    ref = store.save("ingest", frame)
    assert ref.version == content_version(frame)
    assert store.save("ingest", frame.copy()) == ref
    changed = frame.assign(adj_close=frame.adj_close + 1e-9)
    assert content_version(changed) != ref.version


def test_lineage_version_depends_on_every_input():
    base = lineage_version("s", "code", {"a": 1}, {"up": "v1"})
    assert base == lineage_version("s", "code", {"a": 1}, {"up": "v1"})
    assert (
        len(
            {
                base,
                lineage_version("t", "code", {"a": 1}, {"up": "v1"}),
                lineage_version("s", "code2", {"a": 1}, {"up": "v1"}),
                lineage_version("s", "code", {"a": 2}, {"up": "v1"}),
                lineage_version("s", "code", {"a": 1}, {"up": "v2"}),
            }
        )
        == 5
    )


def test_checksum_mismatch_is_detected(store):
    ref = store.save("stage", wide_frame(), version="v1")
    path = store._data_path(ref)
    payload = bytearray(store.fs.cat_file(path))
    payload[len(payload) // 2] ^= 0xFF
    store.fs.pipe_file(path, bytes(payload))
    with pytest.raises(
        ArtifactError, match=r"\[stage\] data.parquet: checksum mismatch.*Fix: delete"
    ):
        store.load(ref)


def test_missing_version_names_the_fix(store):
    with pytest.raises(ArtifactError, match="portflow artifacts list"):
        store.load(ArtifactRef("nothing", "v0"))


def test_listing_resolving_and_run_records(store):
    a = store.save("stage", wide_frame(), version="aaaa1111")
    time.sleep(0.01)
    b = store.save("stage", tidy_frame(), version="bbbb2222")
    store.save("other", tidy_frame(), version="cccc")
    assert store.stages() == ["other", "stage"]
    assert [m.version for m in store.manifests("stage")] == ["aaaa1111", "bbbb2222"]
    assert store.resolve("stage") == b
    assert store.resolve("stage@aaaa") == a
    with pytest.raises(ArtifactError, match="no artifact matches"):
        store.resolve("stage@zzz")
    now = pd.Timestamp.now(tz="UTC").to_pydatetime()
    record = RunRecord(
        run_id="r-123",
        config_name="default",
        config={"name": "default"},
        started_at=now,
        finished_at=now,
        stages=[{"stage": "stage", "version": b.version, "status": "computed"}],
    )
    store.save_run(record)
    assert store.runs() == [record]
    assert store.run("r-1") == record


def test_version_without_manifest_does_not_exist(tmp_path):
    """A writer that dies after the data but before the manifest leaves no version."""
    store = ArtifactStore(str(tmp_path))
    ref = ArtifactRef("stage", "v1")
    store.fs.makedirs(store._path("stage", "v1"), exist_ok=True)
    store.fs.pipe_file(store._data_path(ref), b"half-written")
    assert not store.exists(ref)
    assert store.manifests() == []
    frame = wide_frame()
    store.save("stage", frame, version="v1")
    pd.testing.assert_frame_equal(store.load(ref), frame, check_freq=False)


_SLOW_WRITER = textwrap.dedent("""
    import sys, time
    import numpy as np, pandas as pd
    from storage import store as store_module
    real = store_module.ArtifactStore._atomic_write
    def slow(self, path, payload):
        if path.endswith("manifest.json"):
            print("data-written", flush=True)
            time.sleep(60)
        real(self, path, payload)
    store_module.ArtifactStore._atomic_write = slow
    frame = pd.DataFrame({"x": np.arange(1000.0)})
    store_module.ArtifactStore(sys.argv[1]).save("stage", frame, version="v1")
""")


def test_writer_killed_mid_write_leaves_no_visible_version(tmp_path):
    root = str(tmp_path / "store")
    writer = subprocess.Popen(
        [sys.executable, "-c", _SLOW_WRITER, root], stdout=subprocess.PIPE, text=True
    )
    assert writer.stdout.readline().strip() == "data-written"
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait()
    store = ArtifactStore(root)
    assert not store.exists(ArtifactRef("stage", "v1"))
    assert store.manifests() == []
    leftovers = os.listdir(tmp_path / "store" / "stage" / "v1")
    assert "manifest.json" not in leftovers


def _save_same_version(root: str, barrier) -> str:
    frame = pd.DataFrame({"x": np.arange(200_000.0)})
    store = ArtifactStore(root)
    barrier.wait()
    return str(store.save("stage", frame, version="same"))


def test_two_processes_writing_the_same_version_both_succeed(tmp_path):
    root = str(tmp_path / "store")
    context = mp.get_context("spawn")
    with context.Manager() as manager:
        barrier = manager.Barrier(2)
        with context.Pool(2) as pool:
            refs = pool.starmap(_save_same_version, [(root, barrier), (root, barrier)])
    assert refs == ["stage@same", "stage@same"]
    store = ArtifactStore(root)
    loaded = store.load(ArtifactRef("stage", "same"))
    assert len(loaded) == 200_000
    assert not [
        f for f in os.listdir(tmp_path / "store" / "stage" / "same") if f.startswith(".tmp")
    ]


def _load_module(name: str, path):
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def test_code_version_follows_every_portflow_module_a_stage_uses(tmp_path, monkeypatch):
    from storage import code_version

    helper = tmp_path / "helper.py"
    stage = tmp_path / "stage.py"
    helper.write_text("def scale(x):\n    return 2 * x\n")
    stage.write_text("from portflow._tmp_helper import scale\n\ndef f(x):\n    return scale(x)\n")
    monkeypatch.setitem(sys.modules, "portflow._tmp_helper", None)
    monkeypatch.setitem(sys.modules, "portflow._tmp_stage", None)
    _load_module("portflow._tmp_helper", helper)
    before = code_version(_load_module("portflow._tmp_stage", stage).f)
    assert code_version(sys.modules["portflow._tmp_stage"].f) == before

    helper.write_text("def scale(x):\n    return 3 * x\n")
    _load_module("portflow._tmp_helper", helper)
    assert code_version(_load_module("portflow._tmp_stage", stage).f) != before
