"""portflow's cache folder on this machine: what any process may rebuild, kept so that the
next one need not (the Prefect server's migrated database, the import index of the code
versions)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """``PORTFLOW_CACHE_DIR``, else ``$XDG_CACHE_HOME/portflow``, else ``~/.cache/portflow``."""
    if os.environ.get("PORTFLOW_CACHE_DIR"):
        return Path(os.environ["PORTFLOW_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache").expanduser() / "portflow"
