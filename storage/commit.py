"""How bytes become committed in a local store: sealed documents, locked temporary files.

Three rules make a kill at any instant harmless:

- **Sealed documents.** A manifest or run record carries the sha256 of its own canonical
  JSON (``"checksum"``), so an edited, zeroed or truncated document is detected on read.
- **Locked temporary files.** Every file is written under a ``.tmp-<uuid>-<name>`` name,
  fsynced, then renamed into place (atomic on POSIX). Its writer holds an exclusive
  ``flock`` on it from creation to rename; the kernel drops that lock when the writer dies.
  A temporary file whose lock is free and that holds data, or that is older than
  :data:`STALE_EMPTY_SECONDS`, was left by a dead writer and may be swept; one whose lock is
  held belongs to a live writer and is never touched.
- **One commit lock per store.** Putting a version in place (data, then manifest) and
  setting a damaged version aside both happen under an exclusive ``flock`` on
  ``<root>/.lock``, so a version another process is committing is never moved aside.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

from storage.versions import canonical_json

CHECKSUM = "checksum"
TEMP_PREFIX = ".tmp-"
LOCK_FILE = ".lock"
STALE_EMPTY_SECONDS = 600
"""An empty, unlocked temporary file is stale after this long. A writer locks its file
right after creating it and writes only under the lock, so only the instant between the two
system calls is covered by this age; any non-empty unlocked file is stale at once."""


def seal(document: dict[str, Any]) -> bytes:
    """JSON of ``document`` plus the sha256 of its canonical form, under ``"checksum"``."""
    body = {key: value for key, value in document.items() if key != CHECKSUM}
    return json.dumps({**body, CHECKSUM: _digest(body)}, indent=2).encode()


def unseal(payload: bytes) -> dict[str, Any]:
    """The document of a sealed payload; ValueError naming the problem if it does not verify.

    Only the content is checked, not the layout: re-indenting the JSON keeps it valid.
    """
    try:
        document = json.loads(payload)
    except ValueError as error:
        raise ValueError(f"not valid JSON ({error})") from None
    if not isinstance(document, dict):
        raise ValueError("not a JSON object")
    claimed = document.pop(CHECKSUM, None)
    if claimed is None:
        raise ValueError("it has no checksum (written by an older portflow, or edited)")
    if claimed != _digest(document):
        raise ValueError("its checksum does not match its content (edited after it was written)")
    return document


def _digest(body: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(body).encode()).hexdigest()


@contextmanager
def locked_temp_file(directory: str, name: str, payload: bytes) -> Iterator[str]:
    """Write ``payload`` to a new temporary file in ``directory``, locked and fsynced.

    Yields its path while the lock is held: rename it into place inside the ``with``. A
    file still at that path on exit (the commit failed or was not needed) is removed.
    """
    path = f"{directory}/{TEMP_PREFIX}{uuid.uuid4().hex}-{name}"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        view = memoryview(payload)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
        yield path
    finally:
        with suppress(FileNotFoundError):
            os.unlink(path)
        os.close(fd)


def is_temp_name(name: str) -> bool:
    """True for the name of a temporary file (never read as data, a version or a run)."""
    return name.startswith(TEMP_PREFIX)


def temp_is_stale(path: str) -> bool:
    """True when no live writer holds the temporary file ``path`` (see the module rules)."""
    return _with_free_lock(path, remove=False)


def sweep_temp(path: str) -> bool:
    """Remove the temporary file ``path`` if it is stale; True if it was removed."""
    return _with_free_lock(path, remove=True)


def _with_free_lock(path: str, *, remove: bool) -> bool:
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        info = os.fstat(fd)
        if not _still_at(path, info):  # renamed into place (committed) or removed meanwhile
            return False
        stale = info.st_size > 0 or time.time() - info.st_mtime > STALE_EMPTY_SECONDS
        if stale and remove:
            with suppress(FileNotFoundError):
                os.unlink(path)
        return stale
    finally:
        os.close(fd)


def _still_at(path: str, info: os.stat_result) -> bool:
    """Whether ``path`` still names the file ``info`` describes: a writer that committed
    renamed its temporary file (and then released its lock), so a lock taken on the
    renamed file says nothing about ``path``."""
    try:
        current = os.stat(path)
    except FileNotFoundError:
        return False
    return (current.st_ino, current.st_dev) == (info.st_ino, info.st_dev)


@contextmanager
def commit_lock(root: str) -> Iterator[None]:
    """Hold the store's exclusive commit lock (``<root>/.lock``), blocking until free."""
    os.makedirs(root, exist_ok=True)
    fd = os.open(f"{root}/{LOCK_FILE}", os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
