"""The promotion gate: a model's policy for when a challenger may replace the champion."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from mlpilot.errors import InvalidInputError
from mlpilot.evaluate._evaluation import Comparison, Evaluation


@dataclasses.dataclass(frozen=True)
class GatePolicy:
    """What a challenger must show, on the same rows as the champion, to be promoted.

    Args:
        min_composite: The challenger's composite score must reach this.
        min_improvement: Its composite must beat the champion's by at least this much.
        alpha: ...and the improvement must be significant at this level (the paired
            bootstrap's one-sided p-value, on the same resampled rows).
        guards: Metrics that must not get worse than the champion's by more than the
            tolerance given, e.g. ``{"recall": 0.01}``.
    """

    min_composite: float | None = None
    min_improvement: float = 0.0
    alpha: float = 0.05
    guards: Mapping[str, float] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 0 < self.alpha < 1:
            raise InvalidInputError(f"alpha must be between 0 and 1, got {self.alpha!r}")
        if self.min_improvement < 0:
            raise InvalidInputError("min_improvement must be >= 0")
        for metric, tolerance in self.guards.items():
            if not tolerance >= 0:
                raise InvalidInputError(f"the tolerance of guard {metric!r} must be >= 0")
        object.__setattr__(self, "guards", dict(self.guards))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GatePolicy:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InvalidInputError(
                f"unknown gate setting {unknown[0]!r}; the settings: {', '.join(sorted(known))}"
            )
        return cls(**data)

    def decide(self, challenger: Evaluation, comparison: Comparison | None) -> Decision:
        """Whether ``challenger`` passes, and every check with its numbers.

        With no champion (``comparison`` is None), only ``min_composite`` applies.
        """
        checks: list[Check] = []
        composite = challenger.composite.value
        if self.min_composite is not None:
            checks.append(
                Check(
                    "min_composite",
                    composite >= self.min_composite,
                    f"composite {composite:.4f} (interval {challenger.composite.low:.4f}.."
                    f"{challenger.composite.high:.4f}) against a minimum of "
                    f"{self.min_composite:.4f}",
                )
            )
        if comparison is not None:
            diff = comparison.composite
            checks.append(
                Check(
                    "improvement",
                    diff.value >= self.min_improvement and diff.p_value < self.alpha,
                    f"composite {diff.value:+.4f} over the champion (interval {diff.low:+.4f}.."
                    f"{diff.high:+.4f}, p = {diff.p_value:.4f}); needs at least "
                    f"{self.min_improvement:+.4f} with p < {self.alpha}",
                )
            )
            for metric, tolerance in self.guards.items():
                if metric not in comparison.differences:
                    raise InvalidInputError(
                        f"the gate guards {metric!r}, which this evaluation does not measure"
                    )
                d = comparison.differences[metric]
                higher = challenger.scoring.suite[metric].higher_is_better
                loss = -d.value if higher else d.value
                checks.append(
                    Check(
                        f"guard {metric}",
                        loss <= tolerance,
                        f"{metric} {d.value:+.4f} against the champion; it may worsen by at "
                        f"most {tolerance:.4f}",
                    )
                )
        return Decision(all(c.passed for c in checks), checks)


@dataclasses.dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    detail: str


@dataclasses.dataclass(frozen=True)
class Decision:
    """The gate's answer and the checks behind it."""

    passed: bool
    checks: list[Check]

    def to_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "checks": [dataclasses.asdict(c) for c in self.checks]}

    def summary(self) -> str:
        failed = [c for c in self.checks if not c.passed]
        if not failed:
            return "passed the gate" + (
                ": " + "; ".join(c.detail for c in self.checks) if self.checks else ""
            )
        return "did not pass the gate: " + "; ".join(f"{c.name}: {c.detail}" for c in failed)
