"""Deployments of the pipeline, read from ``prefect.yaml`` so they are declared once.

``prefect deploy --all`` registers the same file on a process work pool; ``portflow serve``
serves the same deployments from one local process (no work pool, no Docker).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from prefect.deployments.runner import RunnerDeployment
from prefect.schedules import Cron

from flows.pipeline import pipeline

PREFECT_YAML = Path(__file__).resolve().parents[1] / "prefect.yaml"


def deployment_specs(path: Path = PREFECT_YAML) -> list[dict[str, Any]]:
    """The ``deployments`` entries of a prefect.yaml."""
    return yaml.safe_load(Path(path).read_text())["deployments"]


def runner_deployments(
    names: list[str] | None = None, path: Path = PREFECT_YAML
) -> list[RunnerDeployment]:
    """Runner deployments (for ``prefect.serve``) of the named specs, or of all of them."""
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
        deployments.append(
            pipeline.to_deployment(
                name=spec["name"],
                description=spec.get("description"),
                parameters=spec.get("parameters", {}),
                tags=spec.get("tags", []),
                schedules=schedules or None,
            )
        )
    return deployments
