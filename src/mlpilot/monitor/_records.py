"""Monitors, their windows and their alerts in the metadata store.

A monitor is a ``monitors`` row; each evaluated window of its traffic is a
``monitor_windows`` row (what the drift tests, the labelled rows and the latencies
said), so that trends can be read back and plotted; each alert a rule raises is an
``alerts`` row holding the outcome of each of its actions. Every alert, action and
acknowledgement also writes an ``events`` row.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from mlpilot.errors import ConflictError, InvalidInputError, NotFoundError
from mlpilot.monitor._rules import Rule
from mlpilot.store import MetadataStore, now_ms
from mlpilot.store import _schema as db

_SPEC_KEYS = (
    "features",
    "window",
    "tests",
    "alpha",
    "psi_threshold",
    "min_labels",
    "latency_p99_ms",
    "prediction_column",
)


@dataclasses.dataclass(frozen=True)
class Monitor:
    """A stored monitor: what it watches and how.

    Attributes:
        name: the monitor's unique name.
        model: the served model whose prediction log it reads.
        reference: the dataset version the traffic is compared with (``churn@v3``).
        features: the columns tested for drift.
        target: the reference's label column, if it has one.
        task: ``classification`` or ``regression``: how labelled rows are scored.
        window: ``{"rows": N}`` or ``{"seconds": S}``.
        tests: the drift tests run on each window.
        alpha: significance level of the KS and chi-square tests.
        psi_threshold: the PSI from which a column counts as drifted.
        min_labels: fewer labelled rows than this leave a window's performance unscored.
        latency_p99_ms: the p99 latency the model should keep, if any.
        prediction_column: the profile's column for the model's output (compared with
            the reference's target); None when the reference has no target.
        rules: the alert rules.
        profile_digest: the artifact blob of the reference profile.
    """

    name: str
    model: str
    reference: str
    features: tuple[str, ...]
    target: str | None
    task: str
    window: dict[str, int]
    tests: tuple[str, ...]
    alpha: float
    psi_threshold: float
    min_labels: int
    latency_p99_ms: float | None
    prediction_column: str | None
    rules: tuple[Rule, ...]
    profile_digest: str
    created_ms: int
    created_by: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "model": self.model,
            "reference": self.reference,
            "features": list(self.features),
            "target": self.target,
            "task": self.task,
            "window": self.window,
            "tests": list(self.tests),
            "alpha": self.alpha,
            "psi_threshold": self.psi_threshold,
            "min_labels": self.min_labels,
            "latency_p99_ms": self.latency_p99_ms,
            "rules": [rule.to_spec() for rule in self.rules],
            "profile_digest": self.profile_digest,
            "created_ms": self.created_ms,
            "created_by": self.created_by,
        }


@dataclasses.dataclass(frozen=True)
class AlertRecord:
    """An alert a rule raised on a window."""

    id: int
    monitor: str
    rule: str
    ts_ms: int
    window_index: int
    window_end_ms: int
    message: str
    values: dict[str, Any]
    state: str
    actions: list[dict[str, Any]]
    acked_by: str | None
    acked_ms: int | None
    note: str

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class WindowResult:
    """One evaluated window of a monitor's traffic.

    Attributes:
        index: the window's number, from 0.
        start_ms: the time of its first row (rows windows) or its start (time windows).
        end_ms: the time just after its last row, or its end; exclusive.
        rows: how many logged rows it holds.
        evaluable: whether drift could be tested at all (False for an empty window).
        reason: why it could not, or None.
        drifted_columns: the columns some test found drifted.
        results: one ``{column, test, statistic, p_value, threshold, drifted, reason}``
            per column and test.
        performance: ``{"labels": N, "metrics": {...}}`` or with ``reason`` when there
            were too few labels to score.
        latency: ``{"p50", "p99", "mean", "requests"}`` in milliseconds, and
            ``over_target`` when the monitor has a latency target.
        alerts: the alerts raised on this window by the call that returned it.
        rescored: whether the call that returned it scored it again (labels arrived).
    """

    monitor: str
    index: int
    start_ms: int
    end_ms: int
    rows: int
    evaluable: bool
    reason: str | None
    drifted_columns: list[str]
    results: list[dict[str, Any]]
    performance: dict[str, Any]
    latency: dict[str, Any]
    alerts: list[AlertRecord] = dataclasses.field(default_factory=list)
    rescored: bool = False

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class MonitorRecords:
    """Reads and writes the monitoring tables of one metadata store."""

    def __init__(self, metadata: MetadataStore, actor: str = "") -> None:
        self.metadata = metadata
        self.actor = actor

    # -- monitors --------------------------------------------------------------------

    def create(self, monitor: Monitor) -> None:
        spec = {key: _spec_value(getattr(monitor, key)) for key in _SPEC_KEYS}
        try:
            with self.metadata.write() as conn:
                conn.execute(
                    insert(db.monitors).values(
                        name=monitor.name,
                        model=monitor.model,
                        reference=monitor.reference,
                        target=monitor.target,
                        task=monitor.task,
                        spec=spec,
                        rules=[rule.to_spec() for rule in monitor.rules],
                        profile_digest=monitor.profile_digest,
                        created_ms=monitor.created_ms,
                        created_by=monitor.created_by,
                    )
                )
                self.metadata.record_event(
                    conn,
                    "monitor.created",
                    "monitor",
                    monitor.name,
                    self.actor,
                    model=monitor.model,
                    reference=monitor.reference,
                )
        except IntegrityError:
            raise ConflictError(
                f"a monitor named {monitor.name!r} exists; pick another name"
            ) from None

    def exists(self, name: str) -> bool:
        with self.metadata.read() as conn:
            return (
                conn.execute(select(db.monitors.c.name).where(db.monitors.c.name == name)).first()
                is not None
            )

    def get(self, name: str) -> Monitor:
        with self.metadata.read() as conn:
            row = conn.execute(select(db.monitors).where(db.monitors.c.name == name)).first()
        if row is None:
            raise NotFoundError(f"no monitor named {name!r}; list them with `mlpilot monitor list`")
        return _monitor(row)

    def list_monitors(self, model: str | None = None) -> list[Monitor]:
        query = select(db.monitors).order_by(db.monitors.c.name)
        if model is not None:
            query = query.where(db.monitors.c.model == model)
        with self.metadata.read() as conn:
            return [_monitor(row) for row in conn.execute(query)]

    # -- windows ---------------------------------------------------------------------

    def last_position(self, name: str) -> tuple[int, int | None, int]:
        """The next window's index, and where its reading starts (time, rows to skip)."""
        with self.metadata.read() as conn:
            row = conn.execute(
                select(db.monitor_windows)
                .where(db.monitor_windows.c.monitor == name)
                .order_by(db.monitor_windows.c.window_index.desc())
                .limit(1)
            ).first()
        if row is None:
            return 0, None, 0
        return row.window_index + 1, row.next_ms, row.next_skip

    def add_windows(self, name: str, rows: Sequence[dict[str, Any]]) -> None:
        """Store new windows (``window_index`` and the rest of their columns)."""
        if not rows:
            return
        stamp = now_ms()
        try:
            with self.metadata.write() as conn:
                conn.execute(
                    insert(db.monitor_windows),
                    [
                        {"monitor": name, "created_ms": stamp, "updated_ms": stamp, **r}
                        for r in rows
                    ],
                )
        except IntegrityError:
            raise ConflictError(
                f"another process evaluated windows of monitor {name!r} at the same time; "
                "run it again"
            ) from None

    def window_rows(self, name: str, last: int | None = None) -> list[Any]:
        """Stored windows, oldest first (the newest ``last`` of them)."""
        query = (
            select(db.monitor_windows)
            .where(db.monitor_windows.c.monitor == name)
            .order_by(db.monitor_windows.c.window_index.desc())
        )
        if last is not None:
            query = query.limit(last)
        with self.metadata.read() as conn:
            rows = list(conn.execute(query))
        rows.reverse()
        return rows

    def windows(self, name: str, last: int | None = None) -> list[WindowResult]:
        return [window_result(row) for row in self.window_rows(name, last)]

    def set_performance(self, name: str, updates: dict[int, dict[str, Any]]) -> None:
        if not updates:
            return
        stamp = now_ms()
        with self.metadata.write() as conn:
            for index, performance in updates.items():
                conn.execute(
                    update(db.monitor_windows)
                    .where(
                        db.monitor_windows.c.monitor == name,
                        db.monitor_windows.c.window_index == index,
                    )
                    .values(performance=performance, updated_ms=stamp)
                )

    # -- alerts ----------------------------------------------------------------------

    def rule_alerts(self, monitor: str, rule: str) -> list[tuple[int, int]]:
        """``(window_index, window_end_ms)`` of every alert the rule raised."""
        with self.metadata.read() as conn:
            return [
                (r.window_index, r.window_end_ms)
                for r in conn.execute(
                    select(db.alerts.c.window_index, db.alerts.c.window_end_ms).where(
                        db.alerts.c.monitor == monitor, db.alerts.c.rule == rule
                    )
                )
            ]

    def raise_alert(
        self,
        monitor: Monitor,
        rule: str,
        window_index: int,
        window_end_ms: int,
        message: str,
        values: dict[str, Any],
        actions: list[dict[str, Any]],
    ) -> AlertRecord:
        stamp = now_ms()
        with self.metadata.write() as conn:
            inserted = conn.execute(
                insert(db.alerts).values(
                    monitor=monitor.name,
                    rule=rule,
                    ts_ms=stamp,
                    window_index=window_index,
                    window_end_ms=window_end_ms,
                    message=message,
                    values=values,
                    state="open",
                    actions=actions,
                    note="",
                )
            )
            alert_id = int(inserted.inserted_primary_key[0])  # type: ignore[index]
            self.metadata.record_event(
                conn,
                "alert.raised",
                "alert",
                str(alert_id),
                self.actor,
                monitor=monitor.name,
                model=monitor.model,
                rule=rule,
                window=window_index,
                message=message,
            )
        return self.alert(alert_id)

    def set_action(self, alert_id: int, position: int, outcome: dict[str, Any]) -> None:
        """Store the outcome of the alert's action at ``position`` and say so in an event."""
        with self.metadata.write() as conn:
            row = conn.execute(
                select(db.alerts.c.actions, db.alerts.c.monitor).where(db.alerts.c.id == alert_id)
            ).one()
            actions = list(row.actions)
            actions[position] = outcome
            conn.execute(
                update(db.alerts).where(db.alerts.c.id == alert_id).values(actions=actions)
            )
            self.metadata.record_event(
                conn,
                "alert.action",
                "alert",
                str(alert_id),
                self.actor,
                monitor=row.monitor,
                action=outcome.get("kind"),
                status=outcome.get("status"),
                detail=outcome.get("detail"),
            )

    def alert(self, alert_id: int) -> AlertRecord:
        with self.metadata.read() as conn:
            row = conn.execute(select(db.alerts).where(db.alerts.c.id == alert_id)).first()
        if row is None:
            raise NotFoundError(f"no alert {alert_id}; list them with `mlpilot alerts list`")
        return _alert(row)

    def alerts(
        self,
        monitor: str | None = None,
        *,
        open_only: bool = False,
        running_actions: bool = False,
        limit: int | None = None,
    ) -> list[AlertRecord]:
        """Alerts, oldest first (the newest ``limit`` of them)."""
        query = select(db.alerts).order_by(db.alerts.c.id.desc())
        if monitor is not None:
            query = query.where(db.alerts.c.monitor == monitor)
        if open_only:
            query = query.where(db.alerts.c.state == "open")
        if limit is not None:
            query = query.limit(limit)
        with self.metadata.read() as conn:
            found = [_alert(row) for row in conn.execute(query)]
        found.reverse()
        if running_actions:
            found = [a for a in found if any(o.get("status") == "running" for o in a.actions)]
        return found

    def acknowledge(self, alert_id: int, note: str = "") -> AlertRecord:
        if not isinstance(note, str):
            raise InvalidInputError(f"a note is text, got {note!r}")
        with self.metadata.write() as conn:
            state = conn.execute(
                select(db.alerts.c.state, db.alerts.c.monitor).where(db.alerts.c.id == alert_id)
            ).first()
            if state is None:
                raise NotFoundError(f"no alert {alert_id}; list them with `mlpilot alerts list`")
            if state.state != "acknowledged":
                conn.execute(
                    update(db.alerts)
                    .where(db.alerts.c.id == alert_id)
                    .values(state="acknowledged", acked_by=self.actor, acked_ms=now_ms(), note=note)
                )
                self.metadata.record_event(
                    conn,
                    "alert.acknowledged",
                    "alert",
                    str(alert_id),
                    self.actor,
                    monitor=state.monitor,
                    note=note,
                )
        return self.alert(alert_id)


def window_result(row: Any) -> WindowResult:
    return WindowResult(
        row.monitor,
        row.window_index,
        row.start_ms,
        row.end_ms,
        row.rows,
        bool(row.evaluable),
        row.reason,
        list(row.drifted_columns),
        list(row.results),
        dict(row.performance),
        dict(row.latency),
    )


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
        rules=tuple(Rule.from_spec(rule) for rule in row.rules),
        profile_digest=row.profile_digest,
        created_ms=row.created_ms,
        created_by=row.created_by,
    )


def _alert(row: Any) -> AlertRecord:
    return AlertRecord(
        int(row.id),
        row.monitor,
        row.rule,
        row.ts_ms,
        row.window_index,
        row.window_end_ms,
        row.message,
        dict(row.values),
        row.state,
        list(row.actions),
        row.acked_by,
        row.acked_ms,
        row.note,
    )


def _spec_value(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value
