"""Processes found by a marker in their environment: what a test started, and whether any
of it (a Prefect server, say) outlived it."""

from __future__ import annotations

import os
import time
from pathlib import Path

MARKER = "PORTFLOW_TEST_MARKER"
"""Environment variable whose value marks the processes of one test."""


def marked(marker: str) -> list[int]:
    """Live processes (zombies run nothing and hold no socket: left out) whose environment
    carries ``PORTFLOW_TEST_MARKER=marker``, this one aside."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            environ = Path(f"/proc/{entry}/environ").read_bytes().split(b"\0")
            state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if f"{MARKER}={marker}".encode() in environ and state != "Z":
            found.append(int(entry))
    return found


def still_there(marker: str, timeout: float = 30) -> list[int]:
    """The marked processes still alive after up to ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while (alive := marked(marker)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return alive
