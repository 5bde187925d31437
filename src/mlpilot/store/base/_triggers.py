"""Triggers: pipelines the controller starts on its own, on a schedule or on new data."""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol, runtime_checkable


@dataclasses.dataclass(frozen=True)
class Trigger:
    """A pipeline to start on a cron schedule, or on each new version of a dataset (or
    each move of one of its tags).

    Attributes:
        name: unique among the store's triggers.
        pipeline: ``FILE:NAME`` (an absolute path) or ``module:name``.
        params: the run's parameters.
        cron: a cron expression (``0 3 * * *``), in UTC; or None.
        dataset: a dataset whose new versions start the pipeline; or None.
        tag: with ``dataset``: only when this tag moves to another version.
        created_ms, created_by: when and by whom it was created.
        last_key: what it last fired for (a slot's time, a version), or None.
        last_fired_ms: when it last fired, or None.
    """

    name: str
    pipeline: str
    params: dict[str, Any]
    cron: str | None
    dataset: str | None
    tag: str | None
    created_ms: int
    created_by: str
    last_key: str | None = None
    last_fired_ms: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@runtime_checkable
class TriggerRecords(Protocol):
    """Triggers; each method is one atomic unit, safe with many processes at once.

    Unknown names raise :class:`~mlpilot.errors.NotFoundError`, a taken name
    :class:`~mlpilot.errors.ConflictError`, bad input
    :class:`~mlpilot.errors.InvalidInputError`.
    """

    def create(self, trigger: Trigger) -> None:
        """Store a new trigger (event ``trigger.created``)."""
        ...

    def get(self, name: str) -> Trigger: ...

    def list_triggers(self) -> list[Trigger]:
        """Every trigger, by name."""
        ...

    def delete(self, name: str) -> None:
        """Delete a trigger (event ``trigger.deleted``)."""
        ...

    def claim(self, name: str, key: str, stale_s: float) -> bool:
        """Claim the firing of ``name`` for ``key``: True for one caller only, and only
        if the trigger has not fired for ``key`` yet; a claim older than ``stale_s``
        whose firing never completed (its claimer died) may be claimed again."""
        ...

    def fired(self, name: str, key: str, run_detail: dict[str, Any]) -> None:
        """Record that the firing for ``key`` started (event ``trigger.fired`` with
        ``run_detail``: the process, its log)."""
        ...
