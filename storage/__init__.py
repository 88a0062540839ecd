"""Versioned, immutable, checksummed artifact store."""

from storage.store import ArtifactRef, ArtifactStore, Manifest, RunRecord
from storage.versions import code_version, content_version, lineage_version

__all__ = [
    "ArtifactRef",
    "ArtifactStore",
    "Manifest",
    "RunRecord",
    "code_version",
    "content_version",
    "lineage_version",
]
