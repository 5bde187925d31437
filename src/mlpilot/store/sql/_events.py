"""The audit log in SQL: the ``events`` table."""

from __future__ import annotations

import json
import numbers
from typing import Any

from sqlalchemy import select

from mlpilot.errors import InvalidInputError
from mlpilot.store._metadata import MetadataStore
from mlpilot.store._schema import MAX_KEY_LENGTH, events
from mlpilot.store.base._events import Event

#: The longest ``kind`` and ``object_type``, as the table stores them.
_MAX_KIND = 64
_MAX_OBJECT_TYPE = 32


class SqlEventRecords:
    """:class:`~mlpilot.store.base.EventRecords` over the metadata database.

    Args:
        metadata: The database.
        actor: Who the events name unless a call names another (the settings' user).
    """

    def __init__(self, metadata: MetadataStore, actor: str) -> None:
        self._metadata = metadata
        self._actor = actor

    def read(
        self, kind: str | None = None, *, after: int = 0, limit: int | None = None
    ) -> list[Event]:
        if kind is not None and not isinstance(kind, str):
            raise InvalidInputError(f"kind is the start of an event kind, got {kind!r}")
        after = _count(after, "after", 0)
        query = select(events).where(events.c.id > after)
        if kind:
            query = query.where(events.c.kind.startswith(kind, autoescape=True))
        if limit is not None:
            query = query.order_by(events.c.id.desc()).limit(_count(limit, "limit", 1))
        else:
            query = query.order_by(events.c.id)
        with self._metadata.read() as conn:
            rows = list(conn.execute(query))
        return [
            Event(r.id, r.ts_ms, r.kind, r.object_type, r.object_id, r.actor, r.payload or {})
            for r in sorted(rows, key=lambda r: r.id)
        ]

    def record(
        self,
        kind: str,
        object_type: str,
        object_id: str,
        *,
        actor: str | None = None,
        **payload: Any,
    ) -> None:
        _text(kind, "kind", _MAX_KIND)
        _text(object_type, "object_type", _MAX_OBJECT_TYPE)
        _text(object_id, "object_id", MAX_KEY_LENGTH)
        actor = self._actor if actor is None else actor
        _text(actor, "actor", MAX_KEY_LENGTH)
        try:
            json.dumps(payload, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(
                f"an event's payload holds JSON's types and finite numbers only: {exc}"
            ) from None
        with self._metadata.write() as conn:
            self._metadata.record_event(conn, kind, object_type, object_id, actor, **payload)


def _text(value: Any, what: str, longest: int) -> None:
    if not isinstance(value, str) or not 0 < len(value) <= longest:
        raise InvalidInputError(
            f"an event's {what} is text of 1 to {longest} characters, got {value!r}"
        )


def _count(value: Any, what: str, least: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < least:
        raise InvalidInputError(f"{what} is an integer of at least {least}, got {value!r}")
    return int(value)
