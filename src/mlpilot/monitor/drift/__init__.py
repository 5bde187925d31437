"""Drift tests: a reference profile computed once, and tests that compare windows of
current data with it (PSI, Kolmogorov–Smirnov, chi-square, and those plug-ins add through
the entry point group ``mlpilot.drift_tests``)."""

from __future__ import annotations

from mlpilot.monitor.drift._base import CORRECTIONS, DRIFT_TESTS, DriftTest
from mlpilot.monitor.drift._check import check_drift
from mlpilot.monitor.drift._chi2 import ChiSquareTest
from mlpilot.monitor.drift._frame import ColumnKind
from mlpilot.monitor.drift._ks import KSTest
from mlpilot.monitor.drift._merge import NumericComparison
from mlpilot.monitor.drift._profile import (
    SAMPLE_SIZE,
    CategoricalColumn,
    ColumnProfile,
    NumericColumn,
    ReferenceProfile,
)
from mlpilot.monitor.drift._psi import PSITest
from mlpilot.monitor.drift._report import ColumnResult, DriftReport
from mlpilot.monitor.drift._window import Window

__all__ = [
    "CORRECTIONS",
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
