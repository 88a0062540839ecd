"""portflow: a staged, versioned research pipeline for systematic portfolio strategies.

From Python or a notebook: ``portflow.open_store(ROOT).run().load(STAGE)`` (see
:mod:`portflow.api`).
"""

from typing import Any

__version__ = "0.1.0"

__all__ = ["Run", "RunDiff", "Store", "__version__", "open_store"]


def __getattr__(name: str) -> Any:
    """The public API (:mod:`portflow.api`), imported on first use: it reads the store,
    which itself imports this package, and ``portflow.quant`` needs none of it."""
    if name in __all__:
        from portflow import api

        return getattr(api, name)
    raise AttributeError(f"module 'portflow' has no attribute {name!r}")
