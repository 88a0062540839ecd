"""The top level the brief names, and the import path of its packages."""

import importlib.metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]


@pytest.mark.parametrize("package", ["flows", "tasks", "storage", "portflow"])
def test_top_level_packages_resolve_to_this_repository(package):
    module = __import__(package)
    assert Path(module.__file__).resolve().parent == ROOT / package
    providers = importlib.metadata.packages_distributions().get(package, [])
    assert set(providers) <= {"portflow"}, f"{package} is also installed by {providers}"


def test_the_brief_s_top_level_exists():
    for name in ("pyproject.toml", "Makefile", "flows", "tasks", "storage", "configs", "tests"):
        assert (ROOT / name).exists(), name


def test_quant_never_imports_the_orchestration_layer():
    for path in (ROOT / "portflow" / "quant").rglob("*.py"):
        text = path.read_text()
        for layer in ("prefect", "flows", "tasks", "storage", "portflow.sources"):
            assert f"import {layer}" not in text and f"from {layer}" not in text, (path, layer)
