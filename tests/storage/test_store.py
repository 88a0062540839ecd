"""The artifact store: round trips, immutability, checksums, atomicity, concurrency."""

import json
import multiprocessing as mp
import os
import re
import signal
import subprocess
import sys
import textwrap
import time

import fsspec
import numpy as np
import pandas as pd
import pytest

from portflow.errors import ArtifactError
from storage import (
    ArtifactRef,
    ArtifactStore,
    DamagedArtifactError,
    RunRecord,
    content_version,
    lineage_version,
)


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
    name = re.sub(r"\W", "-", request.node.name)
    root = f"memory://portflow-{name}-{time.time_ns()}"
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
        ArtifactError,
        match=r"\[stage\] stage@v1/data.parquet: checksum mismatch.*"
        r"Fix: re-run the pipeline.*portflow store verify --repair",
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
    real = store_module.locked_temp_file
    def slow(directory, name, payload):
        if name.endswith("manifest.json"):
            print("data-written", flush=True)
            time.sleep(60)
        return real(directory, name, payload)
    store_module.locked_temp_file = slow
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
    # The dead writer's commit lock was released with it: the version can be written now.
    frame = pd.DataFrame({"x": np.arange(10.0)})
    store.save("stage", frame, version="v1")
    pd.testing.assert_frame_equal(store.load(ArtifactRef("stage", "v1")), frame)


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
    for folder in (tmp_path / "store" / "stage", tmp_path / "store" / "stage" / "same"):
        assert not [f for f in os.listdir(folder) if f.startswith(".tmp")]


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


def test_opening_a_store_creates_nothing_until_something_is_written(tmp_path):
    root = tmp_path / "typo"
    store = ArtifactStore(str(root))
    assert (store.manifests(), store.runs(), store.stages()) == ([], [], [])
    assert not store.exists(ArtifactRef("stage", "v1"))
    with pytest.raises(ArtifactError, match=r"\[store\] root: no store at .*typo"):
        store.require()
    assert not root.exists()
    store.save("stage", wide_frame(), version="v1")
    store.require()


def test_a_root_that_is_a_file_or_an_unknown_protocol_is_one_clear_error(tmp_path):
    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(ArtifactError, match="is a file, not a directory"):
        ArtifactStore(str(a_file))
    with pytest.raises(ArtifactError, match=r"cannot open 'nope://x'.*Fix: use a local path"):
        ArtifactStore("nope://x")


BAD_NAMES = ["../x", "a/b", "/etc", "..", ".", "", "_runs", ".tmp-x", "a\\b", "a@b", "x" * 129]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_no_name_reaches_outside_the_store_root(tmp_path, name):
    root = tmp_path / "inside" / "store"
    store = ArtifactStore(str(root))
    store.save("stage", wide_frame(), version="v1")
    with pytest.raises(ArtifactError, match=r"\[store\] stage: .* is not a valid stage name"):
        store.save(name, wide_frame(), version="v1")
    if name:  # an empty version means "the content hash"
        with pytest.raises(ArtifactError, match="not a valid version name"):
            store.save("stage", wide_frame(), version=name)
    with pytest.raises(ArtifactError, match="not a valid stage name"):
        store.manifests(name)
    with pytest.raises(ArtifactError, match="not a valid"):
        store.resolve(f"{name}@v1")
    with pytest.raises(ArtifactError, match="not a valid"):
        store.resolve(f"stage@{name}" if name else "stage@/")
    now = pd.Timestamp.now(tz="UTC").to_pydatetime()
    record = RunRecord(
        run_id=name, config_name="x", config={}, started_at=now, finished_at=now, stages=[]
    )
    with pytest.raises(ArtifactError, match="not a valid run_id name"):
        store.save_run(record)
    with pytest.raises(ArtifactError, match="not a valid run_id name"):
        store.save_report(name, "<html/>")
    assert sorted(p.name for p in (tmp_path / "inside").iterdir()) == ["store"]
    assert sorted(p.name for p in root.iterdir()) == [".lock", "stage"]


def test_the_manifest_is_sealed_against_edits_but_not_against_reformatting(tmp_path):
    store = ArtifactStore(str(tmp_path))
    ref = store.save("stage", wide_frame(), version="v1", params={"window": 30})
    path = tmp_path / "stage" / "v1" / "manifest.json"
    document = json.loads(path.read_text())
    path.write_text(json.dumps(document, indent=8, sort_keys=True))
    assert store.manifest(ref).params == {"window": 30}
    for field, value in [("params", {"window": 31}), ("rows", 29), ("sha256", "0" * 64)]:
        path.write_text(json.dumps(document | {field: value}))
        with pytest.raises(DamagedArtifactError, match="checksum does not match its content"):
            store.manifest(ref)
    path.write_text(json.dumps({k: v for k, v in document.items() if k != "checksum"}))
    with pytest.raises(DamagedArtifactError, match="it has no checksum"):
        store.manifest(ref)


