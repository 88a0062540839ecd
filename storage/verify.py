"""Verify a whole store, and repair what can be repaired without losing anything.

:func:`verify_store` checks every version (manifest parses, manifest checksum, data size
and sha256), every run record (parses, checksum) and looks for what a killed writer leaves
behind (stale temporary files, versions whose data was put in place but whose manifest
never was), and every memo (seal). Each problem is a :class:`Finding` that knows its repair:

- a damaged version or run record is moved under ``_quarantine/`` (never deleted);
- a stale temporary file, or an uncommitted version, is removed: it never was data;
- a memo that does not verify is removed: it is only a shortcut (and is ignored anyway).

A temporary file whose writer is alive, or a version another process is committing, is not
a problem and is never touched (see :mod:`storage.commit`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from portflow.errors import ArtifactError
from storage.commit import is_temp_name, sweep_temp, temp_is_stale
from storage.records import ArtifactRef, DamagedArtifactError
from storage.store import (
    MANIFEST_FILE,
    MEMOS_DIR,
    QUARANTINE_DIR,
    REPORTS_DIR,
    RUNS_DIR,
    ArtifactStore,
)

KINDS = ("damaged", "unreadable run", "uncommitted", "stale temp", "unreadable memo")


@dataclass(frozen=True)
class Finding:
    """One problem in a store and the action that repairs it.

    Attributes
    ----------
    kind : str
        One of :data:`KINDS`.
    subject : str
        The version (``stage@version``) or the URL of the file.
    problem : str
        What is wrong, in one line.
    repair : callable
        Repairs it and returns one line saying what was done.
    """

    kind: str
    subject: str
    problem: str
    repair: Callable[[], str] = field(compare=False, repr=False)

    def __str__(self) -> str:
        return f"{self.kind:<15} {self.subject}: {self.problem}"


@dataclass
class StoreCheck:
    """What :func:`verify_store` found."""

    url: str
    versions: int = 0
    runs: int = 0
    live_temp: int = 0
    quarantined: int = 0
    findings: list[Finding] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.findings

    def summary(self) -> str:
        """One line: what was checked and how many problems of each kind."""
        counts = {kind: sum(f.kind == kind for f in self.findings) for kind in KINDS}
        found = ", ".join(f"{n} {kind}" for kind, n in counts.items() if n) or "no problems"
        notes = []
        if self.live_temp:
            notes.append(f"{self.live_temp} temporary file(s) of live writers left alone")
        if self.quarantined:
            notes.append(f"{self.quarantined} set aside earlier in {QUARANTINE_DIR}/")
        tail = f" ({'; '.join(notes)})" if notes else ""
        return (
            f"store {self.url}: {self.versions} version(s) and {self.runs} run record(s) "
            f"checked, {found}{tail}"
        )


def verify_store(store: ArtifactStore) -> StoreCheck:
    """Check every version, run record and temporary file of ``store``; change nothing."""
    check = StoreCheck(store.url)
    for stage in store.stages():
        _check_temp_files(store, store._path(stage), check)
        for version, _ in store.version_entries(stage):
            _check_version(store, ArtifactRef(stage, version), check)
    for path in store.run_entries():
        check.runs += 1
        try:
            store.read_run(path)
        except DamagedArtifactError as damage:
            check.findings.append(
                Finding(
                    "unreadable run",
                    store.url_of(path),
                    damage.problem,
                    lambda path=path, reason=damage.problem: (
                        f"quarantined run record in {store.quarantine_run(path, reason)}"
                    ),
                )
            )
        except ArtifactError:
            continue
    for key in store.memo_keys():
        if store.read_memo(key) is None:
            check.findings.append(
                Finding(
                    "unreadable memo",
                    store.url_of(store._memo_path(key)),
                    "it does not verify (edited or damaged); it is ignored, and only a shortcut",
                    lambda key=key: _remove_memo(store, key),
                )
            )
    for folder in (RUNS_DIR, REPORTS_DIR, MEMOS_DIR):
        _check_temp_files(store, store._path(folder), check)
    check.quarantined = sum(
        len(store._entries(entry["name"])) for entry in store._entries(store._path(QUARANTINE_DIR))
    )
    return check


def _check_version(store: ArtifactStore, ref: ArtifactRef, check: StoreCheck) -> None:
    version_dir = store._version_path(ref)
    _check_temp_files(store, version_dir, check)
    try:
        store.verify(ref)
        check.versions += 1
    except DamagedArtifactError as damage:
        check.versions += 1
        check.findings.append(
            Finding(
                "damaged",
                str(ref),
                damage.problem,
                lambda damage=damage: _quarantine(store, ref, damage),
            )
        )
    except ArtifactError:
        if _uncommitted(store, ref):
            check.findings.append(
                Finding(
                    "uncommitted",
                    str(ref),
                    f"no {MANIFEST_FILE}: its writer died before committing it",
                    lambda: _remove_uncommitted(store, ref),
                )
            )


def _remove_memo(store: ArtifactStore, key: str) -> str:
    store.remove_memo(key)
    return f"removed memo {key} (the next run that needs it writes it again)"


def _quarantine(store: ArtifactStore, ref: ArtifactRef, damage: DamagedArtifactError) -> str:
    where = store.quarantine(ref, damage.problem)
    if where is None:
        return f"{ref} verifies now (another process replaced it): left in place"
    return f"quarantined {ref} in {where}"


def _uncommitted(store: ArtifactStore, ref: ArtifactRef) -> bool:
    """True when ``ref``'s folder has no manifest while nobody is committing it."""
    with store._lock():
        return store.fs.exists(store._version_path(ref)) and not store.exists(ref)


def _remove_uncommitted(store: ArtifactStore, ref: ArtifactRef) -> str:
    with store._lock():
        if store.exists(ref):
            return f"{ref} was committed meanwhile: left in place"
        store.fs.rm(store._version_path(ref), recursive=True)
    return f"removed uncommitted {ref}"


def _check_temp_files(store: ArtifactStore, folder: str, check: StoreCheck) -> None:
    """Stale temporary files in ``folder`` become findings; live ones are counted."""
    for entry in store._entries(folder):
        path = entry["name"]
        if entry["type"] != "file" or not is_temp_name(path.rsplit("/", 1)[-1]):
            continue
        if not store._local or not temp_is_stale(path):
            check.live_temp += 1
            continue
        check.findings.append(
            Finding(
                "stale temp",
                store.url_of(path),
                "temporary file left by a writer that died",
                lambda path=path: (
                    f"removed {store.url_of(path)}"
                    if sweep_temp(path)
                    else f"{store.url_of(path)} is in use again or gone: left alone"
                ),
            )
        )


def repair_store(check: StoreCheck) -> list[str]:
    """Repair every finding of ``check``; one line per action."""
    return [finding.repair() for finding in check.findings]
