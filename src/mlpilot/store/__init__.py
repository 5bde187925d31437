"""The data storage layer: metadata database and content-addressed artifacts."""

from mlpilot.store._artifacts import ArtifactStore, Blob, validate_artifact_path
from mlpilot.store._gc import GcReport, collect_garbage
from mlpilot.store._metadata import MetadataStore, now_ms
from mlpilot.store._store import Store, open_store

__all__ = [
    "ArtifactStore",
    "Blob",
    "GcReport",
    "MetadataStore",
    "Store",
    "collect_garbage",
    "now_ms",
    "open_store",
    "validate_artifact_path",
]
