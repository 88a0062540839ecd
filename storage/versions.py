"""Artifact versions: lineage hashes for computed stages, content hashes for ingested data.

Same inputs give the same version, so a stage whose version already exists in the store
is reused instead of recomputed.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.machinery
import importlib.util
import inspect
import json
import os
import sys
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported by content_version, the only user
    import pandas as pd

VERSION_LENGTH = 16
"""Hex characters kept from a sha256; 64 bits make collisions negligible per stage."""


def canonical_json(value: Any) -> str:
    """Serialize ``value`` deterministically: sorted keys, no whitespace, ISO dates."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def lineage_version(
    stage: str, code_version: str, params: Mapping[str, Any], upstream: Mapping[str, str]
) -> str:
    """Version of a computed artifact.

    Parameters
    ----------
    stage : str
        Stage name.
    code_version : str
        Version of the code that computes the stage (see :func:`code_version`).
    params : mapping
        JSON-able parameters of the stage (its config slice).
    upstream : mapping of str to str
        Input name -> version of the upstream artifact.

    Returns
    -------
    str
        The first :data:`VERSION_LENGTH` hex characters of the sha256 of the canonical
        JSON of all four.
    """
    payload = canonical_json(
        {"stage": stage, "code": code_version, "params": params, "upstream": upstream}
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:VERSION_LENGTH]


def content_version(frame: pd.DataFrame) -> str:
    """Version of ingested data: a hash of its values, index, column names and dtypes.

    Independent of the parquet writer, so upgrading pyarrow does not change versions.
    """
    import pandas as pd

    digest = hashlib.sha256()
    digest.update(
        canonical_json([list(map(str, frame.columns)), list(map(str, frame.dtypes))]).encode()
    )
    digest.update(canonical_json(list(map(str, frame.index.names))).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=True).to_numpy().tobytes())
    return digest.hexdigest()[:VERSION_LENGTH]


PACKAGE = "portflow"
"""Only modules of the domain package count as a stage's code (not third-party libraries)."""


def _find_spec(name: str) -> importlib.machinery.ModuleSpec | None:
    try:
        return importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None


def _is_package(name: str) -> bool:
    """Whether ``name`` is a package (regular or namespace), without importing it unless
    it is one (finding a module imports its parent packages, never the module)."""
    module = sys.modules.get(name)
    if module is not None:
        return hasattr(module, "__path__")
    parent = name.rpartition(".")[0]
    if parent and not _is_package(parent):
        return False
    spec = _find_spec(name)
    return spec is not None and spec.submodule_search_locations is not None


def _module_file(name: str) -> str | None:
    """The source file of module ``name``, found without importing it; None when ``name``
    is not a module (an attribute: ``from a.b import c`` with ``c`` a function) or has no
    file (a namespace package)."""
    parent = name.rpartition(".")[0]
    if parent and not _is_package(parent):
        return None
    module = sys.modules.get(name)
    if module is not None:
        return getattr(module, "__file__", None)
    spec = _find_spec(name)
    return spec.origin if spec is not None and spec.has_location else None


IMPORT_INDEX = "import-index-v1.json"
"""File of :class:`ImportIndex` in the user's cache folder (:mod:`portflow.user_cache`)."""
INDEX_ENTRIES = 4096
"""Sources an import index keeps (the most recently added)."""

Imports = tuple[tuple[int, str], ...]
"""``(level, name)`` pairs: what the import statements of a source may name."""


