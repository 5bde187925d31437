"""Triggers in SQL: the ``triggers`` table."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from mlpilot.errors import ConflictError, InvalidInputError, NotFoundError
from mlpilot.store._metadata import MetadataStore, now_ms
from mlpilot.store._schema import triggers
from mlpilot.store._validate import check_key
from mlpilot.store.base._triggers import Trigger
from mlpilot.store.sql._retrains import check_json
from mlpilot.store.sql._retry import write_retrying


class SqlTriggerRecords:
    """:class:`~mlpilot.store.base.TriggerRecords` over the metadata database."""

    def __init__(self, metadata: MetadataStore, actor: str) -> None:
        self._metadata = metadata
        self._actor = actor

    def create(self, trigger: Trigger) -> None:
        check_key(trigger.name, "a trigger name")
        if (trigger.cron is None) == (trigger.dataset is None):
            raise InvalidInputError("a trigger fires on a schedule (cron) or on a dataset")
        spec = {"cron": trigger.cron, "dataset": trigger.dataset, "tag": trigger.tag}
        check_json(trigger.params, "a trigger's params")
        try:
            with self._metadata.write() as conn:
                conn.execute(
                    insert(triggers).values(
                        name=trigger.name,
                        pipeline=trigger.pipeline,
                        params=dict(trigger.params),
                        spec=spec,
                        created_ms=trigger.created_ms,
                        created_by=trigger.created_by,
                        last_key=trigger.last_key,
                    )
                )
                self._event(conn, "trigger.created", trigger.name, pipeline=trigger.pipeline)
        except IntegrityError:
            raise ConflictError(
                f"a trigger named {trigger.name!r} exists; pick another name"
            ) from None

    def get(self, name: str) -> Trigger:
        with self._metadata.read() as conn:
            row = conn.execute(select(triggers).where(triggers.c.name == name)).first()
        if row is None:
            raise _no_trigger(name)
        return _trigger(row)

    def list_triggers(self) -> list[Trigger]:
        with self._metadata.read() as conn:
            return [_trigger(r) for r in conn.execute(select(triggers).order_by(triggers.c.name))]

    def delete(self, name: str) -> None:
        with self._metadata.write() as conn:
            if not conn.execute(delete(triggers).where(triggers.c.name == name)).rowcount:
                raise _no_trigger(name)
            self._event(conn, "trigger.deleted", name)

    def claim(self, name: str, key: str, stale_s: float) -> bool:
        def take(conn: Connection) -> bool:
            now = now_ms()
            if conn.execute(select(triggers.c.name).where(triggers.c.name == name)).first() is None:
                raise _no_trigger(name)
            claimed = conn.execute(
                update(triggers)
                .where(
                    triggers.c.name == name,
                    or_(triggers.c.last_key.is_(None), triggers.c.last_key != key),
                    or_(
                        triggers.c.claim_key.is_(None),
                        triggers.c.claim_ms < now - int(stale_s * 1000),
                    ),
                )
                .values(claim_key=key, claim_ms=now)
            ).rowcount
            return bool(claimed)

        return write_retrying(self._metadata, take)

    def fired(self, name: str, key: str, run_detail: dict[str, Any]) -> None:
        check_json(run_detail, "a firing's detail")
        with self._metadata.write() as conn:
            changed = conn.execute(
                update(triggers)
                .where(triggers.c.name == name)
                .values(last_key=key, last_fired_ms=now_ms(), claim_key=None, claim_ms=None)
            ).rowcount
            if not changed:
                raise _no_trigger(name)
            self._event(conn, "trigger.fired", name, key=key, **run_detail)

    def _event(self, conn: Connection, kind: str, name: str, **payload: Any) -> None:
        self._metadata.record_event(conn, kind, "trigger", name, self._actor, **payload)


def _trigger(row: Any) -> Trigger:
    spec = row.spec or {}
    return Trigger(
        name=row.name,
        pipeline=row.pipeline,
        params=dict(row.params or {}),
        cron=spec.get("cron"),
        dataset=spec.get("dataset"),
        tag=spec.get("tag"),
        created_ms=row.created_ms,
        created_by=row.created_by,
        last_key=row.last_key,
        last_fired_ms=row.last_fired_ms,
    )


def _no_trigger(name: str) -> NotFoundError:
    return NotFoundError(f"no trigger named {name!r}; list them with `mlpilot triggers list`")
