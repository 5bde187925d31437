"""Retrains in SQL: the retraining pipelines alerts start, never two at once for one
model."""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from typing import Any

from sqlalchemy import func, insert, select, update

from mlpilot.errors import ConflictError, InvalidInputError, NotFoundError
from mlpilot.store._metadata import MetadataStore, now_ms
from mlpilot.store._schema import alias_moves, events, model_aliases, monitor_retrains
from mlpilot.store.base._monitors import RetrainEffect, RetrainRecord

_RETRAIN_ENDS = ("finished", "failed")


class SqlRetrainRecords:
    """The retrain part of :class:`~mlpilot.store.sql._monitors.SqlMonitorRecords`.

    Args:
        metadata: The database.
    """

    def __init__(self, metadata: MetadataStore) -> None:
        self._metadata = metadata

    def running_retrains(self, model: str) -> list[RetrainRecord]:
        query = (
            select(monitor_retrains)
            .where(monitor_retrains.c.model == model, monitor_retrains.c.status == "running")
            .order_by(monitor_retrains.c.id)
        )
        with self._metadata.read() as conn:
            return [_retrain(row) for row in conn.execute(query)]

    def start_retrain(
        self,
        model: str,
        *,
        alert_id: int,
        pipeline: str,
        params: Mapping[str, Any],
        host: str,
        dead: Collection[int] = (),
    ) -> RetrainRecord:
        check_json(dict(params), "a retrain's params")
        with self._metadata.write() as conn:
            if self._metadata.dialect == "postgresql":
                # The model may have no row to lock (a model only the log knows).
                conn.execute(select(func.pg_advisory_xact_lock(func.hashtext(f"retrain:{model}"))))
            running = conn.execute(
                select(monitor_retrains)
                .where(monitor_retrains.c.model == model, monitor_retrains.c.status == "running")
                .order_by(monitor_retrains.c.id)
            ).all()
            other = next((row for row in running if row.id not in set(dead)), None)
            if other is not None:
                raise ConflictError(
                    f"a retrain of {model} started by alert {other.alert_id} is still running "
                    f"(pid {other.pid})"
                )
            champion = conn.execute(
                select(model_aliases.c.version).where(
                    model_aliases.c.model == model, model_aliases.c.alias == "champion"
                )
            ).scalar()
            inserted = conn.execute(
                insert(monitor_retrains).values(
                    model=model,
                    alert_id=alert_id,
                    pipeline=pipeline,
                    params=dict(params),
                    host=host,
                    pid=None,
                    log_path="",
                    status="running",
                    champion_before=champion,
                    started_ms=now_ms(),
                    outcome="",
                )
            )
            retrain_id = int(inserted.inserted_primary_key[0])  # type: ignore[index]
        return self.retrain(retrain_id)

    def set_retrain_process(self, retrain_id: int, pid: int, log_path: str) -> None:
        with self._metadata.write() as conn:
            done = conn.execute(
                update(monitor_retrains)
                .where(monitor_retrains.c.id == retrain_id)
                .values(pid=pid, log_path=log_path)
            )
            if done.rowcount == 0:
                raise _no_retrain(retrain_id)

    def retrain(self, retrain_id: int) -> RetrainRecord:
        with self._metadata.read() as conn:
            row = conn.execute(
                select(monitor_retrains).where(monitor_retrains.c.id == retrain_id)
            ).first()
        if row is None:
            raise _no_retrain(retrain_id)
        return _retrain(row)

    def finish_retrain(self, retrain_id: int, status: str, outcome: str) -> None:
        if status not in _RETRAIN_ENDS:
            raise InvalidInputError(f"a retrain ends {' or '.join(_RETRAIN_ENDS)}, not {status!r}")
        with self._metadata.write() as conn:
            found = conn.execute(
                select(monitor_retrains.c.id).where(monitor_retrains.c.id == retrain_id)
            ).first()
            if found is None:
                raise _no_retrain(retrain_id)
            conn.execute(
                update(monitor_retrains)
                .where(monitor_retrains.c.id == retrain_id, monitor_retrains.c.status == "running")
                .values(status=status, ended_ms=now_ms(), outcome=outcome)
            )

    def retrain_effect(self, retrain_id: int) -> RetrainEffect:
        row = self.retrain(retrain_id)
        with self._metadata.read() as conn:
            moved = conn.execute(
                select(alias_moves.c.version)
                .where(
                    alias_moves.c.model == row.model,
                    alias_moves.c.alias == "champion",
                    alias_moves.c.ts_ms >= row.started_ms,
                    alias_moves.c.kind.in_(("promote", "override", "set")),
                )
                .order_by(alias_moves.c.id.desc())
                .limit(1)
            ).scalar()
            decision = conn.execute(
                select(events.c.id, events.c.kind, events.c.payload)
                .where(
                    events.c.kind.in_(_DECISIONS),
                    events.c.object_type == "model",
                    events.c.object_id == row.model,
                    events.c.ts_ms >= row.started_ms,
                )
                .order_by(events.c.id.desc())
                .limit(1)
            ).first()
            champion = conn.execute(
                select(model_aliases.c.version).where(
                    model_aliases.c.model == row.model, model_aliases.c.alias == "champion"
                )
            ).scalar()
        payload = (decision.payload or {}) if decision is not None else {}
        refused = payload.get("version") if decision and decision.kind == _REFUSED else None
        return RetrainEffect(
            moved_to=None if moved is None else int(moved),
            refused=None if refused is None else int(refused),
            champion=None if champion is None else int(champion),
            decision_event=None if decision is None else int(decision.id),
            gate_reason=str(payload.get("reason", "")),
            failed_checks=tuple(c for c in payload.get("checks") or [] if not c.get("passed")),
        )


#: The events of the promotion gate's decisions.
_REFUSED = "model.promotion_refused"
_DECISIONS = ("model.alias_promote", "model.alias_override", _REFUSED)


def check_json(value: Any, what: str) -> None:
    """Refuse what JSON cannot hold (NaN, infinities, objects), before any write."""
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"{what} must be JSON values: {exc}") from None


def _no_retrain(retrain_id: int) -> NotFoundError:
    return NotFoundError(f"no retrain {retrain_id}")


def _retrain(row: Any) -> RetrainRecord:
    return RetrainRecord(
        id=int(row.id),
        model=row.model,
        alert_id=int(row.alert_id),
        pipeline=row.pipeline,
        params=dict(row.params),
        host=row.host,
        pid=row.pid,
        log_path=row.log_path,
        status=row.status,
        champion_before=row.champion_before,
        started_ms=row.started_ms,
        ended_ms=row.ended_ms,
        outcome=row.outcome,
    )
