"""Monitoring models in production: drift of their input data from a reference."""

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

__all__ = [
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
