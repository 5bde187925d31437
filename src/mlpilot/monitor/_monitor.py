"""The front door of monitoring: create monitors of served models and evaluate their
traffic window by window.

A monitor reads a model's prediction log from its own creation on (or from the start,
when asked to backfill), cuts it into windows (a number of rows, or a span of time; a
window not yet full waits), and for each window tests drift from a reference dataset
version, scores the rows whose labels arrived, and measures latency. Each window is
stored; then the monitor's rules decide whether to raise alerts, and the alerts' actions
run, but only on traffic that came after both the monitor and the model's last alias
move: history is reported, never acted on.

Example::

    monitors = Monitors(client)
    monitors.create("churn-prod", model="churn", reference="churn@v3", target="churned",
                    window_rows=500, rules=[{"when": "psi > 0.2", "windows": 2}])
    for window in monitors.run_once("churn-prod"):
        print(window.index, window.drifted_columns, window.alerts)
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from mlpilot.errors import ConflictError, InvalidInputError, NotFoundError
from mlpilot.monitor import _spec
from mlpilot.monitor._rules import Rule, firings, rules_of
from mlpilot.monitor._scoring import evaluate_window, performance, prediction_values
from mlpilot.monitor._scoring import window_features as window_features  # for _report
from mlpilot.monitor._windows import cut, reread
from mlpilot.monitor.actions import AlertContext, action_from_spec
from mlpilot.monitor.drift import ReferenceProfile
from mlpilot.monitor.drift._base import correction as check_correction
from mlpilot.monitor.drift._base import positive, significance
from mlpilot.store._metadata import now_ms
from mlpilot.store._predictions import json_safe
from mlpilot.store._validate import check_key
from mlpilot.store.base._monitors import AlertRecord, Monitor, WindowResult
from mlpilot.tracking import TrackingClient

_log = logging.getLogger(__name__)
#: Earlier windows whose performance each run scores again, for labels that came late.
RESCORE_WINDOWS = 20


class Monitors:
    """The monitors of one store.

    Args:
        client: the tracking client of the store; the default one when None.
    """

    def __init__(self, client: TrackingClient | None = None) -> None:
        self.client = client or TrackingClient()
        self.records = self.client.store.monitors

    # -- monitors --------------------------------------------------------------------

    def create(
        self,
        name: str,
        *,
        model: str,
        reference: str,
        features: Sequence[str] | None = None,
        target: str | None = None,
        window_rows: int | None = None,
        window_seconds: int | None = None,
        tests: Sequence[str] = ("ks", "psi", "chi2"),
        alpha: float = 0.05,
        correction: str = "bh",
        psi_threshold: float = 0.2,
        min_labels: int = 30,
        latency_p99_ms: float | None = None,
        task: str | None = None,
        rules: Sequence[Rule | Mapping[str, Any] | str] = (),
        follow: str | None = "champion",
        backfill: bool = False,
    ) -> Monitor:
        """Create a monitor of the served ``model``; everything is checked first, then
        the reference profile is computed once and stored.

        Args:
            name: the monitor's unique name.
            model: a model in the registry, or one whose predictions are logged.
            reference: the dataset version to compare traffic with, e.g. ``churn@v3``.
            features: the columns to test; by default the reference's columns but the
                target.
            target: the reference's label column. With it, the model's predictions
                are compared with the target's distribution too (column ``prediction``).
            window_rows: cut the traffic into windows of this many rows (500 when
                neither this nor ``window_seconds`` is given).
            window_seconds: or into windows of this many seconds.
            tests: drift tests by name (``ks``, ``psi``, ``chi2``).
            alpha: significance level of KS and chi-square.
            correction: how their p-values are corrected for the many columns a
                window tests at once, in drifted columns and in rules on ``ks_p`` and
                ``chi2_p``: ``bh`` (Benjamini–Hochberg, the expected share of false
                alarms among flagged columns stays under ``alpha``), ``bonferroni`` (the
                chance of any false alarm in a window does), or ``none``. A rule on one
                column is never corrected.
            psi_threshold: the PSI from which a column counts as drifted.
            min_labels: labelled rows a window needs for its performance to be scored.
            latency_p99_ms: the p99 latency the model should keep, flagged per window.
            task: ``classification`` or ``regression``; by default the registered
                model's, else guessed from the target.
            rules: alert rules (:class:`Rule`, their mappings, or conditions alone).
            follow: the alias whose version's training data becomes the reference
                when the alias moves to a version trained on other data (after a
                retrain on the shifted data, that data is the new normal); None keeps
                ``reference`` until it is updated.
            backfill: evaluate the traffic logged before the monitor too. Its alerts
                are recorded, but their actions do not run: an action only follows
                traffic that came after the monitor and the model's last alias move.

        Raises:
            InvalidInputError: a bad name, window, test, threshold, rule or column.
            NotFoundError: an unknown model or dataset version.
            ConflictError: a monitor of that name exists.
        """
        _spec.check_name(name)
        if self.records.exists(name):
            raise ConflictError(f"a monitor named {name!r} exists; pick another name")
        created_ms = now_ms()
        monitor = self._build(
            name=name,
            model=model,
            created_ms=created_ms,
            created_by=self.client.settings.user,
            since_ms=None if backfill else created_ms,
            paused=False,
            settings={
                "reference": reference,
                "features": features,
                "target": target,
                "window_rows": window_rows,
                "window_seconds": window_seconds,
                "tests": tests,
                "alpha": alpha,
                "correction": correction,
                "psi_threshold": psi_threshold,
                "min_labels": min_labels,
                "latency_p99_ms": latency_p99_ms,
                "task": task,
                "rules": rules,
                "follow": follow,
            },
        )
        self.records.create(monitor)
        return monitor

    def update(self, name: str, *, reason: str = "", **changes: Any) -> Monitor:
        """Change a monitor's settings: any of :meth:`create`'s but its name, model and
        ``backfill``, and ``paused``. Everything is checked as on creation, and the
        reference profile computed again; stored windows and alerts stay. ``reason``
        goes into the ``monitor.updated`` event with what changed.

        Raises:
            NotFoundError: no such monitor, or an unknown dataset version.
            InvalidInputError: an unknown setting, or a bad value for one.
        """
        found = self.records.get(name)
        unknown = sorted(set(changes) - set(SETTINGS))
        if unknown:
            raise InvalidInputError(
                f"a monitor's {', '.join(unknown)} cannot be changed; change any of "
                f"{', '.join(SETTINGS)}"
            )
        settings = _settings_of(found)
        if {"window_rows", "window_seconds"} & set(changes):
            settings.pop("window_rows", None)
            settings.pop("window_seconds", None)
        paused = bool(changes.pop("paused", found.paused))
        settings.update(changes)
        updated = self._build(
            name=found.name,
            model=found.model,
            created_ms=found.created_ms,
            created_by=found.created_by,
            since_ms=found.since_ms,
            paused=paused,
            settings=settings,
        )
        before, after = found.to_dict(), updated.to_dict()
        changed = {
            key: [before[key], after[key]]
            for key in after
            if before.get(key) != after[key] and key != "profile_digest"
        }
        if changed or updated.profile_digest != found.profile_digest:
            self.records.update(updated, {**changed, **({"reason": reason} if reason else {})})
        return updated

    def pause(self, name: str) -> Monitor:
        """Stop evaluating a monitor's traffic until :meth:`resume`; the traffic logged
        meanwhile is evaluated then."""
        return self.update(name, paused=True)

    def resume(self, name: str) -> Monitor:
        """Evaluate a paused monitor's traffic again, from where it stopped."""
        return self.update(name, paused=False)

    def delete(self, name: str) -> None:
        """Delete a monitor with its windows and alerts (their events stay)."""
        self.records.delete(name)

    def _build(
        self,
        *,
        name: str,
        model: str,
        created_ms: int,
        created_by: str,
        since_ms: int | None,
        paused: bool,
        settings: Mapping[str, Any],
    ) -> Monitor:
        """A monitor from checked settings, with its reference profile stored."""
        registered_task = self._check_model(model)
        window = _spec.window(settings.get("window_rows"), settings.get("window_seconds"))
        chosen_tests = _spec.drift_tests(settings["tests"])
        alpha = significance(settings["alpha"])
        correction = check_correction(settings["correction"])
        psi_threshold = positive("psi_threshold", settings["psi_threshold"])
        min_labels = _spec.whole(settings["min_labels"], "min_labels", 1)
        latency_p99_ms = settings.get("latency_p99_ms")
        if latency_p99_ms is not None:
            latency_p99_ms = positive("latency_p99_ms", latency_p99_ms)
        follow = settings.get("follow")
        if follow is not None:
            check_key(follow, "the alias a monitor follows")
        target = settings.get("target")
        version = self.client.datasets.get(settings["reference"])
        data = self.client.datasets.read(version).to_pandas()
        columns = [str(c) for c in data.columns]
        chosen = _spec.features(settings.get("features"), columns, target, version.ref)
        task = _spec.task(settings.get("task"), registered_task, data[target] if target else None)
        prediction = _spec.prediction_column(chosen, target)
        parsed = _spec.rules(settings.get("rules", ()), chosen, prediction)
        frame = data[chosen].copy()
        if prediction is not None and target is not None:
            frame[prediction] = prediction_values(data[target], task)
        profile = ReferenceProfile.from_frame(frame, list(frame.columns))
        blob = self.client.store.artifacts.put_bytes(profile.to_bytes())
        return Monitor(
            name=name,
            model=model,
            reference=version.ref,
            features=tuple(chosen),
            target=target,
            task=task,
            window=window,
            tests=chosen_tests,
            alpha=alpha,
            psi_threshold=psi_threshold,
            min_labels=min_labels,
            latency_p99_ms=latency_p99_ms,
            prediction_column=prediction,
            rules=tuple(rule.to_spec() for rule in parsed),
            profile_digest=blob.digest,
            created_ms=created_ms,
            created_by=created_by,
            since_ms=since_ms,
            correction=correction,
            follow=follow,
            paused=paused,
        )

    def get(self, name: str) -> Monitor:
        """The monitor ``name``; raises NotFoundError when there is none."""
        return self.records.get(name)

    def list_monitors(self, model: str | None = None) -> list[Monitor]:
        """Every monitor (of ``model``), by name."""
        return self.records.list_monitors(model)

    def profile(self, monitor: str | Monitor) -> ReferenceProfile:
        """The monitor's reference profile, read back from its blob (verified)."""
        found = self._monitor(monitor)
        return ReferenceProfile.from_bytes(
            self.client.store.artifacts.get_bytes(found.profile_digest)
        )

    # -- evaluation ------------------------------------------------------------------

    def run_once(self, monitor: str | Monitor) -> list[WindowResult]:
        """Evaluate the traffic logged since the last window, and act on the rules.

        Settles actions still running (a retrain that ended), cuts every complete
        window of new traffic and stores it, scores again the last
        :data:`RESCORE_WINDOWS` earlier windows whose labels changed, then applies the
        rules to those windows and runs the actions of the alerts they raise.

        Returns:
            The new windows, oldest first, preceded by the earlier ones whose
            performance changed; each with the alerts raised on it by this call.
        """
        found = self._monitor(monitor)
        self._settle(found)
        if found.paused:
            return []
        found = self._follow(found)
        profile = self.profile(found)
        index, from_ms, from_skip = self.records.next_position(found.name)
        if index == 0:
            from_ms = found.since_ms
        frame = self.client.store.predictions.read(found.model, since_ms=from_ms, labels=True)
        new = [
            WindowResult(
                monitor=found.name, **piece.position, **evaluate_window(found, profile, piece.rows)
            )
            for piece in cut(found, frame, index, from_ms, from_skip)
        ]
        self.records.add_windows(found.name, new)
        rescored = self._rescore(found, index, len(new))
        first = min([*rescored, index])
        recent = self.records.windows(found.name, last=len(new) + RESCORE_WINDOWS)
        raised = self._apply_rules(found, first)
        return [
            dataclasses.replace(
                window,
                alerts=[a for a in raised if a.window_index == window.index],
                rescored=window.index in rescored,
            )
            for window in recent
            if window.index >= index or window.index in rescored
        ]

    def windows(self, monitor: str, last: int | None = None) -> list[WindowResult]:
        """The monitor's stored windows, oldest first (the newest ``last``)."""
        return self.records.windows(self._monitor(monitor).name, last)

    def window_frame(self, monitor: str | Monitor, index: int) -> pd.DataFrame:
        """The logged rows of one stored window, with their labels."""
        found = self._monitor(monitor)
        return reread(self.client.store.predictions, found, self.records.window(found.name, index))

    # -- alerts and labels -----------------------------------------------------------

    def alerts(
        self, monitor: str | None = None, *, open_only: bool = False, limit: int | None = None
    ) -> list[AlertRecord]:
        """Alerts, oldest first (the newest ``limit``), of one monitor or all."""
        if monitor is not None:
            monitor = self._monitor(monitor).name
        return self.records.alerts(monitor, open_only=open_only, limit=limit)

    def acknowledge(self, alert_id: int, note: str = "") -> AlertRecord:
        """Mark an alert acknowledged by this user; acknowledging again changes nothing."""
        return self.records.acknowledge(alert_id, note)

    def record_labels(self, monitor_or_model: str, labels: Any) -> int:
        """Store the ground truth of rows of a monitor's model (or of a model); a label
        may come before the server's log of its request, and joins it when that lands.

        Args:
            labels: a frame with ``request_id``, ``label`` and optionally ``row``, or a
                ``{(request_id, row): label}`` mapping.

        Raises:
            NotFoundError: neither a monitor nor a model of that name.
            InvalidInputError: a malformed label (then nothing is stored).
        """
        if not self.records.exists(monitor_or_model):
            self._check_model(monitor_or_model)
        return self.client.store.predictions.record_labels(labels)

    # -- helpers ---------------------------------------------------------------------

    def _monitor(self, monitor: str | Monitor) -> Monitor:
        return monitor if isinstance(monitor, Monitor) else self.records.get(monitor)

    def _check_model(self, model: Any) -> str | None:
        """The registered model's task, or None for a model only the log knows."""
        if not isinstance(model, str) or not model:
            raise InvalidInputError(f"a model name is text, got {model!r}")
        task = self.records.model_task(model)
        return task if task in _spec.TASKS else None

    def _apply_rules(self, monitor: Monitor, first: int) -> list[AlertRecord]:
        """Raise the alerts the rules call for on windows ``first`` and later, and run
        their actions (``record`` first, whether a rule names it or not)."""
        rules = rules_of(monitor)
        if not rules:
            return []
        longest = max(rule.windows for rule in rules)
        history = self.records.windows(monitor.name, last=RESCORE_WINDOWS + 10 * longest)
        if history and history[0].index > first - longest:
            history = self.records.windows(monitor.name)
        windows = [
            {
                "index": w.index,
                "start_ms": w.start_ms,
                "end_ms": w.end_ms,
                "rows": w.rows,
                "results": w.results,
                "drifted_columns": w.drifted_columns,
                "performance": w.performance,
                "latency": w.latency,
            }
            for w in history
        ]
        starts = {w.index: w.start_ms for w in history}
        raised = []
        for rule in rules:
            columns = rule.columns(monitor.features)
            earlier = self.records.rule_alerts(monitor.name, rule.name)
            subject = f"{monitor.name} ({monitor.model})"
            actions = rule.actions
            found = firings(rule, columns, windows, first, earlier, subject, monitor.correction)
            for firing in found:
                # Read for each firing: an earlier one's actions may have moved an alias.
                acts_from, since = self._acts_from(monitor)
                began = min(starts[index] for index in firing.values["windows"])
                stale = began < acts_from
                status = "skipped" if stale else "pending"
                detail = f"the traffic began before {since}" if stale else ""
                alert = self.records.raise_alert(
                    monitor.name,
                    rule.name,
                    firing.window_index,
                    firing.window_end_ms,
                    firing.message,
                    json_safe(firing.values),
                    [{"kind": a.name, "status": status, "detail": detail} for a in actions],
                )
                if alert is None:  # another process raised it at the same time
                    continue
                context = self._context(monitor, alert)
                for position, action in enumerate([] if stale else actions):
                    try:
                        result = action.run(context)
                    except Exception as exc:  # an action's failure must not stop the others
                        _log.exception("action %s of alert %d failed", action.name, alert.id)
                        result = {"kind": action.name, "status": "failed", "detail": str(exc)}
                    self.records.set_action(alert.id, position, json_safe(result))
                raised.append(self.records.alert(alert.id))
        return raised

    def _follow(self, monitor: Monitor) -> Monitor:
        """The monitor with the training data of the version its ``follow`` alias points
        at as its reference, updated in the store if that moved."""
        if monitor.follow is None:
            return monitor
        registry = self.client.store.registry
        try:
            number = registry.get_model(monitor.model).aliases.get(monitor.follow)
            dataset = (
                None if number is None else registry.get_version(monitor.model, number).dataset
            )
        except NotFoundError:  # a model only the prediction log knows
            return monitor
        if dataset is None or dataset == monitor.reference:
            return monitor
        why = f"{monitor.model}@{monitor.follow} is version {number}, trained on {dataset}"
        try:
            return self.update(monitor.name, reference=dataset, reason=why)
        except (NotFoundError, InvalidInputError) as exc:
            _log.warning(
                "monitor %s keeps %s as its reference: %s: %s",
                monitor.name,
                monitor.reference,
                why,
                exc,
            )
            return monitor

    def _acts_from(self, monitor: Monitor) -> tuple[int, str]:
        """From when the monitor's alerts may act, and what that time is: its creation,
        or the model's last alias move if later (windows before it were served by
        another version)."""
        acts_from, since = monitor.created_ms, "the monitor was created"
        try:
            moves = self.client.store.registry.moves(monitor.model)
        except NotFoundError:  # a model only the prediction log knows
            moves = []
        last = max(moves, key=lambda move: move.ts_ms, default=None)
        if last is not None and last.ts_ms > acts_from:
            acts_from = last.ts_ms
            since = f"{monitor.model}@{last.alias} moved to version {last.version}"
        return acts_from, since

    def _settle(self, monitor: Monitor) -> None:
        """Record the end of actions still running on the monitor's alerts."""
        rules = {rule.name: rule for rule in rules_of(monitor)}
        for alert in self.records.alerts(monitor.name, running_actions=True):
            rule = rules.get(alert.rule)
            if rule is None:
                continue
            actions = rule.actions
            for position, result in enumerate(alert.actions):
                if result.get("status") != "running" or position >= len(actions):
                    continue
                action = action_from_spec(actions[position].to_spec())
                try:
                    final = action.settle(self._context(monitor, alert), result)
                except Exception as exc:
                    _log.exception("settling action %s of alert %d failed", action.name, alert.id)
                    final = {**result, "status": "failed", "detail": str(exc)}
                if final is not None:
                    self.records.set_action(alert.id, position, json_safe(final))

    def _context(self, monitor: Monitor, alert: AlertRecord) -> AlertContext:
        document = {**alert.to_dict(), "model": monitor.model}
        return AlertContext(
            self.client,
            monitor.name,
            monitor.model,
            alert.id,
            alert.rule,
            alert.message,
            json_safe(document),
        )

    def _rescore(self, monitor: Monitor, first_new: int, new: int) -> set[int]:
        """Score again the earlier windows' labelled rows; the indexes that changed."""
        earlier = [
            window
            for window in self.records.windows(monitor.name, last=RESCORE_WINDOWS + new)
            if first_new - RESCORE_WINDOWS <= window.index < first_new
        ]
        updates = {}
        for window in earlier:
            frame = reread(self.client.store.predictions, monitor, window)
            scored = performance(monitor, frame)
            if scored != window.performance:
                updates[window.index] = scored
        self.records.set_performance(monitor.name, updates)
        return set(updates)


