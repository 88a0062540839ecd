"""Artifact versions: lineage hashes for computed stages, content hashes for ingested data.

Same inputs give the same version, so a stage whose version already exists in the store
is reused instead of recomputed.
"""

from __future__ import annotations

import hashlib
import inspect
import json
from collections.abc import Callable, Mapping
from types import ModuleType
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


def _portflow_dependencies(module: ModuleType) -> set[ModuleType]:
    """``module`` and every portflow module it uses, transitively (through its globals)."""
    seen: set[ModuleType] = set()
    pending = [module]
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        for value in vars(current).values():
            owner = value if isinstance(value, ModuleType) else inspect.getmodule(value)
            if owner is not None and owner.__name__.startswith("portflow.") and owner not in seen:
                pending.append(owner)
    return seen


def code_version(function: Callable[..., Any]) -> str:
    """Version of a stage's code: a hash of the source of every portflow module it uses.

    The module that defines ``function`` and, transitively, each ``portflow`` module whose
    functions, classes or constants it imports are hashed together, so an edit anywhere in
    the maths a stage depends on (say ``portflow.quant.metrics``) gives new versions
    downstream: a code change can never silently reuse stale artifacts.
    """
    module = inspect.getmodule(function)
    if module is None:
        return hashlib.sha256(inspect.getsource(function).encode()).hexdigest()[:12]
    digest = hashlib.sha256()
    for dependency in sorted(_portflow_dependencies(module), key=lambda m: m.__name__):
        digest.update(dependency.__name__.encode())
        digest.update(inspect.getsource(dependency).encode())
    return digest.hexdigest()[:12]
