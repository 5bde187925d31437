"""The storage interfaces: what each domain records, independent of how it is stored.

Every layer above :mod:`mlpilot.store` reaches its records through these protocols, as
the attributes of a :class:`~mlpilot.store.Store` (``store.tracking``, ``store.datasets``,
``store.pipelines``, ``store.studies``, ``store.registry``, ``store.predictions``,
``store.monitors``, ``store.events``), never through SQL. Each method is one atomic
operation, and the records that cross the boundary are frozen dataclasses with
``to_dict()``. :mod:`mlpilot.store.sql` implements them for SQLite and PostgreSQL;
:mod:`mlpilot.testing` holds the conformance suite every implementation passes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlpilot._lazy import exports

if TYPE_CHECKING:
    from mlpilot.store.base._datasets import (
        DatasetRecords,
        DatasetSummary,
        DatasetVersion,
        Lineage,
        ModelVersionLink,
        MonitorLink,
        RunLink,
        VersionContent,
    )
    from mlpilot.store.base._events import Event, EventRecords
    from mlpilot.store.base._leases import Lease, LeaseRecords
    from mlpilot.store.base._monitors import (
        AlertRecord,
        Monitor,
        MonitorRecords,
        RetrainEffect,
        RetrainRecord,
        WindowResult,
    )
    from mlpilot.store.base._pipelines import (
        AttemptEnd,
        AttemptRecord,
        AttemptStart,
        CachedOutput,
        NewTask,
        PipelineRecords,
        PipelineRunRecord,
        StepHistory,
        TaskRecord,
    )
    from mlpilot.store.base._predictions import PredictionRecords, PredictionRow
    from mlpilot.store.base._registry import (
        AliasMove,
        GateDecision,
        ModelRecord,
        RegistryRecords,
        VersionRecord,
    )
    from mlpilot.store.base._studies import (
        StudyRecord,
        StudyRecords,
        StudySetup,
        TrialEnd,
        TrialRecord,
        TrialStart,
    )
    from mlpilot.store.base._tracking import (
        ArtifactRecord,
        Batch,
        Experiment,
        MetricPoint,
        OrderKeyWarning,
        RunRecord,
        Series,
        TrackingRecords,
    )
    from mlpilot.store.base._triggers import Trigger, TriggerRecords

_EXPORTS = {
    "Experiment": "mlpilot.store.base._tracking",
    "MetricPoint": "mlpilot.store.base._tracking",
    "ArtifactRecord": "mlpilot.store.base._tracking",
    "RunRecord": "mlpilot.store.base._tracking",
    "Series": "mlpilot.store.base._tracking",
    "Batch": "mlpilot.store.base._tracking",
    "OrderKeyWarning": "mlpilot.store.base._tracking",
    "TrackingRecords": "mlpilot.store.base._tracking",
    "DatasetVersion": "mlpilot.store.base._datasets",
    "VersionContent": "mlpilot.store.base._datasets",
    "DatasetSummary": "mlpilot.store.base._datasets",
    "RunLink": "mlpilot.store.base._datasets",
    "ModelVersionLink": "mlpilot.store.base._datasets",
    "MonitorLink": "mlpilot.store.base._datasets",
    "Lineage": "mlpilot.store.base._datasets",
    "DatasetRecords": "mlpilot.store.base._datasets",
    "PipelineRunRecord": "mlpilot.store.base._pipelines",
    "AttemptRecord": "mlpilot.store.base._pipelines",
    "TaskRecord": "mlpilot.store.base._pipelines",
    "StepHistory": "mlpilot.store.base._pipelines",
    "NewTask": "mlpilot.store.base._pipelines",
    "AttemptStart": "mlpilot.store.base._pipelines",
    "AttemptEnd": "mlpilot.store.base._pipelines",
    "CachedOutput": "mlpilot.store.base._pipelines",
    "PipelineRecords": "mlpilot.store.base._pipelines",
    "StudySetup": "mlpilot.store.base._studies",
    "StudyRecord": "mlpilot.store.base._studies",
    "TrialRecord": "mlpilot.store.base._studies",
    "TrialStart": "mlpilot.store.base._studies",
    "TrialEnd": "mlpilot.store.base._studies",
    "StudyRecords": "mlpilot.store.base._studies",
    "ModelRecord": "mlpilot.store.base._registry",
    "VersionRecord": "mlpilot.store.base._registry",
    "AliasMove": "mlpilot.store.base._registry",
    "GateDecision": "mlpilot.store.base._registry",
    "RegistryRecords": "mlpilot.store.base._registry",
    "PredictionRow": "mlpilot.store.base._predictions",
    "PredictionRecords": "mlpilot.store.base._predictions",
    "Monitor": "mlpilot.store.base._monitors",
    "AlertRecord": "mlpilot.store.base._monitors",
    "WindowResult": "mlpilot.store.base._monitors",
    "RetrainRecord": "mlpilot.store.base._monitors",
    "RetrainEffect": "mlpilot.store.base._monitors",
    "MonitorRecords": "mlpilot.store.base._monitors",
    "Event": "mlpilot.store.base._events",
    "EventRecords": "mlpilot.store.base._events",
    "Lease": "mlpilot.store.base._leases",
    "LeaseRecords": "mlpilot.store.base._leases",
    "Trigger": "mlpilot.store.base._triggers",
    "TriggerRecords": "mlpilot.store.base._triggers",
}
__getattr__, __dir__ = exports(__name__, globals(), _EXPORTS)

__all__ = [
    "AlertRecord",
    "AliasMove",
    "ArtifactRecord",
    "AttemptEnd",
    "AttemptRecord",
    "AttemptStart",
    "Batch",
    "CachedOutput",
    "DatasetRecords",
    "DatasetSummary",
    "DatasetVersion",
    "Event",
    "EventRecords",
    "Lease",
    "LeaseRecords",
    "Trigger",
    "TriggerRecords",
    "Experiment",
    "GateDecision",
    "Lineage",
    "MetricPoint",
    "ModelRecord",
    "ModelVersionLink",
    "Monitor",
    "MonitorLink",
    "MonitorRecords",
    "NewTask",
    "OrderKeyWarning",
    "PipelineRecords",
    "PipelineRunRecord",
    "PredictionRecords",
    "PredictionRow",
    "RegistryRecords",
    "RetrainEffect",
    "RetrainRecord",
    "RunLink",
    "RunRecord",
    "Series",
    "StepHistory",
    "StudyRecord",
    "StudyRecords",
    "StudySetup",
    "TaskRecord",
    "TrackingRecords",
    "TrialEnd",
    "TrialRecord",
    "TrialStart",
    "VersionContent",
    "VersionRecord",
    "WindowResult",
]