def test_damaged_version_is_set_aside_in_one_line_and_recomputed(store):
    frame = wide_frame()
    ref = store.save("stage", frame, version="v1")
    path = store._data_path(ref)
    payload = bytearray(store.fs.cat_file(path))
    payload[len(payload) // 3] ^= 0x01
    store.fs.pipe_file(path, bytes(payload))
    lines = []
    assert store.reusable(ref, warn=lines.append) is None
    (line,) = lines
    assert re.fullmatch(
        r"\[stage\] stage@v1/data.parquet: checksum mismatch: .*; set aside in "
        r".*/_quarantine/stage/v1\.\d{8}T\d{6}Z\.[0-9a-f]{6}, recomputing",
        line,
    )
    assert not store.exists(ref)
    where = line.split("set aside in ")[1].split(", recomputing")[0]
    fs, kept = fsspec.core.url_to_fs(where)
    assert sorted(p.rsplit("/", 1)[1] for p in fs.ls(kept, detail=False)) == [
        "data.parquet",
        "manifest.json",
        "reason.txt",
    ]
    assert fs.cat_file(f"{kept}/data.parquet") == bytes(payload)
    assert store.save("stage", frame, version="v1") == ref
    pd.testing.assert_frame_equal(store.load(ref), frame, check_freq=False)
    assert store.reusable(ref, warn=lines.append).sha256 == store.manifest(ref).sha256
    assert len(lines) == 1


def test_quarantine_moves_nothing_that_verifies(store):
    ref = store.save("stage", wide_frame(), version="v1")
    assert store.quarantine(ref, "stale suspicion") is None
    assert store.quarantine(ArtifactRef("stage", "absent"), "never committed") is None
    assert store.verify(ref).ref == ref


def test_listings_skip_unreadable_and_uncommitted_entries_with_one_line_each(store):
    good = store.save("stage", wide_frame(), version="good")
    store.save("stage", tidy_frame(), version="bad")
    store.fs.pipe_file(store._manifest_path(ArtifactRef("stage", "bad")), b"{not json")
    store.fs.makedirs(store._path("stage", "uncommitted"), exist_ok=True)
    store.fs.pipe_file(store._path("stage", "uncommitted", "data.parquet"), b"half")
    now = pd.Timestamp.now(tz="UTC").to_pydatetime()
    record = RunRecord(
        run_id="r1", config_name="x", config={}, started_at=now, finished_at=now, stages=[]
    )
    store.save_run(record)
    runs = store._path("_runs")
    store.fs.pipe_file(f"{runs}/.tmp-0123-r2.json", record.model_dump_json().encode())
    store.fs.pipe_file(f"{runs}/r3.json", store.fs.cat_file(f"{runs}/r1.json")[:40])
    store.fs.pipe_file(f"{runs}/r4.json", store.fs.cat_file(f"{runs}/r1.json"))
    lines = []
    assert [m.ref for m in store.manifests(warn=lines.append)] == [good]
    assert store.resolve("stage", warn=lines.append) == good
    assert store.runs(warn=lines.append) == [record]
    assert store.run("r", warn=lines.append) == record
    assert len(lines) == 2 + 2 * 2
    assert lines[0].startswith("skipped: [stage] stage@bad/manifest.json: not valid JSON")
    assert "[runs] _runs/r3.json: not valid JSON" in lines[2]
    assert "[runs] _runs/r4.json: it holds run r1" in lines[3]
    with pytest.raises(DamagedArtifactError, match="not valid JSON"):
        store.load(ArtifactRef("stage", "bad"))
    with pytest.raises(ArtifactError, match="no artifact stage@uncommitted"):
        store.load(ArtifactRef("stage", "uncommitted"))


def test_missing_data_is_one_clear_error(store):
    ref = store.save("stage", wide_frame(), version="v1")
    store.fs.rm(store._data_path(ref))
    with pytest.raises(
        DamagedArtifactError, match=r"stage@v1/data.parquet: data.parquet is missing"
    ):
        store.load(ref)
    with pytest.raises(DamagedArtifactError, match="is missing"):
        store.verify(ref)