def _parse_imports(source: bytes, path: str) -> Imports:
    """The modules the import statements of ``source`` may name, read with :mod:`ast`:
    ``(level, name)`` pairs, ``level`` the leading dots of a relative import.

    ``from a.b import c`` gives ``a.b.c`` (``c`` may be a submodule) and ``a.b``.
    """
    names: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source, filename=path)):
        if isinstance(node, ast.Import):
            names += [(0, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            names += [(node.level, f"{base}.{alias.name}".lstrip(".")) for alias in node.names]
            if base:
                names.append((node.level, base))
    return tuple(names)


class ImportIndex:
    """The imports of module sources by the sha256 of their text, in memory and in a file
    of the user's cache folder shared by every process: a process parses only sources that
    changed since any process last read them (parsing every portflow module costs about
    0.1 s, a warm run's code versions about 0.3 s without the index).

    Keyed by content, an entry is never out of date. The file carries the sha256 of its
    entries and is ignored when it does not match (then rewritten); failing to write it
    only costs the next process its parsing. Parsing is serialized: Python 3.11's
    ``ast.parse`` failed in the task runner's threads with "SystemError: AST constructor
    recursion depth mismatch" when two threads parsed at once (python/cpython#106905 has
    the symptom).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, Imports] | None = None
        self._unsaved = False

    @staticmethod
    def path() -> Path:
        from portflow.user_cache import cache_dir

        return cache_dir() / IMPORT_INDEX

    @staticmethod
    def _digest(entries: Mapping[str, Any]) -> str:
        return hashlib.sha256(canonical_json(entries).encode()).hexdigest()

    def _load(self) -> dict[str, Imports]:
        try:
            document = json.loads(self.path().read_bytes())
            entries = document["sources"]
            if document["checksum"] != self._digest(entries):
                return {}
            return {
                digest: tuple((int(level), str(name)) for level, name in names)
                for digest, names in entries.items()
            }
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return {}

    def save(self) -> None:
        """Write the index file if sources were parsed since it was read or written."""
        with self._lock:
            if self._unsaved and self._entries is not None:
                self._write(self._entries)
                self._unsaved = False

    def _write(self, entries: dict[str, Imports]) -> None:
        kept = dict(list(entries.items())[-INDEX_ENTRIES:])
        payload = {"sources": kept, "checksum": self._digest(kept)}
        path = self.path()
        temporary = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary.write_text(json.dumps(payload, separators=(",", ":")))
            os.replace(temporary, path)
        except OSError:
            temporary.unlink(missing_ok=True)

    def imports(self, source: bytes, path: str) -> Imports:
        """The imports of ``source`` (the text of the file ``path``)."""
        digest = hashlib.sha256(source).hexdigest()
        with self._lock:
            if self._entries is None:
                self._entries = self._load()
            found = self._entries.get(digest)
            if found is None:
                found = self._entries[digest] = _parse_imports(source, path)
                self._unsaved = True
            return found


_IMPORTS = ImportIndex()


def _absolute(level: int, name: str, package: str) -> str:
    """The absolute name of an import of ``name`` at ``level`` dots from ``package``."""
    if level == 0:
        return name
    base = package.rsplit(".", level - 1)[0] if level > 1 else package
    return f"{base}.{name}" if name else base


def _source_and_imports(name: str) -> tuple[bytes, list[str]] | None:
    """The source of module ``name`` and the portflow modules its import statements name
    (at module level or inside a function); None when it has no source file."""
    path = _module_file(name)
    if path is None or not path.endswith(".py"):
        return None
    source = Path(path).read_bytes()  # read every time: an edit shows at once
    imported = _IMPORTS.imports(source, path)
    package = name if Path(path).name == "__init__.py" else name.rpartition(".")[0]
    modules = []
    for level, imported_name in imported:
        absolute = _absolute(level, imported_name, package)
        if absolute.startswith(f"{PACKAGE}.") and _module_file(absolute) is not None:
            modules.append(absolute)
    return source, modules


def portflow_dependencies(module: str) -> dict[str, bytes]:
    """``module`` and every portflow module it imports, transitively, with their sources.

    Imports are read from the source with :mod:`ast`, wherever they are (at module level
    or inside a function, as the heavy libraries' users import lazily), so nothing is
    imported to find them and a module that is imported only when a function runs still
    counts. A module counts when any import statement of a module in the set names it.
    """
    sources: dict[str, bytes] = {}
    pending = [module]
    while pending:
        name = pending.pop()
        if name in sources:
            continue
        found = _source_and_imports(name)
        if found is None:
            continue
        sources[name], imports = found
        pending += [dependency for dependency in imports if dependency not in sources]
    _IMPORTS.save()
    return sources


def module_version(module: str) -> str:
    """A hash of the source of ``module`` and of every portflow module it imports,
    transitively (:func:`portflow_dependencies`); computing it imports nothing."""
    digest = hashlib.sha256()
    for name, source in sorted(portflow_dependencies(module).items()):
        digest.update(name.encode())
        digest.update(source)
    return digest.hexdigest()[:12]


def code_version(function: Callable[..., Any]) -> str:
    """Version of a stage's code: a hash of the source of every portflow module it uses.

    The module that defines ``function`` and, transitively, every ``portflow`` module that
    a module of the set imports (found statically: :func:`portflow_dependencies`) are
    hashed together (:func:`module_version`), so an edit anywhere in the maths a stage
    depends on (say ``portflow.quant.metrics``) gives new versions downstream: a code
    change can never silently reuse stale artifacts. Computing it imports nothing: a warm
    re-run checks its stages' versions without importing torch or cvxpy.
    """
    module = inspect.getmodule(function)
    if module is None or _module_file(module.__name__) is None:
        return hashlib.sha256(inspect.getsource(function).encode()).hexdigest()[:12]
    return module_version(module.__name__)
