"""The versioned artifact store: the only code that knows paths and formats.

Layout under ``root`` (a local path or any fsspec URL)::

    <root>/<stage>/<version>/data.parquet
    <root>/<stage>/<version>/manifest.json
    <root>/_runs/<run_id>.json
    <root>/_reports/<run_id>.html
    <root>/_memos/<key>.json                    shortcuts to derived results (read_memo)
    <root>/_quarantine/<stage>/<version>.<utc time>.<tag>/   damaged versions, set aside

A version exists if and only if its manifest exists: the data is put in place first, the
manifest last. Manifests and run records are sealed with the sha256 of their own content,
the manifest holds the size and sha256 of the data, and both are verified before a version
is reused and on every read. Versions are never overwritten; a damaged one is moved under
``_quarantine`` (never deleted) so it can be recomputed. See :mod:`storage.commit` for how
a local commit survives a kill at any instant.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import logging
import os
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import fsspec
from fsspec.implementations.local import LocalFileSystem
from pydantic import ValidationError

from portflow import __version__
from portflow.errors import ArtifactError
from storage.commit import (
    LOCK_FILE,
    commit_lock,
    is_temp_name,
    locked_temp_file,
    seal,
    unseal,
)
from storage.records import (
    NAME_PATTERN,
    ArtifactRef,
    ColumnSchema,
    DamagedArtifactError,
    Manifest,
    RunRecord,
    check_name,
)
from storage.versions import content_version

if TYPE_CHECKING:  # pandas loads with the first artifact read or written, not on import
    import pandas as pd

DATA_FILE = "data.parquet"
MANIFEST_FILE = "manifest.json"
RUNS_DIR = "_runs"
REPORTS_DIR = "_reports"
MEMOS_DIR = "_memos"
QUARANTINE_DIR = "_quarantine"
REASON_FILE = "reason.txt"

logger = logging.getLogger(__name__)
Warn = Callable[[str], None]


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def serialize(frame: pd.DataFrame) -> bytes:
    """Parquet bytes of ``frame`` with its index; deterministic for a given pyarrow."""
    buffer = io.BytesIO()
    frame.to_parquet(buffer, engine="pyarrow", index=True)
    return buffer.getvalue()


def _basename(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[-1]


def _reason(error: ValueError) -> str:
    """One line for a parse failure (pydantic's own message spans several lines)."""
    if isinstance(error, ValidationError):
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "document"
        return f"{error.error_count()} invalid field(s), first {where}: {first['msg']}"
    return str(error).splitlines()[0]


@dataclass(frozen=True)
class StoreLocation:
    """Where a store lives: its root (a path or fsspec URL) and the fsspec storage options
    that open it (``endpoint_url``, ``key``, ``secret``, ``client_kwargs``...).

    This is what tasks hand each other to reach the store, so it pickles (Dask workers
    open the same store). Its repr and ``str`` show the URL only: option values may be
    credentials, and nothing writes them into run records, manifests or messages.
    """

    url: str
    options: Mapping[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"StoreLocation({self.url!r}, options={sorted(self.options)})"

    def __str__(self) -> str:
        return self.url


StoreSpec = str | StoreLocation
"""A store root (path or URL) alone, or with its fsspec options."""


_IN_PROCESS_LOCK = threading.Lock()
"""Commit lock of stores without file locks (memory, object stores): this process only."""


class ArtifactStore:
    """Immutable, checksummed, versioned DataFrames under a root path or fsspec URL.

    Nothing is created until something is written: opening a store that does not exist
    (a typo in ``--store``) leaves the file system untouched.

    Parameters
    ----------
    root : str or StoreLocation
        Local directory or fsspec URL such as ``memory://portflow`` or
        ``s3://bucket/portflow``; a :class:`StoreLocation` carries its options too.
    options : mapping, optional
        fsspec storage options of the URL's file system (for s3://, s3fs's
        ``endpoint_url``, ``key``, ``secret``, ``client_kwargs``...); they update those of
        a StoreLocation.
    """

    def __init__(self, root: StoreSpec, options: Mapping[str, Any] | None = None) -> None:
        if isinstance(root, StoreLocation):
            options = {**root.options, **(options or {})}
            root = root.url
        self.url = str(root)
        self.location = StoreLocation(self.url, dict(options or {}))
        try:
            self.fs, self.root = fsspec.core.url_to_fs(self.url, **self.location.options)
        except (ValueError, ImportError, TypeError) as error:
            raise ArtifactError(
                "store",
                "root",
                f"cannot open {self.url!r}: {error}",
                "use a local path or an fsspec URL such as memory://portflow or "
                "s3://bucket/portflow (with its fsspec package installed), with the "
                "storage options its file system takes",
            ) from None
        self._local = isinstance(self.fs, LocalFileSystem)
        if self._local and os.path.exists(self.root) and not os.path.isdir(self.root):
            raise ArtifactError(
                "store", "root", f"{self.url} is a file, not a directory", "choose a directory"
            )

    def __repr__(self) -> str:
        return f"ArtifactStore({self.url!r})"

    # -- paths: the one place that knows them -------------------------------------------
    def _path(self, *parts: str) -> str:
        return "/".join([self.root.rstrip("/"), *parts])

    def _version_path(self, ref: ArtifactRef) -> str:
        return self._path(ref.stage, ref.version)

    def _manifest_path(self, ref: ArtifactRef) -> str:
        return self._path(ref.stage, ref.version, MANIFEST_FILE)

    def _data_path(self, ref: ArtifactRef) -> str:
        return self._path(ref.stage, ref.version, DATA_FILE)

    def _run_path(self, run_id: str) -> str:
        return self._path(RUNS_DIR, f"{check_name('run_id', run_id)}.json")

    def _report_path(self, run_id: str) -> str:
        return self._path(REPORTS_DIR, f"{check_name('run_id', run_id)}.html")

    def data_url(self, ref: ArtifactRef) -> str:
        """Full URL of an artifact's parquet file, for links and external readers."""
        return self.fs.unstrip_protocol(self._data_path(ref))

    def url_of(self, path: str) -> str:
        """Full URL of a path inside the store (for messages)."""
        return self.fs.unstrip_protocol(path)

    def reachable(self) -> bool:
        """Whether the root exists; an ArtifactError (one line) if the file system cannot
        be reached at all (a wrong endpoint, refused credentials)."""
        try:
            return self.fs.exists(self.root)
        except Exception as error:  # every backend fails in its own way: one line for all
            problem = " ".join(str(error).split()) or type(error).__name__
            raise ArtifactError(
                "store",
                "root",
                f"cannot reach {self.url}: {problem}",
                "check the URL and its storage options (--store-option, store.options: "
                "endpoint_url, credentials)",
            ) from None

    def require(self) -> None:
        """Raise ArtifactError unless the store exists (read-only commands call this)."""
        if not self.reachable():
            raise ArtifactError(
                "store",
                "root",
                f"no store at {self.url}",
                "check --store (or PORTFLOW_STORE); `portflow run` creates a store",
            )

    # -- writing ------------------------------------------------------------------------
    @contextmanager
    def _lock(self) -> Iterator[None]:
        """Hold the commit lock: a file lock shared by every process locally, else a lock of
        this process. Failing to take it (a read-only store) is one ArtifactError."""
        if not self._local:
            with _IN_PROCESS_LOCK:
                yield
            return
        with ExitStack() as held:
            with self._writing(self._path(LOCK_FILE)):
                held.enter_context(commit_lock(self.root))
            yield

    @contextmanager
    def _writing(self, path: str) -> Iterator[None]:
        """Turn an OS error while writing ``path`` into one clear ArtifactError."""
        try:
            yield
        except OSError as error:
            raise ArtifactError(
                "store",
                "root",
                f"cannot write {self.url_of(path)}: {error.strerror or error}",
                "choose a writable --store (or store.root) with free space",
            ) from None

    def _write_file(self, path: str, payload: bytes) -> None:
        """Make ``payload`` appear at ``path`` all at once or not at all.

        Locally: a locked temporary file in the same folder, renamed into place
        (:mod:`storage.commit`). Object stores and memory commit a single PUT atomically.
        """
        parent = path.rsplit("/", 1)[0]
        with self._writing(path):
            self.fs.makedirs(parent, exist_ok=True)
            if not self._local:
                self.fs.pipe_file(path, payload)
                return
            with locked_temp_file(parent, _basename(path), payload) as temp:
                os.replace(temp, path)

    def _commit(self, ref: ArtifactRef, data: bytes, manifest: bytes) -> None:
        """Put ``ref``'s data in place, then its manifest, unless it was committed meanwhile.

        Locally the data is written to a temporary file in the stage folder first (outside
        the lock, where the slow part is); the rename of the data and the manifest happen
        under the store's commit lock, so setting a damaged version aside (also under it)
        never races a commit. On object stores the manifest is the last PUT: a reader never
        sees a manifest before its data; two writers of one version write identical data.
        """
        stage_dir = self._path(ref.stage)
        with self._writing(stage_dir):
            if not self._local:
                with self._lock():
                    if not self.exists(ref):
                        self.fs.pipe_file(self._data_path(ref), data)
                        self.fs.pipe_file(self._manifest_path(ref), manifest)
                return
            os.makedirs(stage_dir, exist_ok=True)
            with (
                locked_temp_file(stage_dir, f"{ref.version}-{DATA_FILE}", data) as data_temp,
                self._lock(),
            ):
                if self.exists(ref):
                    return  # another writer committed it: never overwrite
                os.makedirs(self._version_path(ref), exist_ok=True)
                os.replace(data_temp, self._data_path(ref))
                name = f"{ref.version}-{MANIFEST_FILE}"
                with locked_temp_file(stage_dir, name, manifest) as manifest_temp:
                    os.replace(manifest_temp, self._manifest_path(ref))

    def save(
        self,
        stage: str,
        frame: pd.DataFrame,
        *,
        version: str | None = None,
        params: Mapping[str, Any] | None = None,
        upstream: Mapping[str, ArtifactRef] | None = None,
        code_version: str = "",
        run_id: str | None = None,
    ) -> ArtifactRef:
        """Persist ``frame`` as ``stage@version`` unless a verified copy already exists.

        A committed copy that fails verification is quarantined first (see
        :meth:`reusable`), then replaced.

        Parameters
        ----------
        stage : str
            Stage name.
        frame : DataFrame
            The data; its index is stored. Column names must be strings.
        version : str, optional
            Lineage version (see :func:`storage.versions.lineage_version`);
            default: the content hash of ``frame`` (for ingested data).
        params, upstream, code_version, run_id
            Lineage recorded in the manifest.

        Returns
        -------
        ArtifactRef
            The address of the (new or pre-existing) version.
        """
        import pandas as pd

        if not isinstance(frame, pd.DataFrame):
            raise TypeError(f"stage {stage!r} must produce a DataFrame, got {type(frame)}")
        bad = [c for c in frame.columns if not isinstance(c, str)]
        if bad:
            raise ArtifactError(
                stage, "columns", f"non-string column names {bad[:5]}", "name columns with str"
            )
        ref = ArtifactRef(stage, version or content_version(frame))
        if self.reusable(ref) is not None:
            return ref
        payload = serialize(frame)
        manifest = Manifest(
            stage=stage,
            version=ref.version,
            params=json.loads(json.dumps(dict(params or {}), default=str)),
            upstream={name: str(up) for name, up in (upstream or {}).items()},
            rows=len(frame),
            columns=frame.shape[1],
            index=[None if n is None else str(n) for n in frame.index.names],
            columns_schema=[ColumnSchema(name=c, dtype=str(t)) for c, t in frame.dtypes.items()],
            sha256=hashlib.sha256(payload).hexdigest(),
            size_bytes=len(payload),
            code_version=code_version,
            created_at=_utcnow(),
            run_id=run_id,
            portflow_version=__version__,
        )
        self._commit(ref, payload, seal(manifest.model_dump(mode="json")))
        return ref

    # -- reading and verifying ----------------------------------------------------------
    def exists(self, ref: ArtifactRef) -> bool:
        """True when the version is committed (its manifest is in place); not verified."""
        return self.fs.exists(self._manifest_path(ref))

    def _damaged(self, ref: ArtifactRef, field: str, problem: str) -> DamagedArtifactError:
        return DamagedArtifactError(
            ref.stage,
            f"{ref}/{field}",
            problem,
            "re-run the pipeline (a damaged version is set aside under "
            f"{QUARANTINE_DIR}/ and recomputed) or run `portflow store verify --repair`",
        )

    def manifest(self, ref: ArtifactRef) -> Manifest:
        """The verified manifest of ``ref``.

        Raises
        ------
        ArtifactError
            The version does not exist (no manifest).
        DamagedArtifactError
            The manifest is unreadable, fails its checksum or names another version.
        """
        try:
            payload = self.fs.cat_file(self._manifest_path(ref))
        except FileNotFoundError:
            raise ArtifactError(
                ref.stage,
                "version",
                f"no artifact {ref} in {self.url}",
                "run the pipeline to create it, or list versions with `portflow artifacts list`",
            ) from None
        try:
            manifest = Manifest.model_validate(unseal(payload))
        except ValueError as error:
            raise self._damaged(ref, MANIFEST_FILE, _reason(error)) from None
        if (manifest.stage, manifest.version) != (ref.stage, ref.version):
            raise self._damaged(
                ref, MANIFEST_FILE, f"it describes {manifest.stage}@{manifest.version}"
            )
        return manifest

    def _check_data(self, ref: ArtifactRef, manifest: Manifest, size: int, digest: str) -> None:
        if size != manifest.size_bytes:
            raise self._damaged(
                ref,
                DATA_FILE,
                f"{DATA_FILE} has {size} bytes, the manifest says {manifest.size_bytes} "
                "(truncated or replaced)",
            )
        if digest != manifest.sha256:
            raise self._damaged(
                ref,
                DATA_FILE,
                f"checksum mismatch: the manifest says {manifest.sha256[:12]}…, the file has "
                f"{digest[:12]}… (the file was modified)",
            )

    def _missing_data(self, ref: ArtifactRef) -> DamagedArtifactError:
        return self._damaged(ref, DATA_FILE, f"{DATA_FILE} is missing")

    def verify(self, ref: ArtifactRef) -> Manifest:
        """Verify a committed version without loading it: its manifest's checksum, then
        the size and sha256 of its data (streamed). Returns the manifest.

        Raises ArtifactError if the version does not exist, DamagedArtifactError (one line
        naming the problem) if it does not verify.
        """
        manifest = self.manifest(ref)
        path = self._data_path(ref)
        digest = hashlib.sha256()
        size = 0
        try:
            with open(path, "rb") if self._local else self.fs.open(path, "rb") as handle:
                while chunk := handle.read(1 << 20):
                    digest.update(chunk)
                    size += len(chunk)
        except FileNotFoundError:
            raise self._missing_data(ref) from None
        self._check_data(ref, manifest, size, digest.hexdigest())
        return manifest

    def reusable(self, ref: ArtifactRef, warn: Warn | None = None) -> Manifest | None:
        """The manifest of ``ref`` if it is committed and verifies; else None.

        A committed version that fails :meth:`verify` is set aside (:meth:`quarantine`)
        and reported in one line through ``warn`` (default: this module's logger), so the
        caller recomputes it.
        """
        try:
            return self.verify(ref)
        except DamagedArtifactError as damage:
            where = self.quarantine(ref, damage.problem)
            if where is not None:
                (warn or logger.warning)(
                    f"[{ref.stage}] {damage.field}: {damage.problem}; set aside in {where}, "
                    "recomputing"
                )
            return None
        except ArtifactError:
            return None

    def load(self, ref: ArtifactRef) -> pd.DataFrame:
        """Read ``ref``'s data after verifying its manifest, size and sha256."""
        manifest = self.manifest(ref)
        try:
            payload = self.fs.cat_file(self._data_path(ref))
        except FileNotFoundError:
            raise self._missing_data(ref) from None
        self._check_data(ref, manifest, len(payload), hashlib.sha256(payload).hexdigest())
        import pandas as pd

        return pd.read_parquet(io.BytesIO(payload))

    # -- setting damaged entries aside --------------------------------------------------
    def quarantine(self, ref: ArtifactRef, reason: str) -> str | None:
        """Move a damaged version under ``_quarantine/`` so it can be recomputed.

        Under the commit lock, the version is verified again first: if it verifies now (a
        concurrent writer committed a good copy) or is no longer committed, nothing moves
        and None is returned. Otherwise returns the URL of the quarantined copy, which
        holds the original files and ``reason.txt``.
        """
        with self._lock():
            try:
                self.verify(ref)
                return None
            except DamagedArtifactError:
                pass
            except ArtifactError:
                return None
            return self._set_aside(self._version_path(ref), (ref.stage, ref.version), reason)

    def quarantine_run(self, path: str, reason: str) -> str:
        """Move an unreadable run record (a path from :meth:`run_entries`) aside."""
        with self._lock():
            return self._set_aside(path, (RUNS_DIR, _basename(path)), reason)

    def _set_aside(self, path: str, where: tuple[str, str], reason: str) -> str:
        """Move ``path`` into ``_quarantine/<where[0]>/<where[1]>.<utc time>.<tag>/``.

        A version folder becomes that folder, a file goes inside it; ``reason.txt`` says
        why. Locally one rename (atomic); on object stores a copy, then the delete of the
        manifest first (which uncommits the version), then of the rest.
        """
        stamp = f"{_utcnow():%Y%m%dT%H%M%SZ}.{uuid.uuid4().hex[:6]}"
        target = self._path(QUARANTINE_DIR, where[0], f"{where[1]}.{stamp}")
        folder = self.fs.isdir(path)
        destination = target if folder else f"{target}/{_basename(path)}"
        with self._writing(target):
            self.fs.makedirs(destination.rsplit("/", 1)[0], exist_ok=True)
            if self._local:
                os.rename(path, destination)
            else:
                self.fs.copy(path, destination, recursive=folder)
                if folder and self.fs.exists(f"{path}/{MANIFEST_FILE}"):
                    self.fs.rm(f"{path}/{MANIFEST_FILE}")
                self.fs.rm(path, recursive=folder)
            self.fs.pipe_file(f"{target}/{REASON_FILE}", f"{reason}\n".encode())
        return self.url_of(target)

    # -- listing ------------------------------------------------------------------------
    def _entries(self, path: str) -> list[dict[str, Any]]:
        """Entries of a folder (name, type, size...); empty if it does not exist."""
        try:
            return self.fs.ls(path, detail=True)
        except (FileNotFoundError, NotADirectoryError):
            return []

    def stages(self) -> list[str]:
        """Stage names that have at least one folder in the store."""
        return sorted(
            name
            for entry in self._entries(self.root)
            if entry["type"] == "directory"
            and NAME_PATTERN.fullmatch(name := _basename(entry["name"]))
        )

    def version_entries(self, stage: str) -> list[tuple[str, dict[str, Any]]]:
        """(version name, entry) of each folder of ``stage`` that may hold a version.

        Temporary files and names that are not versions are left out.
        """
        return [
            (name, entry)
            for entry in self._entries(self._path(check_name("stage", stage)))
            if entry["type"] == "directory"
            and NAME_PATTERN.fullmatch(name := _basename(entry["name"]))
        ]

    def manifests(self, stage: str | None = None, warn: Warn | None = None) -> list[Manifest]:
        """Manifests of every committed version, oldest first; of one stage if given.

        Uncommitted versions (no manifest) are skipped; an unreadable manifest is skipped
        with one line through ``warn`` (default: the module logger) instead of failing the
        whole listing. Data is not verified here (see :meth:`verify`).
        """
        found = []
        for name in [stage] if stage is not None else self.stages():
            for version, _ in self.version_entries(name):
                try:
                    found.append(self.manifest(ArtifactRef(name, version)))
                except DamagedArtifactError as damage:
                    (warn or logger.warning)(f"skipped: {damage}")
                except ArtifactError:
                    continue
        return sorted(found, key=lambda m: (m.created_at, m.stage))

    def resolve(self, spec: str, warn: Warn | None = None) -> ArtifactRef:
        """Turn ``STAGE`` (latest version) or ``STAGE@VERSION`` (a unique prefix) into a ref."""
        stage, _, prefix = spec.partition("@")
        if prefix and self.exists(exact := ArtifactRef(stage, prefix)):
            return self.manifest(exact).ref  # a damaged version says so, in one error
        candidates = [m for m in self.manifests(stage, warn) if m.version.startswith(prefix)]
        if not candidates:
            raise ArtifactError(
                stage,
                "version",
                f"no artifact matches {spec!r} in {self.url}",
                "list what exists with `portflow artifacts list`",
            )
        if prefix and len(candidates) > 1:
            raise ArtifactError(
                stage,
                "version",
                f"{spec!r} matches {len(candidates)} versions",
                "give more characters of the version",
            )
        return candidates[-1].ref

    # -- run records --------------------------------------------------------------------
    def save_run(self, record: RunRecord) -> None:
        """Commit a run record: sealed with its checksum, written atomically."""
        self._write_file(self._run_path(record.run_id), seal(record.model_dump(mode="json")))

    def run_entries(self) -> list[str]:
        """Paths of the committed-looking run records (``<run_id>.json``, no temp files)."""
        return sorted(
            entry["name"]
            for entry in self._entries(self._path(RUNS_DIR))
            if entry["type"] == "file"
            and not is_temp_name(name := _basename(entry["name"]))
            and name.endswith(".json")
        )

    def read_run(self, path: str) -> RunRecord:
        """The run record at ``path``; DamagedArtifactError if it does not verify."""
        name = _basename(path)
        try:
            record = RunRecord.model_validate(unseal(self.fs.cat_file(path)))
        except FileNotFoundError:
            raise ArtifactError("runs", name, "the run record vanished", "list again") from None
        except ValueError as error:
            problem = _reason(error)
        else:
            if f"{record.run_id}.json" == name:
                return record
            problem = f"it holds run {record.run_id}"
        raise DamagedArtifactError(
            "runs",
            f"{RUNS_DIR}/{name}",
            problem,
            "run `portflow store verify --repair` to set it aside",
        )

    def runs(self, warn: Warn | None = None) -> list[RunRecord]:
        """Every committed run record, oldest first.

        Temporary files are never read; a record that does not verify is skipped with one
        line through ``warn`` (default: the module logger).
        """
        records = []
        for path in self.run_entries():
            try:
                records.append(self.read_run(path))
            except ArtifactError as error:
                (warn or logger.warning)(f"skipped: {error}")
        return sorted(records, key=lambda r: r.started_at)

    def run(self, run_id: str, warn: Warn | None = None) -> RunRecord:
        """The run record ``run_id`` (a unique prefix is enough)."""
        matches = [r for r in self.runs(warn) if r.run_id.startswith(run_id)]
        if len(matches) != 1:
            problem = "no run" if not matches else f"{len(matches)} runs"
            raise ArtifactError(
                "runs",
                "run_id",
                f"{problem} matching {run_id!r} in {self.url}",
                "list runs with `portflow runs list`",
            )
        return matches[0]

    # -- memos --------------------------------------------------------------------------
    def _memo_path(self, key: str) -> str:
        return self._path(MEMOS_DIR, f"{check_name('memo', key)}.json")

    def read_memo(self, key: str) -> dict[str, Any] | None:
        """The memo ``key``, or None when there is none or it does not verify.

        A memo is a shortcut to what its key's inputs give (the versions a source gave,
        from the files it read; a run's formatted result tables): without it, the work is
        done again."""
        try:
            return unseal(self.fs.cat_file(self._memo_path(key)))
        except (OSError, ValueError):
            return None

    def memo_keys(self) -> list[str]:
        """Keys of the memos in the store (temporary files left out)."""
        return sorted(
            name.removesuffix(".json")
            for entry in self._entries(self._path(MEMOS_DIR))
            if entry["type"] == "file"
            and not is_temp_name(name := _basename(entry["name"]))
            and name.endswith(".json")
            and NAME_PATTERN.fullmatch(name.removesuffix(".json"))
        )

    def remove_memo(self, key: str) -> None:
        """Delete the memo ``key`` (it is only a shortcut: nothing is lost)."""
        with self._writing(self._memo_path(key)), suppress(FileNotFoundError):
            self.fs.rm_file(self._memo_path(key))

    def save_memo(self, key: str, document: dict[str, Any]) -> None:
        """Write the memo ``key``, sealed with its checksum, atomically (replacing any)."""
        self._write_file(self._memo_path(key), seal(document))

    # -- reports ------------------------------------------------------------------------
    def save_report(self, run_id: str, html: str) -> str:
        """Write the HTML report of a run (atomically); return its URL."""
        self._write_file(self._report_path(run_id), html.encode())
        return self.report_url(run_id)

    def report_url(self, run_id: str) -> str:
        """URL of the HTML report of a run (written at the end of the run)."""
        return self.fs.unstrip_protocol(self._report_path(run_id))
