"""Processes sharing one store: repair never touches what a live writer is committing, and
concurrent runs of one config end with identical versions."""

import json
import os
import subprocess
import sys
import textwrap

from storage import ArtifactStore
from storage.verify import repair_store, verify_store

_WRITER = textwrap.dedent("""
    import sys
    import numpy as np, pandas as pd
    from storage import ArtifactRef, ArtifactStore, RunRecord

    root, worker = sys.argv[1], sys.argv[2]
    store = ArtifactStore(root)
    now = pd.Timestamp("2026-01-02", tz="UTC").to_pydatetime()
    for i in range(40):
        rows = (10, 5_000, 30_000)[i % 3]
        frame = pd.DataFrame({"x": np.arange(float(rows)), "y": np.full(rows, float(i))})
        ref = store.save("stage", frame, version=f"v{i}")  # the other writer saves it too
        pd.testing.assert_frame_equal(store.load(ref), frame)
        store.save_run(RunRecord(
            run_id=f"w{worker}-{i}", config_name="c", config={"pad": "x" * 50_000},
            started_at=now, finished_at=now, stages=[],
        ))
    print("ok")
""")


def test_repair_never_touches_what_live_writers_are_committing(tmp_path):
    root = tmp_path / "store"
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(root), str(worker)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for worker in range(2)
    ]
    store = ArtifactStore(str(root))
    passes = 0
    while any(writer.poll() is None for writer in writers):
        check = verify_store(store)
        assert check.clean, [str(f) for f in check.findings]
        assert repair_store(check) == []
        passes += 1
    outputs = [writer.communicate() for writer in writers]
    assert [writer.returncode for writer in writers] == [0, 0], outputs
    assert passes > 1
    assert not (root / "_quarantine").exists()
    assert verify_store(store).clean
    assert len(store.manifests()) == 40 and len(store.runs()) == 80


# One interpreter imports the task layer once, then forks four runs that start together.
_RUNS = textwrap.dedent("""
    import json, os, sys
    from portflow.config import PipelineConfig
    from tasks.hedge import HEDGE
    from tasks.ingest import ingest
    from tasks.run import PipelineRun
    from tasks.shared import SHARED

    root, out, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    settings = PipelineConfig.model_validate({
        "name": "concurrent",
        "data": {"source": "synthetic", "n_assets": 4, "n_days": 400},
        "hedge": {"beta_window": 60, "rebalance_every": 20},
    })

    def run_once(i):
        run = PipelineRun(root, settings, run_id=f"run-{i}", inline=True)
        ingested = ingest.fn(root, settings.data, run.run_id)
        run.record("data", *ingested.results)
        outputs = run.submit("data", SHARED, ingested.outputs)
        run.submit("hedge", HEDGE, outputs, benchmark=ingested.benchmark)
        rows = [[row["stage"], row["version"]] for row in run.rows()]
        with open(f"{out}/{i}.json", "w") as handle:
            json.dump(rows, handle)

    children = []
    for i in range(n):
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                run_once(i)
                code = 0
            finally:
                os._exit(code)
        children.append(pid)
    statuses = [os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in children]
    print(json.dumps(statuses))
""")


def test_four_concurrent_runs_of_one_config_end_with_identical_versions(tmp_path):
    root, out = tmp_path / "store", tmp_path / "out"
    out.mkdir()
    env = os.environ | {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    runs = subprocess.run(
        [sys.executable, "-c", _RUNS, str(root), str(out), "4"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert runs.returncode == 0 and json.loads(runs.stdout) == [0] * 4, runs.stderr[-3000:]
    versions = [json.loads((out / f"{i}.json").read_text()) for i in range(4)]
    assert all(v == versions[0] for v in versions[1:])
    store = ArtifactStore(str(root))
    assert sorted(str(m.ref) for m in store.manifests()) == sorted(
        f"{stage}@{version}" for stage, version in versions[0]
    )
    for manifest in store.manifests():
        store.load(manifest.ref)
    check = verify_store(store)
    assert check.clean and not check.live_temp, [str(f) for f in check.findings]
    assert not os.path.exists(root / "_quarantine")


def test_a_temp_file_committed_while_repair_checks_it_is_not_stale(tmp_path, monkeypatch):
    """The race a busy machine hit: repair opens a writer's temporary file, the writer
    renames it into place and unlocks, then repair's lock succeeds on the committed file."""
    from storage import commit

    temp = tmp_path / f"{commit.TEMP_PREFIX}0123-data.parquet"
    temp.write_bytes(b"complete data")

    def commit_before_the_lock(fd, operation):
        os.replace(temp, tmp_path / "data.parquet")  # the writer commits, then unlocks

    monkeypatch.setattr(commit.fcntl, "flock", commit_before_the_lock)
    assert not commit.sweep_temp(str(temp))
    assert (tmp_path / "data.parquet").read_bytes() == b"complete data"
