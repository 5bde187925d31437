"""The monitor records: monitors, their evaluated windows, alerts and retrains.

:class:`MonitorRecords` is what the monitoring layer asks of a store; the frozen records
below are what crosses it. :class:`mlpilot.testing.MonitorRecordsContract` is the
contract every implementation passes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable


def monitor_actor(monitor: str) -> str:
    """Who the records of what a monitor does on its own name (its alerts, their
    actions, the runs and alias moves those make): the monitor, not the user whose
    process happened to run it."""
    return f"monitor:{monitor}"


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
        rules: the alert rules as written down (``{"name", "when", "actions", ...}``);
            :meth:`mlpilot.monitor.Rule.from_spec` reads one.
        profile_digest: the artifact blob of the reference profile.
        created_ms: when it was created, in UTC milliseconds.
        created_by: who created it.
        since_ms: the first logged time it evaluates: its creation unless it was asked
            to backfill (None: the whole log).
        correction: how the p-values of a window's columns are corrected for being
            tested together (``none``, ``bonferroni``, ``bh``), in drifted columns and
            in rules on ``ks_p`` and ``chi2_p``.
        follow: the alias whose version's training data becomes the reference when
            it moves (None: the reference stays until the monitor is updated).
        paused: a paused monitor evaluates nothing until it is resumed.
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
    rules: tuple[dict[str, Any], ...]
    profile_digest: str
    created_ms: int
    created_by: str
    since_ms: int | None = None
    correction: str = "none"
    follow: str | None = None
    paused: bool = False

    def to_dict(self) -> dict[str, Any]:
        """The monitor as JSON-able values."""
        found = dataclasses.asdict(self)
        found["features"] = list(self.features)
        found["tests"] = list(self.tests)
        found["rules"] = list(found["rules"])
        return found


@dataclasses.dataclass(frozen=True)
class AlertRecord:
    """An alert a rule raised on a window.

    Attributes:
        id: the alert's number, unique in the store.
        monitor: the monitor whose rule fired.
        rule: the rule's name.
        ts_ms: when it was raised.
        window_index: the window it was raised on.
        window_end_ms: that window's end.
        message: one line saying what happened.
        values: what the rule measured (``metric``, ``value``, ``columns``, ...).
        state: ``open`` or ``acknowledged``.
        actions: one outcome ``{"kind", "status", "detail", ...}`` per action.
        acked_by: who acknowledged it, or None.
        acked_ms: when, or None.
        note: what they wrote.
    """

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
        """The alert as JSON-able values."""
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class WindowResult:
    """One evaluated window of a monitor's traffic.

    Attributes:
        monitor: the monitor's name.
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
        from_ms: where reading the log for this window began (None: the log's start).
        from_skip: how many rows logged at ``from_ms`` earlier windows hold.
        next_ms: where the next window's reading begins.
        next_skip: how many rows logged at ``next_ms`` this and earlier windows hold.
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
    from_ms: int | None = None
    from_skip: int = 0
    next_ms: int = 0
    next_skip: int = 0
    alerts: list[AlertRecord] = dataclasses.field(default_factory=list)
    rescored: bool = False

    def to_dict(self) -> dict[str, Any]:
        """The window as JSON-able values."""
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class RetrainRecord:
    """A retraining pipeline an alert started.

    Attributes:
        id: the retrain's number, unique in the store.
        model: the model being retrained.
        alert_id: the alert that started it.
        pipeline: ``FILE:PIPELINE`` or ``module:pipeline``.
        params: the pipeline's parameters.
        host: the machine its process runs on.
        pid: its process id, None until the process started.
        log_path: the file its output goes to ("" until started).
        status: ``running``, ``finished`` or ``failed``.
        champion_before: the model's champion version when it started.
        started_ms: when it was recorded.
        ended_ms: when its end was recorded, or None.
        outcome: what came of it, once it ended.
    """

    id: int
    model: str
    alert_id: int
    pipeline: str
    params: dict[str, Any]
    host: str
    pid: int | None
    log_path: str
    status: str
    champion_before: int | None
    started_ms: int
    ended_ms: int | None
    outcome: str

    def to_dict(self) -> dict[str, Any]:
        """The retrain as JSON-able values."""
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class RetrainEffect:
    """What the registry shows of a model since a retrain started.

    Attributes:
        moved_to: the version the champion moved to since (the latest move), or None.
        refused: the version the promotion gate refused since (the latest), or None.
        champion: the champion version now, or None.
        decision_event: the event of the gate's latest decision since, or None.
        gate_reason: that decision's summary.
        failed_checks: that decision's checks that did not pass, each ``{"name",
            "passed", "detail"}``.
    """

    moved_to: int | None
    refused: int | None
    champion: int | None
    decision_event: int | None = None
    gate_reason: str = ""
    failed_checks: tuple[dict[str, Any], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@runtime_checkable
class MonitorRecords(Protocol):
    """What the monitoring layer records and asks; each method is one atomic unit.

    Unknown monitors, alerts and retrains raise :class:`~mlpilot.errors.NotFoundError`;
    a taken name or a clash with what is stored :class:`~mlpilot.errors.ConflictError`;
    malformed input :class:`~mlpilot.errors.InvalidInputError`. Writes record their
    events as the actor the implementation was built with, but for what a monitor does on
    its own (raising an alert, an action's outcome): those name ``monitor:NAME``.
    """

    # -- monitors --------------------------------------------------------------------

    def create(self, monitor: Monitor) -> None:
        """Store a new monitor (event ``monitor.created``); ConflictError if the name
        is taken."""
        ...

    def update(self, monitor: Monitor, changes: Mapping[str, Any]) -> None:
        """Store new settings of an existing monitor (its name, model and creation
        stay); the event ``monitor.updated`` carries ``changes`` (what changed, by
        setting). NotFoundError when there is no such monitor."""
        ...

    def delete(self, name: str) -> None:
        """Delete a monitor with its windows and alerts (event ``monitor.deleted``; the
        events of its alerts stay). NotFoundError when there is no such monitor."""
        ...

    def exists(self, name: str) -> bool: ...

    def get(self, name: str) -> Monitor: ...

    def list_monitors(self, model: str | None = None) -> list[Monitor]:
        """Every monitor (of ``model``), by name."""
        ...

    def model_task(self, model: str) -> str | None:
        """The task the registry records for ``model``'s scoring, or None for a model
        only the prediction log knows; NotFoundError when neither knows it."""
        ...

    # -- windows ---------------------------------------------------------------------

    def next_position(self, name: str) -> tuple[int, int | None, int]:
        """The next window's index, and where its reading of the log starts: a time
        (None: the log's start) and how many rows logged at that time to skip."""
        ...

    def add_windows(self, name: str, windows: Sequence[WindowResult]) -> list[int]:
        """Store evaluated windows, numbered on from the stored ones.

        Windows whose index is stored already (another process evaluated them at the
        same time) are left as they are, so that each index is stored once.

        Returns:
            The indexes this call stored, in order.

        Raises:
            InvalidInputError: a window of another monitor, or one that would leave a
                gap after the stored windows.
        """
        ...

    def windows(self, name: str, last: int | None = None) -> list[WindowResult]:
        """Stored windows, oldest first (the newest ``last`` of them)."""
        ...

    def window(self, name: str, index: int) -> WindowResult:
        """The stored window ``index``; NotFoundError when there is none."""
        ...

    def set_performance(self, name: str, updates: Mapping[int, dict[str, Any]]) -> None:
        """Replace the performance of stored windows (``{index: performance}``)."""
        ...

    # -- alerts ----------------------------------------------------------------------

    def rule_alerts(self, monitor: str, rule: str) -> list[tuple[int, int]]:
        """``(window_index, window_end_ms)`` of every alert the rule raised."""
        ...

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
        """Store an open alert with its actions' first outcomes (event
        ``alert.raised``); None, storing nothing, when the rule already raised one on
        that window."""
        ...

    def set_action(self, alert_id: int, position: int, outcome: Mapping[str, Any]) -> None:
        """Store the outcome of the alert's action at ``position`` (event
        ``alert.action``)."""
        ...

    def alert(self, alert_id: int) -> AlertRecord: ...

    def alerts(
        self,
        monitor: str | None = None,
        *,
        open_only: bool = False,
        running_actions: bool = False,
        limit: int | None = None,
    ) -> list[AlertRecord]:
        """Alerts, oldest first (the newest ``limit`` of them), of one monitor or all;
        only open ones, or only those with an action still ``running``."""
        ...

    def acknowledge(self, alert_id: int, note: str = "") -> AlertRecord:
        """Mark the alert acknowledged (event ``alert.acknowledged``); acknowledging it
        again changes nothing."""
        ...

    # -- retrains --------------------------------------------------------------------

    def running_retrains(self, model: str) -> list[RetrainRecord]:
        """The retrains of ``model`` recorded as running, oldest first."""
        ...

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
        """Record a retrain of ``model`` as running, with the champion it starts from.

        Raises:
            ConflictError: another retrain of the model runs (one recorded as running
                whose id is not in ``dead``, the ones the caller found gone); of two
                processes starting one at once, exactly one succeeds.
        """
        ...

    def set_retrain_process(self, retrain_id: int, pid: int, log_path: str) -> None:
        """Record the process that runs the retrain and where its output goes."""
        ...

    def retrain(self, retrain_id: int) -> RetrainRecord: ...

    def finish_retrain(self, retrain_id: int, status: str, outcome: str) -> None:
        """Record the end of a retrain still running (``finished`` or ``failed``); one
        that ended already keeps its record."""
        ...

    def retrain_effect(self, retrain_id: int) -> RetrainEffect:
        """What the registry shows of the retrained model since the retrain started."""
        ...
