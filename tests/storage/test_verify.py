"""`portflow store verify`, the temporary-file rule, and the read-only commands' guards."""

import os
import time
import uuid

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from portflow.cli import app
from storage import ArtifactRef, ArtifactStore
from storage.commit import STALE_EMPTY_SECONDS, locked_temp_file
from storage.verify import repair_store, verify_store

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def frame() -> pd.DataFrame:
    return pd.DataFrame({"x": np.arange(100.0)})


@pytest.mark.parametrize(
    "command",
    [
        ["artifacts", "list"],
        ["artifacts", "show", "prices"],
        ["runs", "list"],
        ["runs", "show", "abc"],
        ["report"],
        ["store", "verify"],
        ["store", "verify", "--repair"],
    ],
    ids=" ".join,
)
def test_read_only_commands_on_a_missing_store_say_so_and_create_nothing(tmp_path, command):
    typo = tmp_path / "typo"
    result = invoke(*command, "--store", typo)
    assert result.exit_code == 1
    assert "no store at" in result.output and "Traceback" not in result.output
    assert not typo.exists()


@pytest.mark.parametrize(
    "command",
    [
        ["artifacts", "list", "../x"],
        ["artifacts", "list", "/etc"],
        ["artifacts", "show", "../../etc@x"],
        ["artifacts", "show", "stage@../x"],
    ],
    ids=" ".join,
)
def test_names_that_would_leave_the_store_are_refused(tmp_path, command):
    store = ArtifactStore(str(tmp_path / "store"))
    store.save("stage", frame(), version="v1")
    result = invoke(*command, "--store", store.url)
    assert result.exit_code == 1 and "is not a valid" in result.output
    assert "Traceback" not in result.output


def test_verify_a_clean_store(tmp_path):
    store = ArtifactStore(str(tmp_path / "store"))
    store.save("stage", frame(), version="v1")
    result = invoke("store", "verify", "--store", store.url)
    assert result.exit_code == 0
    assert result.output.strip() == (
        f"store {store.url}: 1 version(s) and 0 run record(s) checked, no problems"
    )


def test_a_live_writer_s_temporary_file_is_never_swept(tmp_path):
    store = ArtifactStore(str(tmp_path / "store"))
    ref = store.save("stage", frame(), version="v1")
    stage_dir = tmp_path / "store" / "stage"
    with locked_temp_file(str(stage_dir), "v2-data.parquet", b"being written") as live:
        check = verify_store(store)
        assert check.clean and check.live_temp == 1
        assert invoke("store", "verify", "--repair", "--store", store.url).exit_code == 0
        assert os.path.exists(live)
        os.replace(live, stage_dir / "kept")  # the writer can still commit it
    assert (stage_dir / "kept").read_bytes() == b"being written"
    assert store.verify(ref).ref == ref


def test_an_unlocked_temporary_file_is_stale_if_it_has_data_or_is_old(tmp_path):
    store = ArtifactStore(str(tmp_path / "store"))
    store.save("stage", frame(), version="v1")
    stage_dir = tmp_path / "store" / "stage"
    with_data = stage_dir / f".tmp-{uuid.uuid4().hex}-v3-data.parquet"
    with_data.write_bytes(b"PAR1 half")
    empty = stage_dir / f".tmp-{uuid.uuid4().hex}-v4-data.parquet"
    empty.touch()  # a writer may be between creating the file and locking it
    check = verify_store(store)
    assert [f.subject for f in check.findings] == [f"file://{with_data}"]
    assert check.live_temp == 1
    old = time.time() - STALE_EMPTY_SECONDS - 1
    os.utime(empty, (old, old))
    check = verify_store(store)
    assert len(check.findings) == 2
    assert len(repair_store(check)) == 2
    assert not with_data.exists() and not empty.exists()
    assert verify_store(store).clean


def test_verify_and_repair_an_fsspec_memory_store():
    store = ArtifactStore(f"memory://verify-{uuid.uuid4().hex}")
    good = store.save("stage", frame(), version="good")
    bad = store.save("stage", frame() * 2, version="bad")
    path = store._data_path(bad)
    store.fs.pipe_file(path, store.fs.cat_file(path)[:-10])
    check = verify_store(store)
    assert [(f.kind, f.subject) for f in check.findings] == [("damaged", "stage@bad")]
    (line,) = repair_store(check)
    assert line.startswith(f"quarantined stage@bad in {store.url_of(store.root)}/_quarantine/")
    assert verify_store(store).clean and not store.exists(bad)
    assert store.load(good).equals(frame())
    assert store.save("stage", frame() * 2, version="bad") == bad
    assert store.load(ArtifactRef("stage", "bad")).equals(frame() * 2)


def test_an_unreadable_memo_is_found_and_removed(tmp_path):
    store = ArtifactStore(str(tmp_path / "store"))
    store.save("stage", frame(), version="v1")
    store.save_memo("tables-0123456789abcdef", {"tables": []})
    store.save_memo("ingest-0123456789abcdef", {"reads": [], "versions": {}})
    memo = tmp_path / "store" / "_memos" / "ingest-0123456789abcdef.json"
    memo.write_text(memo.read_text().replace('"reads"', '"read"'))  # its seal fails
    result = invoke("store", "verify", "--store", store.url)
    assert result.exit_code == 1
    assert "unreadable memo" in result.output and "ingest-0123456789abcdef" in result.output
    assert "tables-0123456789abcdef" not in result.output
    result = invoke("store", "verify", "--repair", "--store", store.url)
    assert "removed memo ingest-0123456789abcdef" in result.output
    assert not memo.exists() and store.read_memo("tables-0123456789abcdef") == {"tables": []}
    assert invoke("store", "verify", "--store", store.url).exit_code == 0
