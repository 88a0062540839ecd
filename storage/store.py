"""The versioned artifact store: the only code that knows paths and formats.

Layout under ``root`` (a local path or any fsspec URL)::

    <root>/<stage>/<version>/data.parquet
    <root>/<stage>/<version>/manifest.json
    <root>/_runs/<run_id>.json

A version exists if and only if its manifest exists: the data is written first (to a
temporary name, then renamed), the manifest last. Versions are never overwritten, and
the sha256 of the data is verified on every read.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import fsspec
import pandas as pd
from fsspec.implementations.local import LocalFileSystem
from pydantic import BaseModel, ConfigDict, Field

from portflow import __version__
from portflow.errors import ArtifactError
from storage.versions import content_version

DATA_FILE = "data.parquet"
MANIFEST_FILE = "manifest.json"
RUNS_DIR = "_runs"
REPORTS_DIR = "_reports"


@dataclass(frozen=True, order=True)
class ArtifactRef:
    """Address of one artifact version; what tasks pass to each other instead of data."""

    stage: str
    version: str

    def __str__(self) -> str:
        return f"{self.stage}@{self.version}"


class ColumnSchema(BaseModel):
    model_config = ConfigDict(frozen=True)
    name: str
    dtype: str


class Manifest(BaseModel):
    """Everything known about an artifact version; written last, after its data."""

    model_config = ConfigDict(frozen=True, validate_by_name=True, serialize_by_alias=True)

    stage: str
    version: str
    params: dict[str, Any]
    upstream: dict[str, str]
    rows: int
    columns: int
    index: list[str | None]
    columns_schema: list[ColumnSchema] = Field(alias="schema")
    sha256: str
    size_bytes: int
    code_version: str
    created_at: dt.datetime
    run_id: str | None
    portflow_version: str

    @property
    def ref(self) -> ArtifactRef:
        return ArtifactRef(self.stage, self.version)


class RunRecord(BaseModel):
    """The versions one pipeline run produced or reused, so any run can be reproduced."""

    model_config = ConfigDict(frozen=True)

    run_id: str
    config_name: str
    config: dict[str, Any]
    started_at: dt.datetime
    finished_at: dt.datetime
    stages: list[dict[str, Any]]
    """One entry per stage: stage, version, rows, status (computed|reused), seconds."""


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def serialize(frame: pd.DataFrame) -> bytes:
    """Parquet bytes of ``frame`` with its index; deterministic for a given pyarrow."""
    buffer = io.BytesIO()
    frame.to_parquet(buffer, engine="pyarrow", index=True)
    return buffer.getvalue()


class ArtifactStore:
    """Immutable, checksummed, versioned DataFrames under a root path or fsspec URL.

    Parameters
    ----------
    root : str
        Local directory (created if missing) or fsspec URL such as ``memory://portflow``
        or ``s3://bucket/portflow``.
    """

    def __init__(self, root: str) -> None:
        self.url = str(root)
        self.fs, self.root = fsspec.core.url_to_fs(self.url)
        self._local = isinstance(self.fs, LocalFileSystem)
        if self._local:
            self.fs.makedirs(self.root, exist_ok=True)

    def __repr__(self) -> str:
        return f"ArtifactStore({self.url!r})"

    # -- paths: the one place that knows them -------------------------------------------
    def _path(self, *parts: str) -> str:
        return "/".join([self.root.rstrip("/"), *parts])

    def _manifest_path(self, ref: ArtifactRef) -> str:
        return self._path(ref.stage, ref.version, MANIFEST_FILE)

    def _data_path(self, ref: ArtifactRef) -> str:
        return self._path(ref.stage, ref.version, DATA_FILE)

    def _run_path(self, run_id: str) -> str:
        return self._path(RUNS_DIR, f"{run_id}.json")

    def _report_path(self, run_id: str) -> str:
        return self._path(REPORTS_DIR, f"{run_id}.html")

    def data_url(self, ref: ArtifactRef) -> str:
        """Full URL of an artifact's parquet file, for links and external readers."""
        return self.fs.unstrip_protocol(self._data_path(ref))

    # -- writing ------------------------------------------------------------------------
    def _atomic_write(self, path: str, payload: bytes) -> None:
        """Make ``payload`` appear at ``path`` all at once or not at all.

        Locally: write a uniquely named temporary file in the same directory, then
        ``os.replace`` it (atomic on POSIX). Object stores commit a single PUT atomically.
        """
        parent = path.rsplit("/", 1)[0]
        self.fs.makedirs(parent, exist_ok=True)
        if not self._local:
            self.fs.pipe_file(path, payload)
            return
        tmp = f"{parent}/.tmp-{uuid.uuid4().hex}-{path.rsplit('/', 1)[1]}"
        try:
            with open(tmp, "wb") as handle:
                handle.write(payload)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)

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
        """Persist ``frame`` as ``stage@version`` unless that version already exists.

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
        if not isinstance(frame, pd.DataFrame):
            raise TypeError(f"stage {stage!r} must produce a DataFrame, got {type(frame)}")
        bad = [c for c in frame.columns if not isinstance(c, str)]
        if bad:
            raise ArtifactError(
                stage, "columns", f"non-string column names {bad[:5]}", "name columns with str"
            )
        ref = ArtifactRef(stage, version or content_version(frame))
        if self.exists(ref):
            return ref
        payload = serialize(frame)
        self._atomic_write(self._data_path(ref), payload)
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
        self._atomic_write(self._manifest_path(ref), manifest.model_dump_json(indent=2).encode())
        return ref

    # -- reading ------------------------------------------------------------------------
    def exists(self, ref: ArtifactRef) -> bool:
        """True when the version is complete (its manifest was written)."""
        return self.fs.exists(self._manifest_path(ref))

    def manifest(self, ref: ArtifactRef) -> Manifest:
        """The manifest of ``ref``; raises ArtifactError if the version does not exist."""
        if not self.exists(ref):
            raise ArtifactError(
                ref.stage,
                "version",
                f"no artifact {ref} in {self.url}",
                "run the pipeline to create it, or list versions with `portflow artifacts list`",
            )
        return Manifest.model_validate_json(self.fs.cat_file(self._manifest_path(ref)))

    def load(self, ref: ArtifactRef) -> pd.DataFrame:
        """Read ``ref``'s data after verifying its sha256 against the manifest."""
        manifest = self.manifest(ref)
        payload = self.fs.cat_file(self._data_path(ref))
        digest = hashlib.sha256(payload).hexdigest()
        if digest != manifest.sha256:
            raise ArtifactError(
                ref.stage,
                DATA_FILE,
                f"checksum mismatch for {ref}: manifest says {manifest.sha256[:12]}…, "
                f"file has {digest[:12]}… (the file was modified or truncated)",
                f"delete {self.fs.unstrip_protocol(self._path(ref.stage, ref.version))} "
                "and re-run the pipeline to recompute it",
            )
        return pd.read_parquet(io.BytesIO(payload))

    def stages(self) -> list[str]:
        """Stage names that have at least one directory in the store."""
        if not self.fs.exists(self.root):
            return []
        names = [p.rstrip("/").rsplit("/", 1)[-1] for p in self.fs.ls(self.root, detail=False)]
        return sorted(n for n in names if not n.startswith(("_", ".")))

    def manifests(self, stage: str | None = None) -> list[Manifest]:
        """Manifests of every complete version, oldest first; of one stage if given."""
        found = []
        for name in [stage] if stage else self.stages():
            base = self._path(name)
            if not self.fs.exists(base):
                continue
            for version_dir in self.fs.ls(base, detail=False):
                ref = ArtifactRef(name, version_dir.rstrip("/").rsplit("/", 1)[-1])
                if self.exists(ref):
                    found.append(self.manifest(ref))
        return sorted(found, key=lambda m: (m.created_at, m.stage))

    def resolve(self, spec: str) -> ArtifactRef:
        """Turn ``STAGE`` (latest version) or ``STAGE@VERSION`` (a unique prefix) into a ref."""
        stage, _, prefix = spec.partition("@")
        candidates = [m for m in self.manifests(stage) if m.version.startswith(prefix)]
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
        """Persist a run record (atomically)."""
        self._atomic_write(self._run_path(record.run_id), record.model_dump_json(indent=2).encode())

    def run(self, run_id: str) -> RunRecord:
        """The run record ``run_id`` (a unique prefix is enough)."""
        matches = [r for r in self.runs() if r.run_id.startswith(run_id)]
        if len(matches) != 1:
            problem = "no run" if not matches else f"{len(matches)} runs"
            raise ArtifactError(
                "runs",
                "run_id",
                f"{problem} matching {run_id!r} in {self.url}",
                "list runs with `portflow runs list`",
            )
        return matches[0]

    def save_report(self, run_id: str, html: str) -> str:
        """Write the HTML report of a run (atomically); return its URL."""
        self._atomic_write(self._report_path(run_id), html.encode())
        return self.report_url(run_id)

    def report_url(self, run_id: str) -> str:
        """URL of the HTML report of a run (written at the end of the run)."""
        return self.fs.unstrip_protocol(self._report_path(run_id))

    def runs(self) -> list[RunRecord]:
        """Every run record, oldest first."""
        base = self._path(RUNS_DIR)
        if not self.fs.exists(base):
            return []
        records = [
            RunRecord.model_validate_json(self.fs.cat_file(p))
            for p in self.fs.ls(base, detail=False)
            if p.endswith(".json")
        ]
        return sorted(records, key=lambda r: r.started_at)
