"""The contract of :class:`~mlpilot.store.base.TriggerRecords`."""

from __future__ import annotations

import time
from typing import Any

import pytest

from mlpilot.config import Settings
from mlpilot.errors import ConflictError, InvalidInputError, NotFoundError
from mlpilot.store._store import Store
from mlpilot.store.base._triggers import Trigger, TriggerRecords
from mlpilot.testing._processes import race


def trigger(name: str = "nightly", **fields: Any) -> Trigger:
    values: dict[str, Any] = {
        "pipeline": "/flows.py:train",
        "params": {"trials": 3},
        "cron": "0 3 * * *",
        "dataset": None,
        "tag": None,
        "created_ms": 1_767_225_600_000,
        "created_by": "tester",
    }
    return Trigger(name=name, **(values | fields))


def claim_firing(settings: Settings, worker: int, barrier: Any, results: Any) -> None:
    """Claim ``nightly``'s firing for one key and report ``(worker, claimed or error)``."""
    store = Store(settings)
    try:
        barrier.wait(timeout=120)
        results.put((worker, store.triggers.claim("nightly", "2026-12-03T03:00:00", 60)))
    except Exception as exc:
        results.put((worker, f"{type(exc).__name__}: {exc}"))
    finally:
        store.close()


class TriggerRecordsContract:
    """Tests every trigger records implementation passes."""

    def test_triggers_are_created_listed_and_deleted(self, store: Store) -> None:
        records = store.triggers
        assert isinstance(records, TriggerRecords)
        nightly = trigger()
        fresh = trigger("fresh", cron=None, dataset="churn", tag="prod", last_key="churn@v1")
        records.create(nightly)
        records.create(fresh)
        with pytest.raises(ConflictError, match="exists"):
            records.create(nightly)

        assert records.get("nightly") == nightly and records.get("fresh") == fresh
        assert [t.name for t in records.list_triggers()] == ["fresh", "nightly"]
        records.delete("nightly")
        with pytest.raises(NotFoundError, match="no trigger named 'nightly'"):
            records.get("nightly")
        with pytest.raises(NotFoundError):
            records.delete("nightly")
        kinds = [e.kind for e in store.events.read("trigger.")]
        assert kinds == ["trigger.created", "trigger.created", "trigger.deleted"]

    def test_bad_triggers_are_refused(self, store: Store) -> None:
        with pytest.raises(InvalidInputError, match="schedule"):
            store.triggers.create(trigger(dataset="churn"))
        with pytest.raises(InvalidInputError, match="JSON"):
            store.triggers.create(trigger(params={"x": float("nan")}))
        with pytest.raises(InvalidInputError):
            store.triggers.create(trigger(""))
        assert store.triggers.list_triggers() == []

    def test_a_key_is_fired_once_and_a_stale_claim_is_taken_up(self, store: Store) -> None:
        records = store.triggers
        records.create(trigger())
        slot = "2026-12-03T03:00:00"

        assert records.claim("nightly", slot, 60)
        assert not records.claim("nightly", slot, 60)  # under way
        records.fired("nightly", slot, {"pid": 42})
        assert not records.claim("nightly", slot, 60)  # done
        fired = records.get("nightly")
        assert fired.last_key == slot and fired.last_fired_ms is not None
        [event] = store.events.read("trigger.fired")
        assert event.payload == {"key": slot, "pid": 42}

        later = "2026-12-04T03:00:00"
        assert records.claim("nightly", later, 0.05)
        time.sleep(0.1)  # its claimer died before starting the run
        assert records.claim("nightly", later, 0.05)
        with pytest.raises(NotFoundError):
            records.claim("ghost", later, 60)

    def test_of_two_processes_claiming_a_firing_one_wins(self, store: Store) -> None:
        store.triggers.create(trigger())

        claimed = [
            result
            for _, result in sorted(
                race(claim_firing, [(store.settings, w) for w in range(2)]), key=repr
            )
        ]

        assert sorted(claimed, key=str) == [False, True], claimed
