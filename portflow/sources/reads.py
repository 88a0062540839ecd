"""The files a source reads, stamped, so that a re-run can tell they did not change
without reading them again.

Every reader of a file-based source passes the path through :func:`reading` before it
opens it; inside :func:`recorded_reads` each such file is stamped (:class:`FileStamp`:
size, modification and change times, inode, device: what git's index and DVC's state
keep for the same purpose). A source whose reads were all recorded, from files that still
carry the same stamps, would read the same bytes, so its artifacts can be reused by their
recorded versions (:mod:`tasks.ingest`).

The change time cannot be set by a user (``touch -d`` and ``cp -p`` set only the
modification time), so a file rewritten with the same size and modification time still
gets a new stamp. A file changed within :data:`SETTLE_SECONDS` of being stamped may share
its stamp with the earlier content (time stamps are coarser than a write), so such reads
are not :func:`settled` and nothing is remembered from them (git's "racily clean" rule).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

SETTLE_SECONDS = 2.0
"""A file's stamp is trusted once its last change is at least this old when stamped."""


@dataclass(frozen=True)
class FileStamp:
    """One state of a file, read from ``os.stat``: equal stamps mean the same content."""

    path: str
    size: int
    mtime_ns: int
    ctime_ns: int
    inode: int
    device: int
    stamped_ns: int = 0
    """Wall-clock time of the stamp (ns); not compared."""

    @classmethod
    def of(cls, path: str | os.PathLike[str]) -> FileStamp:
        """Stamp ``path`` now (its absolute path); OSError if it cannot be stat'ed."""
        absolute = os.path.abspath(path)
        status = os.stat(absolute)
        return cls(
            absolute,
            status.st_size,
            status.st_mtime_ns,
            status.st_ctime_ns,
            status.st_ino,
            status.st_dev,
            time.time_ns(),
        )

    def key(self) -> tuple[str, int, int, int, int, int]:
        """Everything compared between two stamps (all but when they were taken)."""
        return (self.path, self.size, self.mtime_ns, self.ctime_ns, self.inode, self.device)

    def current(self) -> bool:
        """Whether the file still has this stamp."""
        try:
            return FileStamp.of(self.path).key() == self.key()
        except OSError:
            return False

    def settled(self) -> bool:
        """Whether the file had not changed for :data:`SETTLE_SECONDS` when stamped."""
        last_change = max(self.mtime_ns, self.ctime_ns)
        return self.stamped_ns - last_change >= SETTLE_SECONDS * 1e9

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> FileStamp:
        """A stamp from :meth:`as_json`; ValueError or TypeError when it is not one."""
        stamp = cls(**value)
        if not isinstance(stamp.path, str) or not all(
            isinstance(number, int) for number in stamp.key()[1:]
        ):
            raise ValueError(f"not a file stamp: {value!r}")
        return stamp


_READS: ContextVar[list[FileStamp] | None] = ContextVar("portflow_source_reads", default=None)


def reading(path: Path) -> Path:
    """Note that a source is about to read ``path`` (stamped inside :func:`recorded_reads`;
    a file that cannot be stat'ed is left to the reader's own error); return ``path``."""
    recorded = _READS.get()
    if recorded is not None:
        with suppress(OSError):
            recorded.append(FileStamp.of(path))
    return path


@contextmanager
def recorded_reads() -> Iterator[list[FileStamp]]:
    """Collect a stamp of every file read through :func:`reading` in the block (in this
    thread and context)."""
    stamps: list[FileStamp] = []
    token = _READS.set(stamps)
    try:
        yield stamps
    finally:
        _READS.reset(token)
