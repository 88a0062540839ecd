"""Declared stages wired by name into one pipeline run.

Each stage takes its inputs by name from the outputs available to it: the stages submitted
before it in the same call and the ``available`` mapping the flow hands in (a universe's
shared stages, for a strategy). A flow therefore lists stages in DAG order and never
repeats their inputs; binding a name to another output (``factor_moments`` to the regime
model's moments, say) is how a branch reuses the same declarations.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel

from portflow.config import PipelineConfig
from storage import StoreSpec
from tasks.stage import Stage, StageResult, stage_task, task_for


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

    def submit_stage(self, stage: Stage, available: Mapping[str, Any], **context: Any) -> Any:
        """Submit one stage without recording it (a sweep's chunks); return its future."""
        missing = [name for name in stage.inputs if name not in available]
        if missing:
            raise TypeError(f"stage {stage.name!r} needs inputs {missing}; have {list(available)}")
        inputs = {name: available[name] for name in stage.inputs}
        section = self.settings.section(stage.config) if stage.config else None
        arguments = stage.arguments(section, context)
        if self.inline:
            return stage_task.fn(self.store_url, stage, inputs, arguments, self.run_id)
        return task_for(stage).submit(self.store_url, stage, inputs, arguments, self.run_id)

    def source(self, task: Any, config: BaseModel) -> Any:
        """Submit a source task (``factor_source``) once per distinct config in this run.

        Two strategies that read the same source (the optimization's factors and the
        volatility-managed market's) share one task run and one artifact.
        """
        key = f"{task.name}:{config.model_dump_json()}"
        if key not in self._sources:
            run = task.fn if self.inline else task.submit
            self._sources[key] = run(self.store_url, config, self.run_id)
        return self._sources[key]

    def record(self, scope: str, *outputs: Any) -> None:
        """Add outputs (results or futures) to the run record under ``scope``."""
        self.scoped += [(scope, output) for output in outputs]

    def rows(self) -> list[dict[str, Any]]:
        """Wait for every recorded output; one run-record row per output, in order."""
        rows = []
        for scope, output in self.scoped:
            result: StageResult = output if isinstance(output, StageResult) else output.result()
            rows.append({"scope": scope, **result.as_row()})
        return rows
