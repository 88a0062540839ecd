"""Versioned, immutable, checksummed artifact store."""

from portflow.storage.store import ArtifactRef, ArtifactStore, Manifest, RunRecord
from portflow.storage.versions import code_version, content_version, lineage_version

__all__ = [
    "ArtifactRef",
    "ArtifactStore",
    "Manifest",
    "RunRecord",
    "code_version",
    "content_version",
    "lineage_version",
]
