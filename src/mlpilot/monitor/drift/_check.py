"""The front door: check a window of current data against a reference profile."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mlpilot.errors import InvalidInputError
from mlpilot.monitor.drift._base import DRIFT_TESTS, DriftTest
from mlpilot.monitor.drift._profile import ReferenceProfile
from mlpilot.monitor.drift._report import DriftReport
from mlpilot.monitor.drift._window import Window


def check_drift(
    profile: ReferenceProfile,
    window: Any,
    tests: Sequence[str | DriftTest] | str = ("ks", "psi", "chi2"),
    *,
    alpha: float = 0.05,
    psi_threshold: float = 0.2,
    correction: str = "none",
    bonferroni: bool = False,
) -> DriftReport:
    """Test every column of ``window`` for drift from the reference ``profile``.

    Each test runs on the columns of the kinds it applies to: KS on numeric columns,
    chi-square on categorical ones, PSI on both. A column that cannot be compared (it
    is missing, holds values of another type, or all its values are missing) gets a
    not-evaluable result with the reason; an empty window gives a report that is not
    evaluable as a whole.

    Args:
        profile: the reference, from :meth:`ReferenceProfile.from_frame`.
        window: the current rows, a pandas DataFrame or a pyarrow Table.
        tests: names from :data:`DRIFT_TESTS` (built-in or from plug-ins), or
            :class:`DriftTest` objects.
        alpha: the significance level of the tests named ``ks`` and ``chi2``.
        psi_threshold: the index from which the test named ``psi`` reports drift.
        correction: how ``ks`` and ``chi2`` correct ``alpha`` for the number of
            columns each compares: ``none``, ``bonferroni`` or ``bh``
            (Benjamini–Hochberg).
        bonferroni: the same as ``correction="bonferroni"``.

    Returns:
        The report, with one result per column and test.

    Raises:
        InvalidInputError: an unknown or repeated test, a bad ``alpha`` or
            ``psi_threshold``, or a ``profile`` or ``window`` of the wrong type.

    Example::

        profile = ReferenceProfile.from_frame(train)
        report = check_drift(profile, last_hour)
        report.drifted_columns        # ['age', 'country']
    """
    chosen = _tests(tests, alpha, psi_threshold, "bonferroni" if bonferroni else correction)
    read = Window(profile, window)
    if read.rows == 0:
        return DriftReport((), 0, profile.rows, reason="empty window")
    order = {name: position for position, name in enumerate(profile.columns)}
    results = [result for test in chosen for result in test.check(profile, read)]
    results.sort(key=lambda result: order[result.column])
    return DriftReport(tuple(results), read.rows, profile.rows)


def _tests(
    tests: Sequence[str | DriftTest] | str, alpha: float, psi_threshold: float, correction: str
) -> list[DriftTest]:
    # The settings of check_drift that set up the built-in tests; others use their own.
    settings: dict[str, dict[str, Any]] = {
        "psi": {"threshold": psi_threshold},
        "ks": {"alpha": alpha, "correction": correction},
        "chi2": {"alpha": alpha, "correction": correction},
    }
    made: dict[str, DriftTest] = {}
    for test in [tests] if isinstance(tests, str) else tests:
        made_test = DRIFT_TESTS.get(test, **settings.get(test, {}) if isinstance(test, str) else {})
        if made_test.name in made:
            raise InvalidInputError(f"drift test {made_test.name!r} is asked for twice")
        made[made_test.name] = made_test
    if not made:
        raise InvalidInputError("no drift tests given; name at least one, e.g. tests=('ks',)")
    return list(made.values())
