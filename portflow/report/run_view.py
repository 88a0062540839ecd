"""Read access to the artifacts of one run, by (scope, stage), and along their lineage."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from storage import ArtifactRef, ArtifactStore, Manifest, RunRecord

STRATEGIES = ("hedge", "vol_managed", "optimization", "allocation")
"""Strategy families in report order (the scopes ``optimization[model]`` belong to the
``optimization`` family)."""


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
