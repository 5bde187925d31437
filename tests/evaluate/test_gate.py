"""The promotion gate: a minimum composite, a minimum significant improvement, and guard
metrics that must not get worse; a policy that makes no sense is refused."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from mlpilot.errors import InvalidInputError
from mlpilot.evaluate import Comparison, Decision, GatePolicy, compare, evaluate

from . import fixed, right_on

ROWS = 1_000


@pytest.fixture(scope="module")
def better_but_misses_positives() -> Comparison:
    """300 positives and 700 negatives. The champion finds every positive but calls 200
    negatives positive (accuracy 0.80, recall 1.0); the challenger calls no negative
    positive but misses 30 positives (accuracy 0.97, recall 0.90)."""
    y = np.r_[np.ones(300, dtype=int), np.zeros(700, dtype=int)]
    champion = y.copy()
    champion[300:500] = 1
    challenger = y.copy()
    challenger[:30] = 0
    return compare(fixed(challenger), fixed(champion), np.zeros((ROWS, 1)), y, resamples=300)


def checks(decision: Decision) -> dict[str, bool]:
    return {c.name: c.passed for c in decision.checks}


def test_the_example_has_the_numbers_its_docstring_says(
    better_but_misses_positives: Comparison,
) -> None:
    found = better_but_misses_positives
    assert found.champion.metrics["accuracy"].value == pytest.approx(0.80)
    assert found.challenger.metrics["accuracy"].value == pytest.approx(0.97)
    assert found.differences["recall"].value == pytest.approx(-0.10)


def test_min_composite_alone_decides_with_no_champion() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, ROWS)
    evaluation = evaluate(right_on(y, rng.random(ROWS) < 0.8), np.zeros((ROWS, 1)), y)
    value = evaluation.composite.value

    passed = GatePolicy(min_composite=value - 0.01).decide(evaluation, None)
    refused = GatePolicy(min_composite=value + 0.01).decide(evaluation, None)

    assert passed.passed and checks(passed) == {"min_composite": True}
    assert not refused.passed and checks(refused) == {"min_composite": False}
    assert "min_composite" in refused.summary() and f"{value:.4f}" in refused.summary()
    assert GatePolicy().decide(evaluation, None).passed  # nothing asked, nothing to fail


def test_min_composite_applies_against_a_champion_too(
    better_but_misses_positives: Comparison,
) -> None:
    found = better_but_misses_positives

    decision = GatePolicy(min_composite=0.98).decide(found.challenger, found)

    assert not decision.passed
    assert checks(decision) == {"min_composite": False, "improvement": True}


def test_min_improvement(better_but_misses_positives: Comparison) -> None:
    found = better_but_misses_positives  # the composite (accuracy) improves by 0.17

    enough = GatePolicy(min_improvement=0.1).decide(found.challenger, found)
    too_little = GatePolicy(min_improvement=0.2).decide(found.challenger, found)

    assert enough.passed
    assert not too_little.passed and checks(too_little) == {"improvement": False}
    assert "+0.1700" in too_little.summary()


@pytest.mark.parametrize(("tolerance", "passes"), [(0.05, False), (0.15, True)])
def test_a_guarded_metric_may_not_worsen_beyond_its_tolerance(
    better_but_misses_positives: Comparison, tolerance: float, passes: bool
) -> None:
    found = better_but_misses_positives

    decision = GatePolicy(guards={"recall": tolerance}).decide(found.challenger, found)

    assert checks(decision) == {"improvement": True, "guard recall": passes}
    assert decision.passed is passes


def test_a_guard_on_a_lower_is_better_metric() -> None:
    """Log loss is better lower: a challenger whose loss rises by 0.05 breaks a guard of
    0.01 and keeps one of 0.1."""
    y = np.r_[np.ones(50, dtype=int), np.zeros(50, dtype=int)]
    sure = np.where(y == 1, 0.9, 0.1)
    unsure = np.where(y == 1, 0.85, 0.15)
    champion = fixed(y, proba=np.column_stack([1 - sure, sure]))
    challenger = fixed(y, proba=np.column_stack([1 - unsure, unsure]))
    found = compare(challenger, champion, np.zeros((100, 1)), y, resamples=50)
    loss_rise = np.log(0.9) - np.log(0.85)
    assert found.differences["log_loss"].value == pytest.approx(loss_rise)

    strict = GatePolicy(alpha=0.999, guards={"log_loss": 0.01}).decide(found.challenger, found)
    loose = GatePolicy(alpha=0.999, guards={"log_loss": 0.1}).decide(found.challenger, found)

    assert checks(strict)["guard log_loss"] is False
    assert checks(loose)["guard log_loss"] is True


def test_a_guard_on_a_metric_not_measured_is_refused() -> None:
    y = np.r_[np.ones(50, dtype=int), np.zeros(50, dtype=int)]
    found = compare(fixed(y), fixed(1 - y), np.zeros((100, 1)), y, resamples=20)

    with pytest.raises(InvalidInputError, match="roc_auc"):
        GatePolicy(guards={"roc_auc": 0.01}).decide(found.challenger, found)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"alpha": 0}, "alpha"),
        ({"alpha": 1}, "alpha"),
        ({"alpha": 1.5}, "alpha"),
        ({"min_improvement": -0.01}, "min_improvement"),
        ({"guards": {"recall": -0.01}}, "recall"),
        ({"threshold": 0.9}, "threshold"),
    ],
)
def test_a_policy_that_makes_no_sense_is_refused(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        GatePolicy.from_dict(settings)


def test_a_policy_round_trips_through_a_dict() -> None:
    policy = GatePolicy(min_composite=0.8, min_improvement=0.01, alpha=0.1, guards={"f1": 0.02})

    assert GatePolicy.from_dict(policy.to_dict()) == policy
