"""The SQL implementation of the storage interfaces, for SQLite and PostgreSQL.

Each ``Sql<Domain>Records(metadata, actor)`` holds every query of its domain; a
:class:`~mlpilot.store.Store` builds them on first use. Writes that PostgreSQL may abort
under contention (deadlocks, serialisation failures) run again whole, and rows are
written in one order so that two writers rarely collide at all.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlpilot._lazy import exports

if TYPE_CHECKING:
    from mlpilot.store.sql._datasets import SqlDatasetRecords
    from mlpilot.store.sql._events import SqlEventRecords
    from mlpilot.store.sql._monitors import SqlMonitorRecords
    from mlpilot.store.sql._pipelines import SqlPipelineRecords
    from mlpilot.store.sql._predictions import SqlPredictionRecords
    from mlpilot.store.sql._registry import SqlRegistryRecords
    from mlpilot.store.sql._studies import SqlStudyRecords
    from mlpilot.store.sql._tracking import SqlTrackingRecords

_EXPORTS = {
    f"Sql{domain}Records": f"mlpilot.store.sql._{module}"
    for domain, module in [
        ("Dataset", "datasets"),
        ("Event", "events"),
        ("Monitor", "monitors"),
        ("Pipeline", "pipelines"),
        ("Prediction", "predictions"),
        ("Registry", "registry"),
        ("Study", "studies"),
        ("Tracking", "tracking"),
    ]
}
__getattr__, __dir__ = exports(__name__, globals(), _EXPORTS)

__all__ = [
    "SqlDatasetRecords",
    "SqlEventRecords",
    "SqlMonitorRecords",
    "SqlPipelineRecords",
    "SqlPredictionRecords",
    "SqlRegistryRecords",
    "SqlStudyRecords",
    "SqlTrackingRecords",
]
