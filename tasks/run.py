"""Declared stages wired by name into one pipeline run.

Each stage takes its inputs by name from the outputs available to it: the stages submitted
before it in the same call and the ``available`` mapping the flow hands in (a universe's
shared stages, for a strategy). A flow therefore lists stages in DAG order and never
repeats their inputs; binding a name to another output (``factor_moments`` to the regime
model's moments, say) is how a branch reuses the same declarations.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from prefect import Task
from prefect.futures import PrefectFuture

from portflow.config import DataConfig, PipelineConfig
from portflow.config.optimization import FactorDataConfig
from storage import ArtifactRef, RunRecord, StoreSpec
from tasks.ingest import Ingested, factor_source, ingest, known_factor_source, known_ingest
from tasks.stage import (
    Stage,
    StageResult,
    log_stage,
    reused_result,
    stage_task,
    stage_version,
    task_for,
)


def resolved(output: Any) -> Any:
    """The result of a submitted stage: a future's result (waiting for it), or the result
    itself when the stage was found in the store without a task."""
    return output.result() if isinstance(output, PrefectFuture) else output


def _known(inputs: Mapping[str, Any]) -> bool:
    """Whether every input is a result (or a list of results), not a future."""
    return all(
        isinstance(value, StageResult)
        or (isinstance(value, list) and all(isinstance(item, StageResult) for item in value))
        for value in inputs.values()
    )


class PipelineRun:
    """Submit declared stages for one run and remember each output under its scope.

    Parameters
    ----------
    store_url : str or StoreLocation
        Artifact store root, or root and fsspec options (handed to every task).
    settings : PipelineConfig
        The run's config; a stage gets only its section (``Stage.config``).
    run_id : str, optional
        Recorded in the manifests of new artifacts.
    inline : bool
        Run each stage in this thread through the task's ``.fn`` instead of submitting it
        to the flow's task runner (tests and notebooks): outputs are then StageResults, not
        futures.
    """

    def __init__(
        self,
        store_url: StoreSpec,
        settings: PipelineConfig,
        run_id: str | None = None,
        *,
        inline: bool = False,
    ) -> None:
        self.store_url = store_url
        self.settings = settings
        self.run_id = run_id
        self.inline = inline
        self.scoped: list[tuple[str, Any]] = []
        self._sources: dict[str, Any] = {}

    def submit(
        self,
        scope: str,
        stages: Sequence[Stage],
        available: Mapping[str, Any],
        **context: Any,
    ) -> dict[str, Any]:
        """Submit ``stages`` in order and record them under ``scope``.

        Returns
        -------
        dict
            ``available`` plus the output of every submitted stage, by stage name.
        """
        outputs = dict(available)
        for stage in stages:
            outputs[stage.name] = self.submit_stage(stage, outputs, **context)
            self.record(scope, outputs[stage.name])
        return outputs

    def submit_stage(
        self,
        stage: Stage,
        available: Mapping[str, Any],
        *,
        task: Task | None = None,
        **context: Any,
    ) -> Any:
        """Submit one stage without recording it (a sweep's chunks); return its future.

        ``task`` replaces the stage's generic task (:func:`tasks.stage.task_for`) by one of
        the same signature (the sweep's chunk task).

        A stage (not a custom task) whose inputs are all known already (results, not
        futures) and whose version is in the store (verified) is not submitted: its
        StageResult is returned at once, and logged, without a Prefect task run. A warm
        re-run costs no task runs but its sources'; a changed stage still runs as a task,
        and so does everything downstream of it.
        """
        inputs, arguments = self._call(stage, available, context)
        if self.inline:
            function = task.fn if task is not None else stage_task.fn
            return function(self.store_url, stage, inputs, arguments, self.run_id)
        if task is None and _known(inputs):
            reused = reused_result(self.store_url, stage, inputs, arguments)
            if reused is not None:
                return log_stage(reused)
        task = task if task is not None else task_for(stage)
        return task.submit(self.store_url, stage, inputs, arguments, self.run_id)

    def reused(
        self, stage: Stage, available: Mapping[str, Any], **context: Any
    ) -> StageResult | None:
        """The stage's artifact when the store has its version already (verified), without
        submitting a task; None otherwise. ``available`` may hold bare refs
        (:data:`tasks.stage.Inputs`)."""
        inputs, arguments = self._call(stage, available, context)
        return reused_result(self.store_url, stage, inputs, arguments)

    def ref(self, stage: Stage, available: Mapping[str, Any], **context: Any) -> ArtifactRef:
        """The ref the stage's artifact has with these inputs, whether it exists or not."""
        inputs, arguments = self._call(stage, available, context)
        return ArtifactRef(stage.name, stage_version(stage, inputs, arguments))

    def _call(
        self, stage: Stage, available: Mapping[str, Any], context: Mapping[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The stage's inputs (taken by name from ``available``) and arguments."""
        missing = [name for name in stage.inputs if name not in available]
        if missing:
            raise TypeError(f"stage {stage.name!r} needs inputs {missing}; have {list(available)}")
        inputs = {name: available[name] for name in stage.inputs}
        section = self.settings.section(stage.config) if stage.config else None
        return inputs, stage.arguments(section, context)

    def ingest(self, data: DataConfig) -> Ingested | PrefectFuture:
        """Ingest a data section: from the source's memo when the files it read are
        unchanged (no task run, nothing read: :func:`tasks.ingest.known_ingest`), else by
        an ``ingest`` task, submitted (its future is returned)."""
        known = known_ingest(self.store_url, data)
        if known is not None:
            for result in known.results:
                log_stage(result)
            return known
        if self.inline:
            return ingest.fn(self.store_url, data, self.run_id)
        return ingest.submit(self.store_url, data, self.run_id)

    def factor_source(self, config: FactorDataConfig) -> StageResult:
        """The factor returns of ``config``, once per distinct config in this run, at once:
        from the source's memo, else by running the ``factor_source`` task (a source is
        small, and knowing its version lets the stages that read it be found in the store
        without a task run, :meth:`submit_stage`). Two strategies that read the same
        source (the optimization's factors and the volatility-managed market's) share one
        result and one artifact.
        """
        key = config.model_dump_json()
        if key not in self._sources:
            known = known_factor_source(self.store_url, config)
            if known is not None:
                self._sources[key] = log_stage(known)
            else:
                run = factor_source.fn if self.inline else factor_source
                self._sources[key] = run(self.store_url, config, self.run_id)
        return self._sources[key]

    def record(self, scope: str, *outputs: Any) -> None:
        """Add outputs (results or futures) to the run record under ``scope``."""
        self.scoped += [(scope, output) for output in outputs]

    def rows(self) -> list[dict[str, Any]]:
        """Wait for every recorded output; one run-record row per output, in order."""
        rows = []
        for scope, output in self.scoped:
            rows.append({"scope": scope, **resolved(output).as_row()})
        return rows

    def run_record(self, started_at: dt.datetime) -> RunRecord:
        """The record of this run, finished now: its config and :meth:`rows`."""
        return RunRecord(
            run_id=self.run_id,
            config_name=self.settings.name,
            config=self.settings.recorded(),
            started_at=started_at,
            finished_at=dt.datetime.now(dt.UTC),
            stages=self.rows(),
        )
