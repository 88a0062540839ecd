"""How every computed stage runs: version from lineage, reuse if present, else compute and save.

Tasks stay thin: they name the stage, its inputs and its config slice, and hand the
maths (a function in ``portflow.quant``) to :func:`run_stage`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal, Protocol

import pandas as pd
from pydantic import BaseModel

from storage import (
    ArtifactRef,
    ArtifactStore,
    code_version,
    content_version,
    lineage_version,
)

Status = Literal["computed", "reused"]


@dataclass(frozen=True)
class StageResult:
    """What a task returns: a small ref to the artifact plus how it was obtained."""

    stage: str
    version: str
    rows: int
    status: Status
    seconds: float

    @property
    def ref(self) -> ArtifactRef:
        return ArtifactRef(self.stage, self.version)

    def as_row(self) -> dict[str, str | int | float]:
        """Plain JSON-able row for run records and Prefect table artifacts."""
        return {
            "stage": self.stage,
            "version": self.version,
            "rows": self.rows,
            "status": self.status,
            "seconds": round(self.seconds, 3),
        }


def persist(
    store: ArtifactStore,
    stage: str,
    frame: pd.DataFrame,
    *,
    started: float,
    version: str | None = None,
    params: Mapping | None = None,
    upstream: Mapping[str, ArtifactRef] | None = None,
    code: str = "",
    run_id: str | None = None,
) -> StageResult:
    """Save ``frame`` unless that version exists, and report whether it was new.

    ``version`` defaults to the content hash of ``frame`` (for ingested data).
    """
    ref = ArtifactRef(stage, version or content_version(frame))
    status: Status = "reused" if store.exists(ref) else "computed"
    if status == "computed":
        store.save(
            stage,
            frame,
            version=ref.version,
            params=params,
            upstream=upstream,
            code_version=code,
            run_id=run_id,
        )
    return StageResult(stage, ref.version, len(frame), status, time.perf_counter() - started)


class Downloadable(Protocol):
    """A source whose raw download is cached: ``request()`` identifies it (JSON-able, the
    cache key, including the as-of date) and ``download()`` fetches it as a DataFrame."""

    def request(self) -> dict: ...

    def download(self) -> pd.DataFrame: ...


def cached_download(
    store: ArtifactStore, stage: str, source: Downloadable, run_id: str | None = None
) -> tuple[pd.DataFrame, StageResult]:
    """A source's raw download for its request: from the store, or downloaded once.

    The download is itself an artifact of ``stage``, versioned by the request, so a re-run
    with the same request and as-of date makes no network call.
    """
    started = time.perf_counter()
    request = source.request()
    ref = ArtifactRef(stage, lineage_version(stage, "", request, {}))
    if store.exists(ref):
        raw = store.load(ref)
        return raw, StageResult(
            stage, ref.version, len(raw), "reused", time.perf_counter() - started
        )
    raw = source.download()
    result = persist(
        store, stage, raw, started=started, version=ref.version, params=request, run_id=run_id
    )
    return raw, result


def run_stage(
    store_url: str,
    stage: str,
    compute: Callable[..., pd.DataFrame],
    *,
    inputs: Mapping[str, StageResult],
    params: BaseModel | None = None,
    run_id: str | None = None,
) -> StageResult:
    """Run one computed stage with reuse.

    Parameters
    ----------
    store_url : str
        Artifact store root.
    stage : str
        Stage name.
    compute : callable
        Pure function from ``portflow.quant``; called as
        ``compute(**{name: DataFrame}, **params)``, so the input names and the config
        slice's field names are its keyword arguments.
    inputs : mapping of str to StageResult
        Upstream artifacts by argument name.
    params : pydantic model, optional
        The stage's config slice.
    run_id : str, optional
        Recorded in the manifest of a new artifact.
    """
    started = time.perf_counter()
    store = ArtifactStore(store_url)
    upstream = {name: result.ref for name, result in inputs.items()}
    param_values = params.model_dump(mode="json") if params is not None else {}
    code = code_version(compute)
    version = lineage_version(
        stage, code, param_values, {name: ref.version for name, ref in upstream.items()}
    )
    ref = ArtifactRef(stage, version)
    if store.exists(ref):
        rows = store.manifest(ref).rows
        return StageResult(stage, version, rows, "reused", time.perf_counter() - started)
    frames = {name: store.load(r) for name, r in upstream.items()}
    keywords = dict(params) if params is not None else {}
    frame = compute(**frames, **keywords)
    return persist(
        store,
        stage,
        frame,
        started=started,
        version=version,
        params=param_values,
        upstream=upstream,
        code=code,
        run_id=run_id,
    )
