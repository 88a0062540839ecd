"""Crash and tamper: every kind of damage is detected by a re-run, set aside and recomputed
(or refused in one line), and the store left behind verifies.

The pipeline is the real one, run inline (``PipelineRun(inline=True)``): ingest of a small
synthetic universe, the shared stages and the hedge.
"""

import json
import logging
import re
import shutil
import uuid
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from portflow.cli import app
from portflow.config import PipelineConfig
from storage import ArtifactRef, ArtifactStore, RunRecord
from storage.verify import repair_store, verify_store
from tasks.hedge import HEDGE
from tasks.ingest import ingest
from tasks.run import PipelineRun
from tasks.shared import SHARED

SETTINGS = PipelineConfig.model_validate(
    {
        "name": "tamper",
        "data": {"source": "synthetic", "n_assets": 4, "n_days": 400},
        "hedge": {"beta_window": 60, "rebalance_every": 20},
    }
)


def run_pipeline(root: Path) -> dict[str, dict]:
    """One inline run of SETTINGS into ``root``, with its run record; rows by stage."""
    started = pd.Timestamp.now(tz="UTC").to_pydatetime()
    run = PipelineRun(str(root), SETTINGS, run_id=uuid.uuid4().hex, inline=True)
    ingested = ingest.fn(str(root), SETTINGS.data, run.run_id)
    run.record("data", *ingested.results)
    outputs = run.submit("data", SHARED, ingested.outputs)
    run.submit("hedge", HEDGE, outputs, benchmark=ingested.benchmark)
    rows = run.rows()
    ArtifactStore(str(root)).save_run(
        RunRecord(
            run_id=run.run_id,
            config_name=SETTINGS.name,
            config=SETTINGS.model_dump(mode="json"),
            started_at=started,
            finished_at=pd.Timestamp.now(tz="UTC").to_pydatetime(),
            stages=rows,
        )
    )
    return {row["stage"]: row for row in rows}


@pytest.fixture(scope="module")
def computed(tmp_path_factory):
    """A store after one run, and that run's rows by stage (copy it before damaging it)."""
    root = tmp_path_factory.mktemp("computed") / "store"
    rows = run_pipeline(root)
    assert {row["status"] for row in rows.values()} == {"computed"}
    return root, rows


@pytest.fixture
def copy(computed, tmp_path):
    root, rows = computed
    target = tmp_path / "store"
    shutil.copytree(root, target)
    return target, rows


def every_committed_version_loads(root: Path) -> None:
    store = ArtifactStore(str(root))
    manifests = store.manifests(warn=pytest.fail)
    assert manifests
    for manifest in manifests:
        store.load(manifest.ref)
    check = verify_store(store)
    assert check.clean, [str(f) for f in check.findings]


