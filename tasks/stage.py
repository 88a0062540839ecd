"""A stage, declared once, and how every computed stage runs.

A :class:`Stage` is the one declaration of a pipeline stage, the way a Kedro node is: the
name of its artifact, its pure function in :mod:`portflow.quant`, the names of its inputs
(the function's DataFrame arguments, each the output of the upstream stage of that name)
and the config fields it depends on. The flow wires declarations by these names
(:class:`tasks.run.PipelineRun`); :func:`run_stage` versions them by lineage, reuses a
version that exists and verifies, and otherwise computes and saves it.

Reuse is verified: a version is reused only when its manifest's checksum and its data's
size and sha256 match (:meth:`storage.ArtifactStore.reusable`). A damaged version is set
aside under the store's ``_quarantine/`` and recomputed, with one warning line in the run's
log.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal, Protocol

import pandas as pd
from prefect import Task, get_run_logger
from prefect.exceptions import MissingContextError
from pydantic import BaseModel
from pydantic_core import to_jsonable_python

from storage import (
    ArtifactRef,
    ArtifactStore,
    StoreSpec,
    code_version,
    content_version,
    lineage_version,
)
from tasks import pipeline_task

Status = Literal["computed", "reused"]

logger = logging.getLogger(__name__)


def available_cores() -> int:
    """CPU cores this process may use (its affinity where the system has one)."""
    if hasattr(os, "sched_getaffinity"):  # Linux
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def run_logger() -> logging.Logger | logging.LoggerAdapter:
    """The run's logger (the Prefect UI and the terminal) inside a flow or task run;
    outside one (tests, inline runs), this module's logger."""
    try:
        return get_run_logger()
    except MissingContextError:
        return logger


def warn(message: str) -> None:
    """One warning line in the run's log (see :func:`run_logger`)."""
    run_logger().warning(message)


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


Inputs = Mapping[str, StageResult | ArtifactRef | Sequence[StageResult | ArtifactRef]]
"""Upstream artifacts by input name; an input may be a list (the chunks of a sweep). A
ref stands for an artifact that is only needed by version (:func:`reused_result`)."""


@dataclass(frozen=True)
class Stage:
    """One pipeline stage: its artifact's name, its pure function, its inputs, its config.

    ``function`` is called as ``function(**{input: DataFrame}, **arguments, **runtime())``,
    so the input names, the config field names and the run-time names are its keyword
    arguments.

    Attributes
    ----------
    name : str
        Name of the stage's artifact in the store.
    function : callable
        The maths, from :mod:`portflow.quant`; returns a DataFrame.
    inputs : tuple of str
        Names of the upstream outputs it reads, as the flow binds them (usually the
        upstream stage's name).
    config : str, optional
        Dotted path of its config section in the run's config (``"hedge"``,
        ``"optimization.moments"``); None for a stage without settings.
    fields : tuple of str, optional
        The fields of that section the stage depends on; None = every field. Only these
        reach the function and the artifact's lineage, so changing another field of the
        section does not recompute the stage.
    context : tuple of str
        Run-time values the flow supplies by name (the universe's ``benchmark``, a sweep
        chunk's ``start`` and ``end``...); they join the arguments and the lineage.
    params : callable, optional
        For a slice that is derived rather than selected: ``params(section, **context)``
        returns the arguments as a config model (e.g. one LSTM allocator's settings).
    runtime : callable, optional
        ``runtime()`` returns keyword arguments made when the stage computes, in its task's
        thread: a progress callback that logs to the task's run logger, how many threads
        to train with. They reach the function but not the lineage, so they must not
        change its result.
    """

    name: str
    function: Callable[..., pd.DataFrame]
    inputs: tuple[str, ...] = ()
    config: str | None = None
    fields: tuple[str, ...] | None = None
    context: tuple[str, ...] = ()
    params: Callable[..., BaseModel] | None = None
    runtime: Callable[[], Mapping[str, Any]] | None = None

    def arguments(self, section: BaseModel | None, context: Mapping[str, Any]) -> dict[str, Any]:
        """The function's keyword arguments: the section's fields and the context values."""
        missing = [key for key in self.context if key not in context]
        if missing:
            raise TypeError(f"stage {self.name!r} needs context {missing} from the flow")
        supplied = {key: context[key] for key in self.context}
        if self.params is not None:
            return dict(self.params(section, **supplied))
        if section is None:
            return supplied
        names = self.fields if self.fields is not None else type(section).model_fields
        return {name: getattr(section, name) for name in names} | supplied

    @property
    def description(self) -> str:
        """First line of the function's docstring (shown in the Prefect UI)."""
        return (self.function.__doc__ or self.name).strip().splitlines()[0]


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
    """Save ``frame`` unless that version exists and verifies; report whether it was new.

    ``version`` defaults to the content hash of ``frame`` (for ingested data).
    """
    ref = ArtifactRef(stage, version or content_version(frame))
    status: Status = "reused" if store.reusable(ref, warn) else "computed"
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
    if store.reusable(ref, warn):
        raw = store.load(ref)
        return raw, StageResult(
            stage, ref.version, len(raw), "reused", time.perf_counter() - started
        )
    raw = source.download()
    result = persist(
        store, stage, raw, started=started, version=ref.version, params=request, run_id=run_id
    )
    return raw, result


