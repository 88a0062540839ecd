"""What the store holds, by name: names that stay inside the root, refs to versions,
manifests, run records, and the error for one that does not verify."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from portflow.errors import ArtifactError

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
"""Stage, version and run names: one path component that cannot leave the store root
(no separators, no leading '.' or '_', which mark temporary files and the store's own
folders)."""


def check_name(kind: str, value: str) -> str:
    """``value`` if it is a valid ``kind`` name (stage, version, run id); else ArtifactError."""
    if not isinstance(value, str) or not NAME_PATTERN.fullmatch(value):
        raise ArtifactError(
            "store",
            kind,
            f"{value!r} is not a valid {kind} name (letters, digits, '_', '-' and '.', "
            "starting with a letter or digit, at most 128 characters)",
            "use a name listed by `portflow artifacts list` or `portflow runs list`",
        )
    return value


class DamagedArtifactError(ArtifactError):
    """A committed version or run record that does not verify (edited, truncated, missing
    data, unreadable manifest). Its field is the file (``stage@version/data.parquet``)."""


@dataclass(frozen=True, order=True)
class ArtifactRef:
    """Address of one artifact version; what tasks pass to each other instead of data."""

    stage: str
    version: str

    def __post_init__(self) -> None:
        check_name("stage", self.stage)
        check_name("version", self.version)

    def __str__(self) -> str:
        return f"{self.stage}@{self.version}"


class ColumnSchema(BaseModel):
    model_config = ConfigDict(frozen=True)
    name: str
    dtype: str


class Manifest(BaseModel):
    """Everything known about an artifact version; written last, after its data.

    On disk it is sealed (:func:`storage.commit.seal`): a checksum of its own content
    detects edited params, rows or upstream refs.
    """

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
    """The versions one pipeline run produced or reused, so any run can be reproduced.

    Committed like a manifest: written atomically and sealed with its checksum.
    """

    model_config = ConfigDict(frozen=True)

    run_id: str
    config_name: str
    config: dict[str, Any]
    started_at: dt.datetime
    finished_at: dt.datetime
    stages: list[dict[str, Any]]
    """One entry per stage: stage, version, rows, status (computed|reused), seconds."""
