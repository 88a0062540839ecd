"""SIGKILL writers at random instants: no committed version or run record is ever corrupt,
and `store verify --repair` cleans up whatever the kills left behind."""

import os
import subprocess
import sys
import textwrap

import pytest
from typer.testing import CliRunner

from portflow.cli import app
from storage import ArtifactStore
from storage.verify import verify_store

ROUNDS = 25
WRITERS = 3

# Forked from one process that has already imported pandas, so each kill costs a fork, not
# an interpreter start. In every round, three writers save the same four versions (sizes
# from 10 to 40 000 rows) and their own run records, until each is killed at a random instant.
_KILL_LOOP = textwrap.dedent("""
    import itertools, os, random, signal, sys, time
    import numpy as np, pandas as pd
    from storage import ArtifactStore, RunRecord

    root, seed, rounds, writers = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    rng = random.Random(seed)
    frames = [
        pd.DataFrame(np.random.default_rng(rows).normal(size=(rows, 8)), columns=list("abcdefgh"))
        for rows in (10, 1_000, 10_000, 40_000)
    ]
    now = pd.Timestamp("2026-01-02", tz="UTC").to_pydatetime()

    def write_until_killed(round_, worker):
        store = ArtifactStore(root)
        order = random.Random(round_ * writers + worker).sample(range(len(frames)), len(frames))
        for i in itertools.count():
            k = order[i % len(frames)]
            store.save("stage", frames[k], version=f"r{round_}-f{k}")
            store.save_run(RunRecord(
                run_id=f"r{round_}-w{worker}-{i}", config_name="kill",
                config={"pad": "x" * 100_000}, started_at=now, finished_at=now,
                stages=[{"stage": "stage", "version": f"r{round_}-f{k}"}],
            ))

    kills = 0
    for round_ in range(rounds):
        children = []
        for worker in range(writers):
            pid = os.fork()
            if pid == 0:
                try:
                    write_until_killed(round_, worker)
                finally:
                    os._exit(1)
            children.append(pid)
        for pid in children:  # each at its own random instant
            time.sleep(rng.uniform(0.005, 0.08))
            os.kill(pid, signal.SIGKILL)
            _, status = os.waitpid(pid, 0)
            kills += os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    print(kills)
""")


def test_random_sigkills_during_writes_never_corrupt_a_committed_version(tmp_path):
    root = tmp_path / "store"
    env = os.environ | {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    loop = subprocess.run(
        [sys.executable, "-c", _KILL_LOOP, str(root), "11", str(ROUNDS), str(WRITERS)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert loop.returncode == 0, loop.stderr[-3000:]
    assert int(loop.stdout) == ROUNDS * WRITERS  # every writer died of SIGKILL, none earlier

    store = ArtifactStore(str(root))
    manifests = store.manifests(warn=pytest.fail)
    records = store.runs(warn=pytest.fail)
    assert manifests and records
    for manifest in manifests:
        assert len(store.load(manifest.ref)) == manifest.rows
    check = verify_store(store)
    leftovers = {finding.kind for finding in check.findings}
    assert leftovers and leftovers <= {"stale temp", "uncommitted"}, [
        str(f) for f in check.findings
    ]

    runner = CliRunner()
    repaired = runner.invoke(app, ["store", "verify", "--repair", "--store", str(root)])
    assert repaired.exit_code == 0, repaired.output
    clean = runner.invoke(app, ["store", "verify", "--store", str(root)])
    assert clean.exit_code == 0 and "no problems" in clean.output, clean.output
    assert not (root / "_quarantine").exists()
    assert [m.ref for m in store.manifests()] == [m.ref for m in manifests]
    assert len(store.runs()) == len(records)
