"""Monitor records in SQL: monitors, their windows, alerts and retrains.

Writers that must not overlap (two processes evaluating one monitor, two alerts starting
a retrain of one model) serialise on a row lock (PostgreSQL) or on the database's write
lock, which SQLite takes when the transaction begins.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from mlpilot.errors import ConflictError, InvalidInputError, NotFoundError
from mlpilot.store._metadata import MetadataStore, now_ms
from mlpilot.store._schema import (
    alerts,
    monitor_windows,
    monitors,
    predictions,
    registered_models,
)
from mlpilot.store._validate import check_key, check_text
from mlpilot.store.base._monitors import AlertRecord, Monitor, WindowResult, monitor_actor
from mlpilot.store.sql._retrains import SqlRetrainRecords, check_json

#: Monitor settings kept in the ``spec`` column.
_SPEC_KEYS = (
    "features",
    "window",
    "tests",
    "alpha",
    "psi_threshold",
    "min_labels",
    "latency_p99_ms",
    "prediction_column",
    "since_ms",
    "correction",
    "follow",
    "paused",
)
_WINDOW_COLUMNS = (
    "start_ms",
    "end_ms",
    "from_ms",
    "from_skip",
    "next_ms",
    "next_skip",
    "rows",
    "evaluable",
    "reason",
    "drifted_columns",
    "results",
    "performance",
    "latency",
)


class SqlMonitorRecords(SqlRetrainRecords):
    """:class:`~mlpilot.store.base.MonitorRecords` over the metadata database.

    Args:
        metadata: The database.
        actor: Who the events of writes name (the settings' user).
    """

    def __init__(self, metadata: MetadataStore, actor: str) -> None:
        super().__init__(metadata)
        self._actor = actor

    # -- monitors --------------------------------------------------------------------

    def create(self, monitor: Monitor) -> None:
        check_key(monitor.name, "a monitor name")
        spec = _checked_spec(monitor)
        try:
            with self._metadata.write() as conn:
                conn.execute(
                    insert(monitors).values(
                        name=monitor.name,
                        model=monitor.model,
                        reference=monitor.reference,
                        target=monitor.target,
                        task=monitor.task,
                        spec=spec,
                        rules=[dict(rule) for rule in monitor.rules],
                        profile_digest=monitor.profile_digest,
                        created_ms=monitor.created_ms,
                        created_by=monitor.created_by,
                    )
                )
                self._metadata.record_event(
                    conn,
                    "monitor.created",
                    "monitor",
                    monitor.name,
                    self._actor,
                    model=monitor.model,
                    reference=monitor.reference,
                )
        except IntegrityError:
            raise ConflictError(
                f"a monitor named {monitor.name!r} exists; pick another name"
            ) from None

    def update(self, monitor: Monitor, changes: Mapping[str, Any]) -> None:
        spec = _checked_spec(monitor)
        check_json(dict(changes), "a monitor's changes")
        with self._metadata.write() as conn:
            _lock_monitor(conn, monitor.name)
            conn.execute(
                update(monitors)
                .where(monitors.c.name == monitor.name)
                .values(
                    reference=monitor.reference,
                    target=monitor.target,
                    task=monitor.task,
                    spec=spec,
                    rules=[dict(rule) for rule in monitor.rules],
                    profile_digest=monitor.profile_digest,
                )
            )
            self._metadata.record_event(
                conn, "monitor.updated", "monitor", monitor.name, self._actor, **changes
            )

    def delete(self, name: str) -> None:
        with self._metadata.write() as conn:
            model = _lock_monitor(conn, name)
            conn.execute(delete(monitors).where(monitors.c.name == name))
            self._metadata.record_event(
                conn, "monitor.deleted", "monitor", name, self._actor, model=model
            )

    def exists(self, name: str) -> bool:
        with self._metadata.read() as conn:
            found = conn.execute(select(monitors.c.name).where(monitors.c.name == name))
            return found.first() is not None

    def get(self, name: str) -> Monitor:
        with self._metadata.read() as conn:
            row = conn.execute(select(monitors).where(monitors.c.name == name)).first()
        if row is None:
            raise _no_monitor(name)
        return _monitor(row)

    def list_monitors(self, model: str | None = None) -> list[Monitor]:
        query = select(monitors).order_by(monitors.c.name)
        if model is not None:
            query = query.where(monitors.c.model == model)
        with self._metadata.read() as conn:
            return [_monitor(row) for row in conn.execute(query)]

    def model_task(self, model: str) -> str | None:
        with self._metadata.read() as conn:
            scoring = conn.execute(
                select(registered_models.c.scoring).where(registered_models.c.name == model)
            ).first()
            if scoring is not None:
                task = scoring[0].get("task") if isinstance(scoring[0], dict) else None
                return task if isinstance(task, str) else None
            logged = conn.execute(
                select(predictions.c.id).where(predictions.c.model == model).limit(1)
            ).first()
        if logged is None:
            raise NotFoundError(
                f"no model named {model!r} in the registry or the prediction log; register "
                "it first (`mlpilot models list` shows the registered ones)"
            )
        return None

    # -- windows ---------------------------------------------------------------------

    def next_position(self, name: str) -> tuple[int, int | None, int]:
        with self._metadata.read() as conn:
            _check_monitor(conn, name)
            row = conn.execute(
                select(monitor_windows)
                .where(monitor_windows.c.monitor == name)
                .order_by(monitor_windows.c.window_index.desc())
                .limit(1)
            ).first()
        if row is None:
            return 0, None, 0
        return row.window_index + 1, row.next_ms, row.next_skip

    def add_windows(self, name: str, windows: Sequence[WindowResult]) -> list[int]:
        for window in windows:
            if window.monitor != name:
                raise InvalidInputError(
                    f"window {window.index} is of monitor {window.monitor!r}, not {name!r}"
                )
        indexes = [window.index for window in windows]
        if indexes and indexes != list(range(indexes[0], indexes[0] + len(indexes))):
            raise InvalidInputError(f"windows are stored in a row, got indexes {indexes}")
        with self._metadata.write() as conn:
            _lock_monitor(conn, name)
            stored = conn.execute(
                select(func.max(monitor_windows.c.window_index)).where(
                    monitor_windows.c.monitor == name
                )
            ).scalar()
            after = -1 if stored is None else int(stored)
            new = [window for window in windows if window.index > after]
            if new and new[0].index != after + 1:
                raise InvalidInputError(
                    f"monitor {name!r} has windows up to {after}; window {new[0].index} "
                    "would leave a gap"
                )
            if new:
                stamp = now_ms()
                conn.execute(
                    insert(monitor_windows),
                    [
                        {
                            "monitor": name,
                            "window_index": window.index,
                            "created_ms": stamp,
                            "updated_ms": stamp,
                            **{c: getattr(window, c) for c in _WINDOW_COLUMNS},
                        }
                        for window in new
                    ],
                )
        return [window.index for window in new]

    def windows(self, name: str, last: int | None = None) -> list[WindowResult]:
        query = (
            select(monitor_windows)
            .where(monitor_windows.c.monitor == name)
            .order_by(monitor_windows.c.window_index.desc())
        )
        if last is not None:
            query = query.limit(last)
        with self._metadata.read() as conn:
            _check_monitor(conn, name)
            rows = list(conn.execute(query))
        rows.reverse()
        return [_window(row) for row in rows]

    def window(self, name: str, index: int) -> WindowResult:
        with self._metadata.read() as conn:
            _check_monitor(conn, name)
            row = conn.execute(
                select(monitor_windows).where(
                    monitor_windows.c.monitor == name, monitor_windows.c.window_index == index
                )
            ).first()
        if row is None:
            raise NotFoundError(f"monitor {name!r} has no window {index}")
        return _window(row)

    def set_performance(self, name: str, updates: Mapping[int, dict[str, Any]]) -> None:
        if not updates:
            return
        check_json(dict(updates), "a window's performance")
        stamp = now_ms()
        with self._metadata.write() as conn:
            _lock_monitor(conn, name)
            for index, performance in updates.items():
                conn.execute(
                    update(monitor_windows)
                    .where(
                        monitor_windows.c.monitor == name,
                        monitor_windows.c.window_index == index,
                    )
                    .values(performance=performance, updated_ms=stamp)
                )

    # -- alerts ----------------------------------------------------------------------

    def rule_alerts(self, monitor: str, rule: str) -> list[tuple[int, int]]:
        query = (
            select(alerts.c.window_index, alerts.c.window_end_ms)
            .where(alerts.c.monitor == monitor, alerts.c.rule == rule)
            .order_by(alerts.c.id)
        )
        with self._metadata.read() as conn:
            return [(row.window_index, row.window_end_ms) for row in conn.execute(query)]

    def raise_alert(
        self,
        monitor: str,
        rule: str,
        window_index: int,
        window_end_ms: int,
        message: str,
        values: Mapping[str, Any],
        actions: Sequence[Mapping[str, Any]],
    ) -> AlertRecord | None:
        check_json({"values": dict(values), "actions": [dict(a) for a in actions]}, "an alert")
        check_text("message", message, "an alert's message")
        with self._metadata.write() as conn:
            model = _lock_monitor(conn, monitor)
            raised = conn.execute(
                select(alerts.c.id).where(
                    alerts.c.monitor == monitor,
                    alerts.c.rule == rule,
                    alerts.c.window_index == window_index,
                )
            ).first()
            if raised is not None:
                return None
            inserted = conn.execute(
                insert(alerts).values(
                    monitor=monitor,
                    rule=rule,
                    ts_ms=now_ms(),
                    window_index=window_index,
                    window_end_ms=window_end_ms,
                    message=message,
                    values=dict(values),
                    state="open",
                    actions=[dict(a) for a in actions],
                    note="",
                )
            )
            alert_id = int(inserted.inserted_primary_key[0])  # type: ignore[index]
            self._metadata.record_event(
                conn,
                "alert.raised",
                "alert",
                str(alert_id),
                monitor_actor(monitor),
                monitor=monitor,
                model=model,
                rule=rule,
                window=window_index,
                message=message,
            )
        return self.alert(alert_id)

    def set_action(self, alert_id: int, position: int, outcome: Mapping[str, Any]) -> None:
        check_json(dict(outcome), "an action's outcome")
        with self._metadata.write() as conn:
            row = conn.execute(
                select(alerts.c.actions, alerts.c.monitor)
                .where(alerts.c.id == alert_id)
                .with_for_update()
            ).first()
            if row is None:
                raise _no_alert(alert_id)
            actions = list(row.actions)
            if not 0 <= position < len(actions):
                raise InvalidInputError(
                    f"alert {alert_id} has {len(actions)} actions; no position {position}"
                )
            actions[position] = dict(outcome)
            conn.execute(update(alerts).where(alerts.c.id == alert_id).values(actions=actions))
            self._metadata.record_event(
                conn,
                "alert.action",
                "alert",
                str(alert_id),
                monitor_actor(row.monitor),
                monitor=row.monitor,
                action=outcome.get("kind"),
                status=outcome.get("status"),
                detail=outcome.get("detail"),
            )

    def alert(self, alert_id: int) -> AlertRecord:
        with self._metadata.read() as conn:
            row = conn.execute(select(alerts).where(alerts.c.id == alert_id)).first()
        if row is None:
            raise _no_alert(alert_id)
        return _alert(row)

    def alerts(
        self,
        monitor: str | None = None,
        *,
        open_only: bool = False,
        running_actions: bool = False,
        limit: int | None = None,
    ) -> list[AlertRecord]:
        query = select(alerts).order_by(alerts.c.id.desc())
        if monitor is not None:
            query = query.where(alerts.c.monitor == monitor)
        if open_only:
            query = query.where(alerts.c.state == "open")
        if limit is not None:
            query = query.limit(limit)
        with self._metadata.read() as conn:
            if monitor is not None:
                _check_monitor(conn, monitor)
            found = [_alert(row) for row in conn.execute(query)]
        found.reverse()
        if running_actions:
            found = [a for a in found if any(o.get("status") == "running" for o in a.actions)]
        return found

    def acknowledge(self, alert_id: int, note: str = "") -> AlertRecord:
        if not isinstance(note, str):
            raise InvalidInputError(f"a note is text, got {note!r}")
        check_text("note", note, "an alert's note")
        with self._metadata.write() as conn:
            row = conn.execute(
                select(alerts.c.state, alerts.c.monitor)
                .where(alerts.c.id == alert_id)
                .with_for_update()
            ).first()
            if row is None:
                raise _no_alert(alert_id)
            if row.state != "acknowledged":
                conn.execute(
                    update(alerts)
                    .where(alerts.c.id == alert_id)
                    .values(
                        state="acknowledged", acked_by=self._actor, acked_ms=now_ms(), note=note
                    )
                )
                self._metadata.record_event(
                    conn,
                    "alert.acknowledged",
                    "alert",
                    str(alert_id),
                    self._actor,
                    monitor=row.monitor,
                    note=note,
                )
        return self.alert(alert_id)


def _lock_monitor(conn: Connection, name: str) -> str:
    """Lock the monitor's row for this transaction; its model. NotFoundError if none."""
    model = conn.execute(
        select(monitors.c.model).where(monitors.c.name == name).with_for_update()
    ).scalar()
    if model is None:
        raise _no_monitor(name)
    return str(model)


def _check_monitor(conn: Connection, name: str) -> None:
    if conn.execute(select(monitors.c.name).where(monitors.c.name == name)).first() is None:
        raise _no_monitor(name)


def _no_monitor(name: str) -> NotFoundError:
    return NotFoundError(f"no monitor named {name!r}; list them with `mlpilot monitor list`")


def _no_alert(alert_id: int) -> NotFoundError:
    return NotFoundError(f"no alert {alert_id}; list them with `mlpilot alerts list`")


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _window(row: Any) -> WindowResult:
    return WindowResult(
        monitor=row.monitor,
        index=row.window_index,
        start_ms=row.start_ms,
        end_ms=row.end_ms,
        rows=row.rows,
        evaluable=bool(row.evaluable),
        reason=row.reason,
        drifted_columns=list(row.drifted_columns),
        results=list(row.results),
        performance=dict(row.performance),
        latency=dict(row.latency),
        from_ms=row.from_ms,
        from_skip=row.from_skip,
        next_ms=row.next_ms,
        next_skip=row.next_skip,
    )


def _checked_spec(monitor: Monitor) -> dict[str, Any]:
    """The monitor's settings as its ``spec`` column keeps them, checked to be JSON."""
    spec = {key: _plain(getattr(monitor, key)) for key in _SPEC_KEYS}
    check_json(spec, "a monitor's settings")
    check_json(list(monitor.rules), "a monitor's rules")
    return spec


def _monitor(row: Any) -> Monitor:
    spec = row.spec
    return Monitor(
        name=row.name,
        model=row.model,
        reference=row.reference,
        features=tuple(spec["features"]),
        target=row.target,
        task=row.task,
        window={k: int(v) for k, v in spec["window"].items()},
        tests=tuple(spec["tests"]),
        alpha=float(spec["alpha"]),
        psi_threshold=float(spec["psi_threshold"]),
        min_labels=int(spec["min_labels"]),
        latency_p99_ms=spec.get("latency_p99_ms"),
        prediction_column=spec.get("prediction_column"),
        rules=tuple(dict(rule) for rule in row.rules),
        profile_digest=row.profile_digest,
        created_ms=row.created_ms,
        created_by=row.created_by,
        since_ms=spec.get("since_ms"),
        correction=spec.get("correction", "none"),
        follow=spec.get("follow"),
        paused=bool(spec.get("paused", False)),
    )


def _alert(row: Any) -> AlertRecord:
    return AlertRecord(
        id=int(row.id),
        monitor=row.monitor,
        rule=row.rule,
        ts_ms=row.ts_ms,
        window_index=row.window_index,
        window_end_ms=row.window_end_ms,
        message=row.message,
        values=dict(row.values),
        state=row.state,
        actions=list(row.actions),
        acked_by=row.acked_by,
        acked_ms=row.acked_ms,
        note=row.note,
    )
