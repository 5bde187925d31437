"""The audit log: one event per state change, in the order they happened.

:class:`EventRecords` is what the layers record and ask; the domains' write methods
record their own events in the same transaction, and :meth:`EventRecords.record` is for
what happens outside them (a server starting, a model rescaled).
:class:`mlpilot.testing.EventRecordsContract` is the contract every implementation
passes.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol, runtime_checkable


@dataclasses.dataclass(frozen=True)
class Event:
    """One row of the audit log."""

    #: Increases with every event, so that a reader follows the log by the last id seen.
    id: int
    ts_ms: int
    #: Dotted, its domain first: ``model.promoted``, ``dataset.tagged``, ``alert.fired``.
    kind: str
    object_type: str
    object_id: str
    actor: str
    payload: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """The event as JSON-able values (its time in UTC milliseconds)."""
        return dataclasses.asdict(self)


@runtime_checkable
class EventRecords(Protocol):
    """The audit log; each method is one atomic unit.

    Bad input raises :class:`~mlpilot.errors.InvalidInputError` and nothing is stored.
    """

    def read(
        self, kind: str | None = None, *, after: int = 0, limit: int | None = None
    ) -> list[Event]:
        """Events oldest first: those whose kind starts with ``kind`` (all if None or
        empty), with an id above ``after`` (to follow the log), the newest ``limit`` of
        them (all if None)."""
        ...

    def record(
        self,
        kind: str,
        object_type: str,
        object_id: str,
        *,
        actor: str | None = None,
        **payload: Any,
    ) -> None:
        """Append an event about ``object_type`` ``object_id``; ``actor`` defaults to the
        store's user, and ``payload`` holds JSON's types only (finite numbers)."""
        ...
