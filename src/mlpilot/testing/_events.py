"""The contract of :class:`~mlpilot.store.base.EventRecords`, as pytest tests.

An implementation proves itself by subclassing :class:`EventRecordsContract` in a test
module that provides a ``store`` fixture (a fresh, empty :class:`~mlpilot.store.Store`
whose ``events`` is the implementation)::

    class TestMyEventRecords(EventRecordsContract):
        pass
"""

from __future__ import annotations

from typing import Any

import pytest

from mlpilot.config import Settings
from mlpilot.errors import InvalidInputError
from mlpilot.store._store import Store
from mlpilot.store.base._events import EventRecords
from mlpilot.testing._processes import race

#: Events each of two processes records in the concurrency test.
RECORDS = 50


def record_events(settings: Settings, worker: int, barrier: Any, results: Any) -> None:
    """Record ``RECORDS`` events and report ``(worker, error or None)``."""
    store = Store(settings)
    try:
        barrier.wait(timeout=120)
        for index in range(RECORDS):
            store.events.record("test.raced", "worker", str(worker), index=index)
        results.put((worker, None))
    except Exception as exc:  # reported to the parent, which fails the test with it
        results.put((worker, f"{type(exc).__name__}: {exc}"))
    finally:
        store.close()


class EventRecordsContract:
    """Tests every event records implementation passes."""

    def test_events_come_back_in_the_order_recorded(self, store: Store) -> None:
        records = store.events
        assert isinstance(records, EventRecords)
        records.record("model.promoted", "model", "churn", alias="prod", version=3)
        records.record("dataset.tagged", "dataset_version", "abc", actor="scheduler")
        records.record("model.demoted", "model", "churn", reasons=["drift", "latency"])

        found = records.read()

        assert [e.kind for e in found] == ["model.promoted", "dataset.tagged", "model.demoted"]
        assert [e.id for e in found] == sorted({e.id for e in found})
        assert found[0].payload == {"alias": "prod", "version": 3}
        assert found[1].payload == {}
        assert found[2].payload == {"reasons": ["drift", "latency"]}
        assert (found[0].object_type, found[0].object_id) == ("model", "churn")
        # The store's user, unless the call names another actor.
        assert [e.actor for e in found] == [store.settings.user, "scheduler", store.settings.user]
        assert found[0].ts_ms <= found[1].ts_ms <= found[2].ts_ms
        assert found[0].to_dict() == {
            "id": found[0].id,
            "ts_ms": found[0].ts_ms,
            "kind": "model.promoted",
            "object_type": "model",
            "object_id": "churn",
            "actor": store.settings.user,
            "payload": {"alias": "prod", "version": 3},
        }

    def test_kind_selects_by_prefix_taken_literally(self, store: Store) -> None:
        records = store.events
        for kind in ("alert.fired", "alert.resolved", "alerts_x.fired", "model.promoted"):
            records.record(kind, "thing", "one")

        assert [e.kind for e in records.read("alert.")] == ["alert.fired", "alert.resolved"]
        assert [e.kind for e in records.read("alert")] == [
            "alert.fired",
            "alert.resolved",
            "alerts_x.fired",
        ]
        # ``_`` and ``%`` are characters here, not patterns.
        assert [e.kind for e in records.read("alerts_")] == ["alerts_x.fired"]
        assert records.read("alert%") == []
        assert len(records.read("")) == len(records.read(None)) == 4

    def test_after_follows_the_log_and_limit_keeps_the_newest(self, store: Store) -> None:
        records = store.events
        for index in range(6):
            records.record("step.done", "step", str(index))
        ids = [e.id for e in records.read()]

        assert [e.object_id for e in records.read(after=ids[3])] == ["4", "5"]
        assert records.read(after=ids[-1]) == []
        assert [e.object_id for e in records.read(limit=2)] == ["4", "5"]
        assert [e.object_id for e in records.read(after=ids[0], limit=10)] == [
            "1",
            "2",
            "3",
            "4",
            "5",
        ]
        records.record("other.kind", "step", "6")
        assert [e.object_id for e in records.read("step", limit=3)] == ["3", "4", "5"]

    def test_an_empty_log_reads_empty(self, store: Store) -> None:
        assert store.events.read() == []
        assert store.events.read("model", after=10**12, limit=5) == []

    @pytest.mark.parametrize(
        ("args", "payload", "message"),
        [
            (("", "model", "churn"), {}, "kind is text"),
            (("k" * 65, "model", "churn"), {}, "kind is text"),
            (("model.x", "m" * 33, "churn"), {}, "object_type is text"),
            (("model.x", "model", ""), {}, "object_id is text"),
            (("model.x", "model", 3), {}, "object_id is text"),
            (("model.x", "model", "churn"), {"score": float("nan")}, "finite numbers"),
            (("model.x", "model", "churn"), {"when": object()}, "JSON's types"),
        ],
    )
    def test_bad_events_are_refused_and_not_stored(
        self, store: Store, args: tuple[Any, ...], payload: dict[str, Any], message: str
    ) -> None:
        with pytest.raises(InvalidInputError, match=message):
            store.events.record(*args, **payload)
        with pytest.raises(InvalidInputError, match="actor is text"):
            store.events.record("model.x", "model", "churn", actor="")

        assert store.events.read() == []

    def test_bad_reads_are_refused(self, store: Store) -> None:
        with pytest.raises(InvalidInputError, match="limit is an integer of at least 1"):
            store.events.read(limit=0)
        with pytest.raises(InvalidInputError, match="after is an integer of at least 0"):
            store.events.read(after=-1)
        with pytest.raises(InvalidInputError, match="kind is the start"):
            store.events.read(3)  # type: ignore[arg-type]

    def test_two_processes_recording_at_once_lose_no_event(self, store: Store) -> None:
        reports = sorted(race(record_events, [(store.settings, worker) for worker in range(2)]))

        assert reports == [(0, None), (1, None)]
        found = store.events.read("test.raced")
        assert len({e.id for e in found}) == 2 * RECORDS
        for worker in ("0", "1"):
            mine = [e.payload["index"] for e in found if e.object_id == worker]
            assert mine == list(range(RECORDS))
