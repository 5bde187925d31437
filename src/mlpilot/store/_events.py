"""Reading the audit log: the ``events`` rows every state change writes."""

from __future__ import annotations

import dataclasses
from typing import Any

from sqlalchemy import select

from mlpilot.store._metadata import MetadataStore
from mlpilot.store._schema import events


@dataclasses.dataclass(frozen=True)
class Event:
    id: int
    ts_ms: int
    kind: str
    object_type: str
    object_id: str
    actor: str
    payload: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def read_events(
    metadata: MetadataStore,
    kind: str | None = None,
    *,
    after: int = 0,
    limit: int | None = None,
) -> list[Event]:
    """Events oldest first: those whose kind starts with ``kind``, with an id above
    ``after`` (to follow the log), the newest ``limit`` of them."""
    query = select(events).where(events.c.id > after)
    if kind:
        query = query.where(events.c.kind.startswith(kind, autoescape=True))
    if limit is not None:
        query = query.order_by(events.c.id.desc()).limit(limit)
    else:
        query = query.order_by(events.c.id)
    with metadata.read() as conn:
        rows = list(conn.execute(query))
    return [
        Event(r.id, r.ts_ms, r.kind, r.object_type, r.object_id, r.actor, r.payload or {})
        for r in sorted(rows, key=lambda r: r.id)
    ]
