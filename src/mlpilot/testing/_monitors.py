"""The contract of :class:`~mlpilot.store.base.MonitorRecords`, as pytest tests.

An implementation proves itself by subclassing :class:`MonitorRecordsContract` in a
test module that provides a ``store`` fixture (a fresh, empty
:class:`~mlpilot.store.Store` whose ``monitors`` is the implementation)::

    class TestMyMonitorRecords(MonitorRecordsContract):
        pass
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from mlpilot.config import Settings
from mlpilot.errors import ConflictError, InvalidInputError, NotFoundError
from mlpilot.store._store import Store
from mlpilot.store.base._monitors import Monitor, MonitorRecords, WindowResult
from mlpilot.testing._processes import race
from mlpilot.testing._registry import FAILED, GATE, PASSED, SCORING, add_version

#: Rounds each of two processes evaluates in the concurrency test.
ROUNDS = 15
#: Windows each round stores.
PER_ROUND = 2


def monitor(name: str = "watch", model: str = "churn") -> Monitor:
    """A monitor record as the monitoring layer stores one."""
    return Monitor(
        name=name,
        model=model,
        reference="ref@v1",
        features=("a", "b"),
        target="y",
        task="classification",
        window={"rows": 100},
        tests=("ks", "psi"),
        alpha=0.05,
        psi_threshold=0.2,
        min_labels=30,
        latency_p99_ms=None,
        prediction_column="prediction",
        rules=({"name": "psi", "when": "psi > 0.2", "actions": ["record"]},),
        profile_digest="0" * 64,
        created_ms=1_767_225_600_000,
        created_by="tester",
        since_ms=1_767_225_600_000,
        correction="bh",
        follow="champion",
    )


def window(name: str, index: int, drifted: bool = False) -> WindowResult:
    """The window ``index`` of 100 rows, one a second from 2026-01-01."""
    start = 1_767_225_600_000 + index * 100_000
    return WindowResult(
        monitor=name,
        index=index,
        start_ms=start,
        end_ms=start + 99_001,
        rows=100,
        evaluable=True,
        reason=None,
        drifted_columns=["a"] if drifted else [],
        results=[{"column": "a", "test": "psi", "statistic": 0.3 if drifted else 0.01}],
        performance={"labels": 0, "metrics": {}, "reason": "no labels"},
        latency={"requests": 10, "p50": 4.0, "p99": 9.5, "mean": 5.0},
        from_ms=None if index == 0 else start - 1000,
        from_skip=1 if index else 0,
        next_ms=start + 99_000,
        next_skip=1,
    )


def evaluate_rounds(settings: Settings, worker: int, barrier: Any, results: Any) -> None:
    """Evaluate ``ROUNDS`` rounds of windows of monitor ``watch`` as the monitoring layer
    does (read where to go on, store what follows), and report ``(worker, stored
    indexes, error or None)``."""
    store = Store(settings)
    stored: list[int] = []
    try:
        barrier.wait(timeout=120)
        for _ in range(ROUNDS):
            index, _, _ = store.monitors.next_position("watch")
            fresh = [window("watch", index + k) for k in range(PER_ROUND)]
            stored += store.monitors.add_windows("watch", fresh)
        results.put((worker, stored, None))
    except Exception as exc:  # reported to the parent, which fails the test with it
        results.put((worker, stored, f"{type(exc).__name__}: {exc}"))
    finally:
        store.close()


def start_retrain(settings: Settings, worker: int, barrier: Any, results: Any) -> None:
    """Start a retrain of ``churn`` and report ``(worker, retrain id or error)``."""
    store = Store(settings)
    try:
        barrier.wait(timeout=120)
        started = store.monitors.start_retrain(
            "churn", alert_id=worker, pipeline="flows.py:retrain", params={}, host="here"
        )
        results.put((worker, started.id))
    except Exception as exc:
        results.put((worker, f"{type(exc).__name__}: {exc}"))
    finally:
        store.close()


class MonitorRecordsContract:
    """Tests every monitor records implementation passes."""

    # -- monitors --------------------------------------------------------------------

    def test_monitor_names_are_unique(self, store: Store) -> None:
        records = store.monitors
        assert isinstance(records, MonitorRecords)
        created = monitor("watch")
        records.create(created)
        records.create(monitor("alpha", model="fraud"))
        with pytest.raises(ConflictError, match="exists"):
            records.create(dataclasses.replace(created, model="other"))

        assert records.get("watch") == created
        assert records.exists("watch") and not records.exists("nothing")
        assert [m.name for m in records.list_monitors()] == ["alpha", "watch"]
        assert [m.name for m in records.list_monitors("churn")] == ["watch"]
        assert records.get("watch").to_dict()["rules"][0]["when"] == "psi > 0.2"
        assert [e.object_id for e in store.events.read("monitor.created")] == ["watch", "alpha"]

    def test_a_monitor_is_updated_and_deleted_with_its_windows_and_alerts(
        self, store: Store
    ) -> None:
        records = store.monitors
        created = monitor()
        records.create(created)
        records.create(monitor("other"))
        records.add_windows("watch", [window("watch", 0, drifted=True)])
        pending = [{"kind": "record", "status": "pending", "detail": ""}]
        records.raise_alert("watch", "psi", 0, 1000, "drift", {}, pending)
        changed = dataclasses.replace(
            created, reference="ref@v2", window={"rows": 50}, paused=True, follow=None
        )

        records.update(changed, {"reference": ["ref@v1", "ref@v2"], "reason": "moved"})

        assert records.get("watch") == changed
        [event] = store.events.read("monitor.updated")
        assert event.payload == {"reference": ["ref@v1", "ref@v2"], "reason": "moved"}
        with pytest.raises(NotFoundError, match="no monitor named 'ghost'"):
            records.update(dataclasses.replace(changed, name="ghost"), {})
        records.delete("watch")
        assert [m.name for m in records.list_monitors()] == ["other"]
        assert records.alerts() == []
        with pytest.raises(NotFoundError):
            records.windows("watch")
        with pytest.raises(NotFoundError, match="no monitor named 'watch'"):
            records.delete("watch")
        assert [e.object_id for e in store.events.read("monitor.deleted")] == ["watch"]

    def test_bad_monitors_are_refused(self, store: Store) -> None:
        for name in ("", " padded ", "x" * 251):
            with pytest.raises(InvalidInputError):
                store.monitors.create(monitor(name))
        with pytest.raises(InvalidInputError, match="JSON"):
            store.monitors.create(dataclasses.replace(monitor(), alpha=float("nan")))
        assert store.monitors.list_monitors() == []

    def test_unknown_names_are_not_found(self, store: Store) -> None:
        records = store.monitors
        with pytest.raises(NotFoundError, match="no monitor named 'ghost'"):
            records.get("ghost")
        with pytest.raises(NotFoundError):
            records.next_position("ghost")
        with pytest.raises(NotFoundError):
            records.windows("ghost")
        with pytest.raises(NotFoundError):
            records.window("ghost", 0)
        with pytest.raises(NotFoundError):
            records.add_windows("ghost", [window("ghost", 0)])
        with pytest.raises(NotFoundError):
            records.set_performance("ghost", {0: {"labels": 1}})
        with pytest.raises(NotFoundError):
            records.raise_alert("ghost", "psi", 0, 1, "m", {}, [])
        with pytest.raises(NotFoundError):
            records.alerts("ghost")
        with pytest.raises(NotFoundError, match="no alert 99"):
            records.alert(99)
        with pytest.raises(NotFoundError):
            records.acknowledge(99)
        with pytest.raises(NotFoundError):
            records.set_action(99, 0, {"kind": "record", "status": "ok"})
        with pytest.raises(NotFoundError):
            records.retrain(99)
        with pytest.raises(NotFoundError):
            records.finish_retrain(99, "failed", "gone")
        with pytest.raises(NotFoundError, match="no model named 'ghost'"):
            records.model_task("ghost")
        records.create(monitor())
        with pytest.raises(NotFoundError, match="no window 0"):
            records.window("watch", 0)

    # -- windows ---------------------------------------------------------------------

    def test_windows_come_back_in_order(self, store: Store) -> None:
        records = store.monitors
        records.create(monitor())
        assert records.next_position("watch") == (0, None, 0)
        assert records.windows("watch") == []

        assert records.add_windows("watch", [window("watch", 0), window("watch", 1)]) == [0, 1]
        assert records.add_windows("watch", [window("watch", 2, drifted=True)]) == [2]

        stored = records.windows("watch")
        assert stored == [window("watch", i, drifted=i == 2) for i in range(3)]
        assert [w.index for w in records.windows("watch", last=2)] == [1, 2]
        assert records.window("watch", 2).drifted_columns == ["a"]
        assert records.next_position("watch") == (3, window("watch", 2).next_ms, 1)
        assert records.window("watch", 1).to_dict()["latency"]["p99"] == 9.5

        # windows stored already are left as they are; later ones follow on
        again = [window("watch", 1, drifted=True), window("watch", 2), window("watch", 3)]
        assert records.add_windows("watch", again) == [3]
        assert records.window("watch", 1).drifted_columns == []
        assert records.add_windows("watch", []) == []
        with pytest.raises(InvalidInputError, match="gap"):
            records.add_windows("watch", [window("watch", 6)])
        with pytest.raises(InvalidInputError, match="in a row"):
            records.add_windows("watch", [window("watch", 4), window("watch", 6)])
        with pytest.raises(InvalidInputError, match="of monitor 'other'"):
            records.add_windows("watch", [window("other", 4)])
        assert [w.index for w in records.windows("watch")] == [0, 1, 2, 3]

        records.set_performance("watch", {1: {"labels": 40, "metrics": {"accuracy": 0.9}}})
        assert records.window("watch", 1).performance["metrics"] == {"accuracy": 0.9}
        assert records.window("watch", 0).performance["labels"] == 0

    def test_two_processes_record_windows_without_duplicates(self, store: Store) -> None:
        store.monitors.create(monitor())

        found = sorted(race(evaluate_rounds, [(store.settings, w) for w in range(2)]))

        assert [error for _, _, error in found] == [None, None]
        indexes = [w.index for w in store.monitors.windows("watch")]
        assert indexes == list(range(len(indexes)))
        assert len(indexes) >= ROUNDS * PER_ROUND
        first, second = (stored for _, stored, _ in found)
        assert sorted(first + second) == indexes

    # -- alerts ----------------------------------------------------------------------

    def test_alerts_open_and_are_acknowledged(self, store: Store) -> None:
        records = store.monitors
        records.create(monitor())
        pending = [{"kind": "record", "status": "pending", "detail": ""}]
        raised = [
            records.raise_alert(
                "watch", rule, i, 1000 * (i + 1), f"{rule} on {i}", {"v": i}, pending
            )
            for i, rule in [(0, "psi"), (1, "psi"), (1, "accuracy")]
        ]
        assert all(alert is not None for alert in raised)
        first = raised[0]
        assert first is not None
        assert (first.monitor, first.rule, first.window_index, first.state) == (
            "watch",
            "psi",
            0,
            "open",
        )
        assert first.values == {"v": 0} and first.actions == pending
        # a rule raises one alert per window
        assert records.raise_alert("watch", "psi", 1, 2000, "again", {}, pending) is None
        assert records.rule_alerts("watch", "psi") == [(0, 1000), (1, 2000)]

        ids = [alert.id for alert in raised if alert is not None]
        assert ids == sorted(ids)
        assert [a.id for a in records.alerts("watch")] == ids
        assert [a.id for a in records.alerts(limit=2)] == ids[1:]

        records.set_action(ids[1], 0, {"kind": "retrain", "status": "running", "detail": "x"})
        assert [a.id for a in records.alerts("watch", running_actions=True)] == [ids[1]]
        assert records.alert(ids[1]).actions[0]["status"] == "running"
        with pytest.raises(InvalidInputError):
            records.set_action(ids[1], 5, {"kind": "record", "status": "ok"})

        acked = records.acknowledge(ids[0], "looking")
        assert (acked.state, acked.acked_by, acked.note) == (
            "acknowledged",
            store.settings.user,
            "looking",
        )
        assert records.acknowledge(ids[0], "other") == acked
        assert [a.id for a in records.alerts("watch", open_only=True)] == ids[1:]
        assert records.alert(ids[0]).to_dict()["state"] == "acknowledged"
        with pytest.raises(InvalidInputError):
            records.acknowledge(ids[1], 3)  # type: ignore[arg-type]
        with pytest.raises(InvalidInputError, match="JSON"):
            records.raise_alert("watch", "psi", 5, 6000, "m", {"v": float("inf")}, pending)

        kinds = [e.kind for e in store.events.read("alert")]
        assert kinds == ["alert.raised"] * 3 + ["alert.action", "alert.acknowledged"]

    # -- retrains --------------------------------------------------------------------

    def test_one_retrain_of_a_model_runs_at_a_time(self, store: Store) -> None:
        records = store.monitors
        started = records.start_retrain(
            "churn", alert_id=1, pipeline="flows.py:retrain", params={"n": 2}, host="here"
        )
        assert (started.status, started.pid, started.champion_before) == ("running", None, None)
        assert started.params == {"n": 2}
        with pytest.raises(ConflictError, match="alert 1"):
            records.start_retrain(
                "churn", alert_id=2, pipeline="flows.py:retrain", params={}, host="here"
            )
        other = records.start_retrain(
            "fraud", alert_id=3, pipeline="flows.py:retrain", params={}, host="here"
        )
        records.set_retrain_process(started.id, 4242, "/tmp/retrain.log")
        assert records.running_retrains("churn") == [records.retrain(started.id)]
        assert records.retrain(started.id).pid == 4242

        # one the caller found gone does not hold a new one back
        again = records.start_retrain(
            "churn",
            alert_id=4,
            pipeline="flows.py:retrain",
            params={},
            host="here",
            dead=[started.id],
        )
        records.finish_retrain(started.id, "failed", "lost")
        records.finish_retrain(started.id, "finished", "too late")
        ended = records.retrain(started.id)
        assert (ended.status, ended.outcome) == ("failed", "lost") and ended.ended_ms
        assert [r.id for r in records.running_retrains("churn")] == [again.id]
        assert records.retrain(other.id).to_dict()["model"] == "fraud"
        with pytest.raises(InvalidInputError):
            records.finish_retrain(again.id, "paused", "")
        effect = records.retrain_effect(again.id)
        assert (effect.moved_to, effect.refused, effect.champion) == (None, None, None)

    def test_a_retrains_effect_names_the_gates_decision_and_its_failed_checks(
        self, store: Store
    ) -> None:
        registry = store.registry
        registry.create_model("churn", scoring=SCORING, gate=GATE)
        run_id = store.tracking.create_run("registry", "train").id
        for _ in range(3):
            add_version(registry, run_id)
        registry.record_decision(
            "churn", "champion", 1, champion=None, outcome="promote", reason="", decision=PASSED
        )
        retrain = store.monitors.start_retrain(
            "churn", alert_id=1, pipeline="flows.py:retrain", params={}, host="here"
        )

        registry.record_decision(
            "churn", "champion", 2, champion=1, outcome="refuse", reason="no", decision=FAILED
        )
        refused = store.monitors.retrain_effect(retrain.id)
        registry.record_decision(
            "churn", "champion", 3, champion=1, outcome="promote", reason="ok", decision=PASSED
        )
        promoted = store.monitors.retrain_effect(retrain.id)

        [refusal] = store.events.read("model.promotion_refused")
        assert (refused.refused, refused.moved_to, refused.champion) == (2, None, 1)
        assert refused.decision_event == refusal.id and refused.gate_reason == "no"
        assert list(refused.failed_checks) == FAILED["checks"]
        assert (promoted.moved_to, promoted.refused, promoted.champion) == (3, None, 3)
        assert promoted.decision_event is not None and promoted.decision_event > refusal.id
        assert promoted.failed_checks == ()

    def test_of_two_processes_starting_a_retrain_one_wins(self, store: Store) -> None:
        found = sorted(race(start_retrain, [(store.settings, w) for w in range(2)]))

        outcomes = [result for _, result in found]
        started = [r for r in outcomes if isinstance(r, int)]
        refused = [r for r in outcomes if isinstance(r, str)]
        assert len(started) == 1, outcomes
        assert len(refused) == 1 and refused[0].startswith("ConflictError"), outcomes
        assert [r.id for r in store.monitors.running_retrains("churn")] == started
