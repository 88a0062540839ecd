"""Deployments of the pipeline, read from ``prefect.yaml`` so they are declared once.

``prefect deploy --all`` registers the same file on a process work pool; ``portflow serve``
serves the same deployments from one local process (no work pool, no Docker), with every
tunable parameter pre-filled from the deployment's config, so the UI's run form shows the
values a run will use instead of empty fields.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from prefect.deployments.runner import RunnerDeployment
from prefect.schedules import Cron

from flows.pipeline import pipeline
from portflow.config import KNOBS, PipelineConfig, load_config

PREFECT_YAML = Path(__file__).resolve().parents[1] / "prefect.yaml"


def deployment_specs(path: Path = PREFECT_YAML) -> list[dict[str, Any]]:
    """The ``deployments`` entries of a prefect.yaml."""
    return yaml.safe_load(Path(path).read_text())["deployments"]


def config_parameters(config: PipelineConfig) -> dict[str, Any]:
    """The flow parameters that reproduce ``config``'s own values (JSON-ready).

    ``strategies`` and the knobs of :data:`portflow.config.KNOBS` whose section is in the
    config; ``start``/``end`` stay empty because each data section has its own dates.
    """
    parameters: dict[str, Any] = {"strategies": list(config.strategies())}
    for name, path in KNOBS.items():
        section, _, field = path.rpartition(".")
        try:
            value = getattr(config.section(section), field)
        except ValueError:  # the section is absent: the knob does not apply
            continue
        parameters[name] = list(value) if isinstance(value, tuple) else value
    return parameters


def runner_deployments(
    names: list[str] | None = None, path: Path = PREFECT_YAML, *, store_root: str | None = None
) -> list[RunnerDeployment]:
    """Runner deployments (for ``prefect.serve``) of the named specs, or of all of them;
    with ``store_root``, their runs write there (a parameter pre-filled in the form)."""
    specs = deployment_specs(path)
    unknown = set(names or []) - {spec["name"] for spec in specs}
    if unknown:
        raise ValueError(f"no deployment named {sorted(unknown)} in {path}")
    deployments = []
    for spec in specs:
        if names and spec["name"] not in names:
            continue
        schedules = [
            Cron(s["cron"], timezone=s.get("timezone"), active=s.get("active", True))
            for s in spec.get("schedules", [])
        ]
        parameters = spec.get("parameters", {})
        config = parameters.get("config", "default")
        defaults = config_parameters(load_config(config))
        description = (
            f"{spec.get('description') or ''}\n\nThe run form is pre-filled with the values "
            f"of config {config}; after choosing another config, clear the fields to use its "
            "values."
        ).strip()
        deployments.append(
            pipeline.to_deployment(
                name=spec["name"],
                description=description,
                parameters={**defaults, **parameters}
                | ({"store_root": store_root} if store_root else {}),
                tags=spec.get("tags", []),
                schedules=schedules or None,
            )
        )
    return deployments
