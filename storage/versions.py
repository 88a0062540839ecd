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
import sys
import threading
from collections.abc import Callable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

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


_PARSING = threading.Lock()
"""Held while parsing: stages compute their versions in the task runner's threads, and
Python 3.11's ``ast.parse`` failed there with "SystemError: AST constructor recursion depth
mismatch" when two threads parsed at once (python/cpython#106905 has the symptom)."""


@lru_cache(maxsize=1024)
def _imported_names(source: bytes, path: str) -> tuple[tuple[int, str], ...]:
    """The modules the import statements of ``source`` may name (cached per source text):
    ``(level, name)`` pairs, ``level`` the leading dots of a relative import.

    ``from a.b import c`` gives ``a.b.c`` (``c`` may be a submodule) and ``a.b``.
    """
    names: list[tuple[int, str]] = []
    with _PARSING:
        tree = ast.parse(source, filename=path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [(0, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            names += [(node.level, f"{base}.{alias.name}".lstrip(".")) for alias in node.names]
            if base:
                names.append((node.level, base))
    return tuple(names)


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
    imported = _imported_names(source, path)
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
