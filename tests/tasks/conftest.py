"""Running declared stages in tests: in this thread, through each task's ``.fn``."""

import pytest

from portflow.config import PipelineConfig
from tasks.run import PipelineRun


@pytest.fixture
def run_stages():
    """``run_stages(store, stages, available, settings=..., **context)`` -> results by name.

    The flow's wiring (inputs by name, each stage's config section), without Prefect.
    """

    def run(store: str, stages, available, *, settings: PipelineConfig | None = None, **context):
        pipeline = PipelineRun(store, settings or PipelineConfig(name="test"), inline=True)
        outputs = pipeline.submit("test", stages, available, **context)
        return {stage.name: outputs[stage.name] for stage in stages}

    return run