#: The settings of a monitor that :meth:`Monitors.update` changes.
SETTINGS = (
    "reference",
    "features",
    "target",
    "window_rows",
    "window_seconds",
    "tests",
    "alpha",
    "correction",
    "psi_threshold",
    "min_labels",
    "latency_p99_ms",
    "task",
    "rules",
    "follow",
    "paused",
)


def _settings_of(monitor: Monitor) -> dict[str, Any]:
    """A stored monitor's settings, as :meth:`Monitors.create` takes them."""
    return {
        "reference": monitor.reference,
        "features": list(monitor.features),
        "target": monitor.target,
        **{f"window_{unit}": size for unit, size in monitor.window.items()},
        "tests": list(monitor.tests),
        "alpha": monitor.alpha,
        "correction": monitor.correction,
        "psi_threshold": monitor.psi_threshold,
        "min_labels": monitor.min_labels,
        "latency_p99_ms": monitor.latency_p99_ms,
        "task": monitor.task,
        "rules": list(monitor.rules),
        "follow": monitor.follow,
    }


def create_monitor(name: str, *, client: TrackingClient | None = None, **spec: Any) -> Monitor:
    """Create a monitor; see :meth:`Monitors.create` for the settings."""
    return Monitors(client).create(name, **spec)


def run_once(monitor: str | Monitor, *, client: TrackingClient | None = None) -> list[WindowResult]:
    """Evaluate a monitor's new traffic; see :meth:`Monitors.run_once`."""
    return Monitors(client).run_once(monitor)
