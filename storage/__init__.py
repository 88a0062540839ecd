"""Versioned, immutable, checksummed artifact store."""

from storage.records import ArtifactRef, DamagedArtifactError, Manifest, RunRecord, check_name
from storage.store import ArtifactStore, StoreLocation, StoreSpec
from storage.versions import code_version, content_version, lineage_version

__all__ = [
    "ArtifactRef",
    "ArtifactStore",
    "DamagedArtifactError",
    "Manifest",
    "RunRecord",
    "StoreLocation",
    "StoreSpec",
    "check_name",
    "code_version",
    "content_version",
    "lineage_version",
]