def flip_byte(version: Path) -> None:
    data = version / "data.parquet"
    payload = bytearray(data.read_bytes())
    payload[len(payload) // 2] ^= 0xFF
    data.write_bytes(bytes(payload))


def truncate(version: Path) -> None:
    data = version / "data.parquet"
    data.write_bytes(data.read_bytes()[:-100])


def delete_data(version: Path) -> None:
    (version / "data.parquet").unlink()


def delete_manifest(version: Path) -> None:
    (version / "manifest.json").unlink()


def garbage_manifest(version: Path) -> None:
    (version / "manifest.json").write_bytes(b"\x00\xffnot a manifest{")


def edit_manifest(**changes):
    def edit(version: Path) -> None:
        path = version / "manifest.json"
        path.write_text(json.dumps(json.loads(path.read_text()) | changes, indent=2))

    edit.__name__ = "edit_" + "_".join(changes)
    return edit


DAMAGES = [
    flip_byte,
    truncate,
    delete_data,
    garbage_manifest,
    edit_manifest(params={"edited": True}),
    edit_manifest(rows=1),
    edit_manifest(upstream={"prices": "prices@0000000000000000"}),
    edit_manifest(sha256="0" * 64),
]
CASES = [(damage, "daily_returns") for damage in DAMAGES] + [
    (damage, target)
    for target in ("market_data", "hedge_metrics")
    for damage in (flip_byte, garbage_manifest)
]


@pytest.mark.parametrize(("damage", "target"), CASES, ids=[f"{d.__name__}-{t}" for d, t in CASES])
def test_a_damaged_version_is_set_aside_in_one_line_and_recomputed(copy, damage, target, caplog):
    root, first = copy
    version = first[target]["version"]
    damage(root / target / version)
    with caplog.at_level(logging.WARNING):
        again = run_pipeline(root)
    assert {s: r["version"] for s, r in again.items()} == {
        s: r["version"] for s, r in first.items()
    }
    assert {s for s, r in again.items() if r["status"] == "computed"} == {target}
    (line,) = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert re.fullmatch(
        rf"\[{target}\] {target}@{version}/(data\.parquet|manifest\.json): [^\n]+; "
        rf"set aside in file://{root}/_quarantine/{target}/{version}\.[^/\n]+, recomputing",
        line,
    ), line
    (kept,) = (root / "_quarantine" / target).iterdir()
    assert (kept / "reason.txt").read_text().strip() in line
    every_committed_version_loads(root)


def test_a_version_without_manifest_does_not_exist_and_is_recomputed(copy, caplog):
    root, first = copy
    delete_manifest(root / "daily_returns" / first["daily_returns"]["version"])
    with caplog.at_level(logging.WARNING):
        again = run_pipeline(root)
    assert {s for s, r in again.items() if r["status"] == "computed"} == {"daily_returns"}
    assert not caplog.records and not (root / "_quarantine").exists()
    every_committed_version_loads(root)


def test_stray_temporary_files_are_never_read_and_repair_sweeps_them(copy):
    root, first = copy
    version = first["prices"]["version"]
    (root / "prices" / f".tmp-{uuid.uuid4().hex}-{version}-data.parquet").write_bytes(b"PAR1")
    (root / "prices" / version / f".tmp-{uuid.uuid4().hex}-data.parquet").write_bytes(b"x")
    runs = root / "_runs"
    record = next(runs.glob("*.json")).read_text()
    (runs / f".tmp-{uuid.uuid4().hex}-someone.json").write_text(record)
    again = run_pipeline(root)
    assert {r["status"] for r in again.values()} == {"reused"}
    store = ArtifactStore(str(root))
    assert len(store.runs(warn=pytest.fail)) == 2
    check = verify_store(store)
    assert [f.kind for f in check.findings] == ["stale temp"] * 3
    assert all(line.startswith("removed file://") for line in repair_store(check))
    assert not list(root.rglob(".tmp-*"))
    every_committed_version_loads(root)


def test_a_half_written_run_record_is_skipped_with_one_warning(copy):
    root, first = copy
    (good,) = (root / "_runs").glob("*.json")
    (root / "_runs" / "half.json").write_text(good.read_text()[: len(good.read_text()) // 2])
    again = run_pipeline(root)
    assert {r["status"] for r in again.values()} == {"reused"}
    runner = CliRunner()
    listed = runner.invoke(app, ["runs", "list", "--store", str(root)])
    assert listed.exit_code == 0 and "Traceback" not in listed.output
    assert good.stem[:8] in listed.output
    warnings = [line for line in listed.output.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "_runs/half.json: not valid JSON" in warnings[0]
    shown = runner.invoke(app, ["runs", "show", good.stem[:8], "--store", str(root)])
    assert shown.exit_code == 0 and first["prices"]["version"][:12] in shown.output
    verify = runner.invoke(app, ["store", "verify", "--repair", "--store", str(root)])
    assert verify.exit_code == 0, verify.output
    assert "quarantined run record" in verify.output
    assert list((root / "_quarantine" / "_runs").iterdir())
    every_committed_version_loads(root)


@pytest.mark.parametrize("damage", [garbage_manifest, delete_data, flip_byte])
def test_reading_a_damaged_version_is_refused_in_one_clear_error(copy, damage):
    root, first = copy
    version = first["daily_returns"]["version"]
    damage(root / "daily_returns" / version)
    result = CliRunner().invoke(
        app, ["artifacts", "show", f"daily_returns@{version}", "--store", str(root)]
    )
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    message = " ".join(result.output.split())
    assert f"daily_returns@{version}/" in message and "store verify --repair" in message
    assert "warning" not in message
    listed = CliRunner().invoke(app, ["artifacts", "list", "--store", str(root)])
    assert listed.exit_code == 0
    assert "Traceback" not in listed.output


def test_every_verify_finding_is_repaired_and_the_store_then_verifies(copy):
    root, first = copy
    flip_byte(root / "prices" / first["prices"]["version"])
    garbage_manifest(root / "hedge_metrics" / first["hedge_metrics"]["version"])
    delete_manifest(root / "daily_returns" / first["daily_returns"]["version"])
    runner = CliRunner()
    found = runner.invoke(app, ["store", "verify", "--store", str(root)])
    assert found.exit_code == 1
    lines = found.output.splitlines()
    assert [line.split()[0] for line in lines[:-1]] == ["uncommitted", "damaged", "damaged"]
    assert lines[-1].startswith(f"store {root}: ") and "2 damaged, 1 uncommitted" in lines[-1]
    repaired = runner.invoke(app, ["store", "verify", "--repair", "--store", str(root)])
    assert repaired.exit_code == 0, repaired.output
    assert repaired.output.splitlines()[-1].startswith("after repair: ")
    assert "no problems" in repaired.output.splitlines()[-1]
    assert not (root / "daily_returns" / first["daily_returns"]["version"]).exists()
    again = run_pipeline(root)
    computed = {s for s, r in again.items() if r["status"] == "computed"}
    assert computed == {"prices", "daily_returns", "hedge_metrics"}
    assert runner.invoke(app, ["store", "verify", "--store", str(root)]).exit_code == 0
    assert ArtifactStore(str(root)).load(ArtifactRef("prices", first["prices"]["version"])).shape
