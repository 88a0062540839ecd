"""Use a portflow store from Python or a notebook: its runs, and any stage of a run as a
DataFrame.

>>> import portflow
>>> store = portflow.open_store("artifacts")          # or "s3://bucket/prefix", endpoint_url=...
>>> store.runs()                                      # one row per run, oldest first
>>> run = store.run()                                 # the latest run (or a run id prefix)
>>> run.stages()                                      # scope, stage, version, status, ...
>>> run.load("hedge_backtest")                        # a stage the run recorded once
>>> run.load("monthly_returns", scope="hedge.data")   # one of several universes

Built on :mod:`storage` (the only code that knows paths); every load verifies the data's
checksum. A stage a run recorded under several scopes with different versions (the monthly
returns of each universe) needs ``scope=``: without it, the error lists the scopes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from portflow.errors import ArtifactError
from storage import ArtifactRef, ArtifactStore, RunRecord


def stage_ref(record: RunRecord, stage: str, scope: str | None = None) -> ArtifactRef:
    """The version of ``stage`` that ``record`` produced or reused, under ``scope``.

    Raises
    ------
    ArtifactError
        The run has no such stage (or not under ``scope``), or it has several versions of
        it under different scopes and ``scope`` is not given: the message lists them.
    """
    rows = [row for row in record.stages if row["stage"] == stage]
    if scope is not None:
        rows = [row for row in rows if row.get("scope") == scope]
    versions = {row["version"] for row in rows}
    if not versions:
        where = f" in scope {scope!r}" if scope is not None else ""
        scopes = ", ".join(stage_scopes(record, stage)) or "none"
        raise ArtifactError(
            stage,
            "scope" if scope is not None else "stage",
            f"run {record.run_id[:8]} has no stage {stage!r}{where} (its scopes for it: {scopes})",
            "list the run's stages with `portflow runs show RUN`",
        )
    if len(versions) > 1:
        scopes = ", ".join(dict.fromkeys(str(row.get("scope")) for row in rows))
        raise ArtifactError(
            stage,
            "scope",
            f"run {record.run_id[:8]} has {len(versions)} versions of {stage!r}, one per "
            f"universe; scopes: {scopes}",
            "choose one: `--scope SCOPE` (portflow artifacts show), scope=SCOPE (Python)",
        )
    return ArtifactRef(stage, versions.pop())


def stage_scopes(record: RunRecord, stage: str) -> list[str]:
    """The scopes under which ``record`` holds ``stage``, in run order."""
    return list(
        dict.fromkeys(str(row.get("scope")) for row in record.stages if row["stage"] == stage)
    )


@dataclass(frozen=True)
class Run:
    """One pipeline run of a store: its record and the data of its stages."""

    store: ArtifactStore
    record: RunRecord

    @property
    def run_id(self) -> str:
        return self.record.run_id

    @property
    def config(self) -> dict[str, Any]:
        """The config the run used (overrides applied; without the store's options)."""
        return self.record.config

    def stages(self) -> pd.DataFrame:
        """One row per stage the run recorded: scope, stage, version, rows, status
        (computed or reused) and seconds, in run order."""
        return pd.DataFrame(self.record.stages)

    def scopes(self, stage: str) -> list[str]:
        """The scopes (universes, strategies) under which the run holds ``stage``."""
        return stage_scopes(self.record, stage)

    def ref(self, stage: str, scope: str | None = None) -> ArtifactRef:
        """The version of ``stage`` in this run (see :func:`stage_ref`)."""
        return stage_ref(self.record, stage, scope)

    def load(self, stage: str, scope: str | None = None) -> pd.DataFrame:
        """The data of ``stage`` in this run, checksum verified.

        Parameters
        ----------
        stage : str
            Stage name, as ``portflow runs show`` lists it.
        scope : str, optional
            Needed when the run holds several versions of the stage (one per universe,
            e.g. ``data`` and ``hedge.data``); an ArtifactError lists them otherwise.
        """
        return self.store.load(self.ref(stage, scope))


class Store:
    """A portflow artifact store opened for reading.

    Parameters
    ----------
    root : str or ArtifactStore
        A local path or an fsspec URL (``s3://bucket/prefix``), or an open store.
    **options
        fsspec storage options (``endpoint_url=``, ``key=``, ``secret=``...).
    """

    def __init__(self, root: str | ArtifactStore = "artifacts", **options: Any) -> None:
        self.artifacts = root if isinstance(root, ArtifactStore) else ArtifactStore(root, options)
        self.artifacts.require()

    def __repr__(self) -> str:
        return f"Store({self.artifacts.url!r})"

    def runs(self) -> pd.DataFrame:
        """One row per run record, oldest first: run_id, config, started and finished
        (UTC), strategies, stages, computed."""
        rows = [
            {
                "run_id": r.run_id,
                "config": r.config_name,
                "started": r.started_at,
                "finished": r.finished_at,
                "strategies": ", ".join(run_strategies(r)),
                "stages": len(r.stages),
                "computed": sum(s["status"] == "computed" for s in r.stages),
            }
            for r in self.artifacts.runs()
        ]
        columns = ["run_id", "config", "started", "finished", "strategies", "stages", "computed"]
        return pd.DataFrame(rows, columns=columns)

    def run(self, run_id: str | None = None) -> Run:
        """The run ``run_id`` (a unique prefix is enough); default: the latest."""
        if run_id is not None:
            return Run(self.artifacts, self.artifacts.run(run_id))
        records = self.artifacts.runs()
        if not records:
            raise ArtifactError(
                "runs", "run_id", f"no runs in {self.artifacts.url}", "run the pipeline first"
            )
        return Run(self.artifacts, records[-1])

    def load(self, spec: str) -> pd.DataFrame:
        """The data of ``STAGE@VERSION`` (a unique version prefix is enough)."""
        return self.artifacts.load(self.artifacts.resolve(spec))

    def diff(self, a: str, b: str) -> RunDiff:
        """What differs between runs ``a`` and ``b`` (run ids or unique prefixes)."""
        return RunDiff.of(self.run(a), self.run(b))


@dataclass(frozen=True)
class RunDiff:
    """Two runs side by side: their config differences, the stages whose version differs,
    and their headline figures (those of the store's index page)."""

    a: Run
    b: Run
    config: pd.DataFrame
    """One row per dotted config path whose value differs: path, a, b (None: absent)."""
    versions: pd.DataFrame
    """One row per (scope, stage) whose version differs or that only one run has:
    scope, stage, a, b (None: not in that run)."""
    headlines: pd.DataFrame
    """One row per strategy of either run: strategy, a, b (the index page's figures)."""

    @classmethod
    def of(cls, a: Run, b: Run) -> RunDiff:
        from portflow.report.index import headline_figures
        from portflow.report.run_view import RunView

        old, new = flatten(a.config), flatten(b.config)
        config = [
            {"path": path, "a": old.get(path), "b": new.get(path)}
            for path in dict.fromkeys([*old, *new])
            if old.get(path, _ABSENT) != new.get(path, _ABSENT)
        ]
        versions_a, versions_b = _versions(a.record), _versions(b.record)
        versions = [
            {"scope": key[0], "stage": key[1], "a": versions_a.get(key), "b": versions_b.get(key)}
            for key in dict.fromkeys([*versions_a, *versions_b])
            if versions_a.get(key) != versions_b.get(key)
        ]
        figures_a = headline_figures(RunView(a.store, a.record))
        figures_b = headline_figures(RunView(b.store, b.record))
        headlines = [
            {"strategy": name, "a": figures_a.get(name), "b": figures_b.get(name)}
            for name in dict.fromkeys([*figures_a, *figures_b])
        ]
        return cls(
            a,
            b,
            pd.DataFrame(config, columns=["path", "a", "b"]),
            pd.DataFrame(versions, columns=["scope", "stage", "a", "b"]),
            pd.DataFrame(headlines, columns=["strategy", "a", "b"]),
        )


_ABSENT = object()


def _versions(record: RunRecord) -> dict[tuple[str, str], str]:
    """(scope, stage) -> version of every stage a run recorded."""
    return {(str(row.get("scope") or ""), row["stage"]): row["version"] for row in record.stages}


def run_strategies(record: RunRecord) -> list[str]:
    """The strategies a run executed (``optimization[sample]`` counts as optimization)."""
    from portflow.report.run_view import STRATEGIES, scope_strategy

    present = {scope_strategy(str(row.get("scope") or "")) for row in record.stages}
    return [name for name in STRATEGIES if name in present]


def open_store(root: str = "artifacts", **options: Any) -> Store:
    """Open the store at ``root`` (a path or an fsspec URL) with fsspec ``options``;
    an ArtifactError if there is no store there."""
    return Store(root, **options)


def flatten(mapping: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings as dotted paths (``{"a": {"b": 1}}`` -> ``{"a.b": 1}``); lists and
    other values are leaves, an empty mapping is a leaf too."""
    flat: dict[str, Any] = {}
    for key, value in mapping.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat |= flatten(value, f"{path}.")
        else:
            flat[path] = value
    return flat
