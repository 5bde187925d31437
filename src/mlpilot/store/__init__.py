"""The data storage layer: metadata database, content-addressed artifacts and datasets."""

from mlpilot.store._artifacts import ArtifactStore, Blob, validate_artifact_path
from mlpilot.store._datasets import (
    DatasetStore,
    DatasetSummary,
    DatasetVersion,
    Lineage,
    RunLink,
)
from mlpilot.store._diff import ColumnChange, DatasetDiff, diff_versions
from mlpilot.store._events import Event, read_events
from mlpilot.store._gc import GcReport, collect_garbage
from mlpilot.store._metadata import MetadataStore, now_ms
from mlpilot.store._predictions import (
    PredictionBatch,
    PredictionLog,
    read_predictions,
    record_labels,
)
from mlpilot.store._profile import ColumnProfile
from mlpilot.store._reader import DatasetReader
from mlpilot.store._store import Store, open_store
from mlpilot.store._validation import ColumnRule, DataSchema, RuleFailure, ValidationReport

__all__ = [
    "ArtifactStore",
    "Blob",
    "ColumnChange",
    "ColumnProfile",
    "ColumnRule",
    "DataSchema",
    "DatasetDiff",
    "DatasetReader",
    "DatasetStore",
    "DatasetSummary",
    "DatasetVersion",
    "Event",
    "GcReport",
    "Lineage",
    "MetadataStore",
    "PredictionBatch",
    "PredictionLog",
    "RuleFailure",
    "RunLink",
    "Store",
    "ValidationReport",
    "collect_garbage",
    "diff_versions",
    "now_ms",
    "open_store",
    "read_events",
    "read_predictions",
    "record_labels",
    "validate_artifact_path",
]
