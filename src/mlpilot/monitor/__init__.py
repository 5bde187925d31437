"""Monitoring models in production: drift of their traffic from a reference, performance
on labels that arrive later, latency, alert rules and the actions they take."""

from mlpilot.monitor._controller import Controller, Round
from mlpilot.monitor._monitor import (
    RESCORE_WINDOWS,
    Monitors,
    create_monitor,
    run_once,
)
from mlpilot.monitor._report import write_window_report
from mlpilot.monitor._rules import METRICS, Condition, Rule
from mlpilot.monitor.actions import (
    ACTIONS,
    Action,
    AlertContext,
    RecordAction,
    RetrainAction,
    RollbackAction,
    WebhookAction,
)
from mlpilot.monitor.drift import (
    DRIFT_TESTS,
    SAMPLE_SIZE,
    CategoricalColumn,
    ChiSquareTest,
    ColumnKind,
    ColumnProfile,
    ColumnResult,
    DriftReport,
    DriftTest,
    KSTest,
    NumericColumn,
    NumericComparison,
    PSITest,
    ReferenceProfile,
    Window,
    check_drift,
)
from mlpilot.store.base._monitors import AlertRecord, Monitor, RetrainRecord, WindowResult

__all__ = [
    "ACTIONS",
    "METRICS",
    "RESCORE_WINDOWS",
    "Action",
    "AlertContext",
    "AlertRecord",
    "Condition",
    "Controller",
    "Monitor",
    "Monitors",
    "RecordAction",
    "RetrainAction",
    "RetrainRecord",
    "RollbackAction",
    "Round",
    "Rule",
    "WebhookAction",
    "WindowResult",
    "create_monitor",
    "run_once",
    "write_window_report",
    "DRIFT_TESTS",
    "SAMPLE_SIZE",
    "CategoricalColumn",
    "ChiSquareTest",
    "ColumnKind",
    "ColumnProfile",
    "ColumnResult",
    "DriftReport",
    "DriftTest",
    "KSTest",
    "NumericColumn",
    "NumericComparison",
    "PSITest",
    "ReferenceProfile",
    "Window",
    "check_drift",
]
