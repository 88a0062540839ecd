"""Read access to the artifacts of one run, by (scope, stage), and along their lineage."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import pandas as pd

from storage import ArtifactRef, ArtifactStore, Manifest, RunRecord
from storage.versions import canonical_json, module_version

STRATEGIES = ("hedge", "vol_managed", "optimization", "allocation")
"""Strategy families in report order (the scopes ``optimization[model]`` belong to the
``optimization`` family)."""


def versions_memo_key(kind: str, record: RunRecord, code_module: str) -> str:
    """Key of the memo (:meth:`storage.ArtifactStore.read_memo`) of what ``kind`` makes of
    ``record``'s artifact versions with the code of ``code_module`` (and every portflow
    module it imports): versions are immutable, so the same key means the same result."""
    payload = {
        "stages": [[row.get("scope", ""), row["stage"], row["version"]] for row in record.stages],
        "code": module_version(code_module),
    }
    return f"{kind}-{hashlib.sha256(canonical_json(payload).encode()).hexdigest()[:16]}"


def scope_strategy(scope: str) -> str:
    """The strategy a run-record scope belongs to: ``optimization[regime]`` -> ``optimization``."""
    return scope.split("[", 1)[0]


@dataclass
class RunView:
    """The artifacts of one run record.

    A strategy's data scope is not a fixed name: it is ``data`` when the strategy uses the
    top-level data section, ``<strategy>.data`` when it has its own, and the scope of the
    first strategy with the same section when two share one. Inputs are therefore found
    along the lineage, through the upstream refs in a stage's manifest (:meth:`upstream`).
    """

    store: ArtifactStore
    record: RunRecord
    _manifests: dict[ArtifactRef, Manifest] = field(default_factory=dict, repr=False)
    _frames: dict[ArtifactRef, pd.DataFrame] = field(default_factory=dict, repr=False)

    def ref(self, scope: str, stage: str) -> ArtifactRef | None:
        """The version of ``stage`` the run recorded under ``scope``, or None."""
        for row in self.record.stages:
            if row.get("scope") == scope and row["stage"] == stage:
                return ArtifactRef(stage, row["version"])
        return None

    def has(self, scope: str, stage: str) -> bool:
        return self.ref(scope, stage) is not None

    def load(self, scope_or_ref: str | ArtifactRef, stage: str | None = None) -> pd.DataFrame:
        """The data of ``(scope, stage)`` or of a ref (read once per view)."""
        ref = (
            scope_or_ref if isinstance(scope_or_ref, ArtifactRef) else self.ref(scope_or_ref, stage)
        )
        if ref is None:
            raise KeyError(f"the run has no stage {stage!r} in scope {scope_or_ref!r}")
        if ref not in self._frames:
            self._frames[ref] = self.store.load(ref)
        return self._frames[ref]

    def manifest(self, ref: ArtifactRef) -> Manifest:
        if ref not in self._manifests:
            self._manifests[ref] = self.store.manifest(ref)
        return self._manifests[ref]

    def params(self, scope: str, stage: str) -> dict:
        """The parameters recorded in the manifest of ``(scope, stage)``."""
        return self.manifest(self.ref(scope, stage)).params

    def upstream(self, scope: str, stage: str, name: str) -> ArtifactRef:
        """The ref of input ``name`` that ``(scope, stage)`` was computed from."""
        text = self.manifest(self.ref(scope, stage)).upstream[name]
        input_stage, _, version = text.partition("@")
        return ArtifactRef(input_stage, version)

    def scope_of(self, ref: ArtifactRef) -> str | None:
        """The scope under which the run recorded ``ref`` (the first, if several)."""
        for row in self.record.stages:
            if row["stage"] == ref.stage and row["version"] == ref.version:
                return row.get("scope")
        return None

    def scopes(self) -> list[str]:
        """Scopes in the order the run recorded them."""
        return list(dict.fromkeys(row.get("scope") or "" for row in self.record.stages))

    def strategies(self) -> list[str]:
        """The strategy families the run executed, in report order."""
        present = {scope_strategy(scope) for scope in self.scopes()}
        return [name for name in STRATEGIES if name in present]

    def data_scopes(self) -> list[str]:
        """Scopes holding an ingested universe (a ``market_data`` stage)."""
        return [scope for scope in self.scopes() if self.has(scope, "market_data")]


MOMENT_MODELS = ("sample", "regime")
"""The optimization's moment models, in report order (scopes ``optimization[model]``)."""


def _middle(values: Sequence[float]) -> float | None:
    """The middle of the sorted distinct values (the lower one of an even count)."""
    ordered = sorted(set(values))
    return ordered[(len(ordered) - 1) // 2] if ordered else None


@dataclass(frozen=True)
class Sweep:
    """The points of one moment model's sweep that the views show."""

    model: str
    gamma: float | None
    tev: float | None
    sector: float | None
    """Middle risk aversion, TEV budget and sector-rotation TEV budget (None: not swept)."""

    @classmethod
    def of(cls, run: RunView, model: str) -> Sweep:
        weights = run.load(f"optimization[{model}]", "optimized_weights")
        values = {p: list(f["value"]) for p, f in weights.groupby("problem")}
        sector = values.get("sector_tev") or values.get("sector_gamma") or []
        return cls(
            model, _middle(values.get("gamma", [])), _middle(values.get("tev", [])), _middle(sector)
        )

    def shown(self) -> list[str]:
        """Strategy names of the points drawn against the benchmark."""
        names = ["benchmark"]
        if self.gamma is not None:
            names.append(f"gamma={self.gamma:g}")
        if self.tev is not None:
            names.append(f"tev={self.tev:g}")
        if self.sector is not None:
            names.append(f"sector_tev={self.sector:g}")
        return names

    def headline(self) -> str | None:
        """The tear sheet's point: the middle TEV budget, else the middle gamma."""
        if self.tev is not None:
            return f"tev={self.tev:g}"
        if self.gamma is not None:
            return f"gamma={self.gamma:g}"
        return None
