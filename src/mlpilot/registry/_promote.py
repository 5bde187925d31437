"""Promotion through the gate: evaluate the challenger against the champion on the same
rows, apply the model's policy, and move the alias only if it passes (or if someone
overrides it, with a reason). Every decision is recorded, passed or not."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd

from mlpilot.errors import InvalidInputError
from mlpilot.evaluate import Comparison, Evaluation, compare, evaluate
from mlpilot.evaluate._gate import Decision
from mlpilot.registry._registry import CHAMPION, ModelRegistry, VersionRecord
from mlpilot.tracking import TrackingClient


@dataclasses.dataclass(frozen=True)
class Promotion:
    """What a promotion decided, the numbers behind it, and where the alias points now."""

    model: str
    alias: str
    version: int
    previous: int | None
    decision: Decision
    promoted: bool
    overridden: bool
    evaluation: Evaluation
    comparison: Comparison | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "alias": self.alias,
            "version": self.version,
            "previous": self.previous,
            "promoted": self.promoted,
            "overridden": self.overridden,
            "decision": self.decision.to_dict(),
            "evaluation": self.evaluation.to_dict(),
            "comparison": None if self.comparison is None else self.comparison.to_dict(),
        }


def promote(
    name: str,
    version: int | str,
    features: pd.DataFrame | np.ndarray,
    target: Any,
    *,
    alias: str = CHAMPION,
    override_reason: str | None = None,
    data: str = "",
    resamples: int = 1000,
    seed: int = 0,
    client: TrackingClient | None = None,
) -> Promotion:
    """Try to move ``name@alias`` to ``version`` through the model's gate.

    Both the challenger and the current holder of the alias are scored on ``features``
    and ``target`` with the same resamples. If the gate says no, the alias stays where
    it is unless ``override_reason`` says why it should move anyway. The decision is
    recorded either way (``ModelRegistry.records.decisions``).

    Args:
        client: The client whose store holds the model (by default one opened from the
            environment's settings).

    Raises:
        ConflictError: The alias moved while the versions were being scored; the
            decision no longer holds, so nothing is recorded.
    """
    registry = ModelRegistry(client)
    model = registry.get_model(name)
    challenger = _version_of(registry, name, version)
    if challenger.signature is not None:
        challenger.signature.check(features)
    candidate = registry.load(challenger)
    previous = model.aliases.get(alias)
    if previous == challenger.version:
        raise InvalidInputError(f"version {challenger.version} is {name}@{alias} already")
    comparison = None
    if previous is None:
        evaluation = evaluate(
            candidate,
            features,
            target,
            scoring=model.scoring,
            resamples=resamples,
            seed=seed,
            data=data,
        )
    else:
        holder = registry.load(registry.get_version(name, previous))
        comparison = compare(
            candidate,
            holder,
            features,
            target,
            scoring=model.scoring,
            resamples=resamples,
            seed=seed,
            data=data,
        )
        evaluation = comparison.challenger
    decision = model.gate.decide(evaluation, comparison)
    overridden = not decision.passed and bool(override_reason and override_reason.strip())
    record = {
        **decision.to_dict(),
        "evaluation": evaluation.to_dict(),
        "comparison": None if comparison is None else comparison.to_dict(),
    }
    moves = decision.passed or overridden
    if moves:
        registry.check_bytes(challenger, alias)
    registry.records.record_decision(
        name,
        alias,
        challenger.version,
        champion=previous,
        outcome="promote" if decision.passed else "override" if overridden else "refuse",
        reason=override_reason if moves and override_reason else decision.summary(),
        decision=record,
    )
    return Promotion(
        name,
        alias,
        challenger.version,
        previous,
        decision,
        moves,
        overridden,
        evaluation,
        comparison,
    )


def _version_of(registry: ModelRegistry, name: str, version: int | str) -> VersionRecord:
    if isinstance(version, int) and not isinstance(version, bool):
        return registry.get_version(name, version)
    if isinstance(version, str) and version.isdigit():
        return registry.get_version(name, int(version))
    found = registry.resolve(str(version))
    if found.model != name:
        raise InvalidInputError(
            f"{version} is a version of model {found.model!r}, not of {name!r}; a model "
            "is promoted only to its own versions"
        )
    return found
