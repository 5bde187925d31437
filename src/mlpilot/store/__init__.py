"""The data storage layer: metadata database, content-addressed artifacts and datasets."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlpilot._lazy import exports

if TYPE_CHECKING:
    from mlpilot.store._artifacts import ArtifactStore, Blob, validate_artifact_path
    from mlpilot.store._datasets import DatasetStore
    from mlpilot.store._diff import ColumnChange, DatasetDiff, diff_versions
    from mlpilot.store._gc import GcReport, collect_garbage
    from mlpilot.store._metadata import MetadataStore, now_ms
    from mlpilot.store._predictions import PredictionBatch, PredictionLog
    from mlpilot.store._profile import ColumnProfile
    from mlpilot.store._reader import DatasetReader
    from mlpilot.store._store import Store, open_store
    from mlpilot.store._validation import ColumnRule, DataSchema, RuleFailure, ValidationReport
    from mlpilot.store.base._datasets import (
        DatasetSummary,
        DatasetVersion,
        Lineage,
        ModelVersionLink,
        MonitorLink,
        RunLink,
    )
    from mlpilot.store.base._events import Event

#: Public name -> the module it comes from, imported when the name is first read.
_EXPORTS = {
    "ArtifactStore": "mlpilot.store._artifacts",
    "Blob": "mlpilot.store._artifacts",
    "ColumnChange": "mlpilot.store._diff",
    "ColumnProfile": "mlpilot.store._profile",
    "ColumnRule": "mlpilot.store._validation",
    "DataSchema": "mlpilot.store._validation",
    "DatasetDiff": "mlpilot.store._diff",
    "DatasetReader": "mlpilot.store._reader",
    "DatasetStore": "mlpilot.store._datasets",
    "DatasetSummary": "mlpilot.store.base._datasets",
    "DatasetVersion": "mlpilot.store.base._datasets",
    "Event": "mlpilot.store.base._events",
    "GcReport": "mlpilot.store._gc",
    "Lineage": "mlpilot.store.base._datasets",
    "MetadataStore": "mlpilot.store._metadata",
    "ModelVersionLink": "mlpilot.store.base._datasets",
    "MonitorLink": "mlpilot.store.base._datasets",
    "PredictionBatch": "mlpilot.store._predictions",
    "PredictionLog": "mlpilot.store._predictions",
    "RuleFailure": "mlpilot.store._validation",
    "RunLink": "mlpilot.store.base._datasets",
    "Store": "mlpilot.store._store",
    "ValidationReport": "mlpilot.store._validation",
    "collect_garbage": "mlpilot.store._gc",
    "diff_versions": "mlpilot.store._diff",
    "now_ms": "mlpilot.store._metadata",
    "open_store": "mlpilot.store._store",
    "validate_artifact_path": "mlpilot.store._artifacts",
}
__getattr__, __dir__ = exports(__name__, globals(), _EXPORTS)

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
    "ModelVersionLink",
    "MonitorLink",
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
    "validate_artifact_path",
]