def _upstream(inputs: Inputs) -> dict[str, ArtifactRef]:
    """Input name -> ref; the items of a list input are named ``name[i]``."""
    refs = {}
    for name, value in inputs.items():
        if isinstance(value, StageResult | ArtifactRef):
            refs[name] = _ref(value)
        else:
            refs |= {f"{name}[{i}]": _ref(item) for i, item in enumerate(value)}
    return refs


def _ref(value: StageResult | ArtifactRef) -> ArtifactRef:
    return value if isinstance(value, ArtifactRef) else value.ref


def stage_version(stage: Stage, inputs: Inputs, arguments: Mapping[str, Any]) -> str:
    """The version :func:`run_stage` gives the stage's artifact: the lineage hash of the
    stage's name, its code, its arguments and its upstream versions."""
    upstream = {name: ref.version for name, ref in _upstream(inputs).items()}
    params = to_jsonable_python(dict(arguments))
    return lineage_version(stage.name, code_version(stage.function), params, upstream)


def reused_result(
    store_url: StoreSpec, stage: Stage, inputs: Inputs, arguments: Mapping[str, Any]
) -> StageResult | None:
    """The stage's artifact when its version is in the store and verifies (what
    :func:`run_stage` would reuse); None otherwise. Computes and loads nothing."""
    started = time.perf_counter()
    version = stage_version(stage, inputs, arguments)
    manifest = ArtifactStore(store_url).reusable(ArtifactRef(stage.name, version), warn)
    if manifest is None:
        return None
    return StageResult(stage.name, version, manifest.rows, "reused", time.perf_counter() - started)


def run_stage(
    store_url: StoreSpec,
    stage: Stage,
    inputs: Inputs,
    arguments: Mapping[str, Any],
    run_id: str | None = None,
) -> StageResult:
    """Run one declared stage with reuse.

    Parameters
    ----------
    store_url : str or StoreLocation
        Artifact store root (with its fsspec options).
    stage : Stage
        The declaration.
    inputs : mapping of str to StageResult or list of StageResult
        Upstream artifacts by input name (``stage.inputs``).
    arguments : mapping
        The stage's config slice and context (:meth:`Stage.arguments`).
    run_id : str, optional
        Recorded in the manifest of a new artifact.

    Returns
    -------
    StageResult
        The version is the lineage hash of the stage's name, its code, its arguments and
        its upstream versions: "reused" when that version already exists and verifies.
    """
    started = time.perf_counter()
    reused = reused_result(store_url, stage, inputs, arguments)
    if reused is not None:
        return reused
    store = ArtifactStore(store_url)
    upstream = _upstream(inputs)
    params = to_jsonable_python(dict(arguments))
    code = code_version(stage.function)
    version = stage_version(stage, inputs, arguments)
    frames = {
        name: store.load(_ref(value))
        if isinstance(value, StageResult | ArtifactRef)
        else [store.load(_ref(item)) for item in value]
        for name, value in inputs.items()
    }
    runtime = stage.runtime() if stage.runtime is not None else {}
    frame = stage.function(**frames, **arguments, **runtime)
    return persist(
        store,
        stage.name,
        frame,
        started=started,
        version=version,
        params=params,
        upstream=upstream,
        code=code,
        run_id=run_id,
    )


@pipeline_task
def stage_task(
    store_url: StoreSpec,
    stage: Stage,
    inputs: Inputs,
    arguments: Mapping[str, Any],
    run_id: str | None = None,
) -> StageResult:
    """Run one declared stage: load its inputs, call its function, save (see run_stage)."""
    return log_stage(run_stage(store_url, stage, inputs, arguments, run_id))


def log_stage(result: StageResult) -> StageResult:
    """One line in the run's log: the stage, computed or reused, its version; returned."""
    run_logger().info(
        "%s %s %s (%d rows, %.2f s)",
        result.stage,
        result.status,
        result.version,
        result.rows,
        result.seconds,
    )
    return result


@cache
def task_for(stage: Stage) -> Task:
    """The Prefect task of a stage: :func:`stage_task` named and described after it.

    Reuse is decided by artifact versions, not by Prefect's cache or result persistence.
    """
    return stage_task.with_options(name=stage.name, description=stage.description)
