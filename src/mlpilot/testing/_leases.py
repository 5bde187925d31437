"""The contract of :class:`~mlpilot.store.base.LeaseRecords`."""

from __future__ import annotations

import time
from typing import Any

import pytest

from mlpilot.config import Settings
from mlpilot.errors import InvalidInputError
from mlpilot.store._store import Store
from mlpilot.store.base._leases import LeaseRecords
from mlpilot.testing._processes import race


def acquire_lease(settings: Settings, worker: int, barrier: Any, results: Any) -> None:
    """Try to take the lease ``controller`` and report ``(worker, holder or error)``."""
    store = Store(settings)
    try:
        barrier.wait(timeout=120)
        lease = store.leases.acquire("controller", f"worker-{worker}", 60)
        results.put((worker, None if lease is None else lease.holder))
    except Exception as exc:
        results.put((worker, f"{type(exc).__name__}: {exc}"))
    finally:
        store.close()


class LeaseRecordsContract:
    """Tests every lease records implementation passes."""

    def test_one_holder_at_a_time_until_it_lets_go(self, store: Store) -> None:
        records = store.leases
        assert isinstance(records, LeaseRecords)
        assert records.get("controller") is None

        first = records.acquire("controller", "a", 60)
        assert first is not None and first.holder == "a"
        assert records.acquire("controller", "b", 60) is None
        renewed = records.acquire("controller", "a", 120)
        assert renewed is not None and renewed.acquired_ms == first.acquired_ms
        assert renewed.expires_ms > first.expires_ms
        records.release("controller", "b")  # not b's to release
        assert records.acquire("controller", "b", 60) is None
        records.release("controller", "a")
        taken = records.acquire("controller", "b", 60)

        assert taken is not None and records.get("controller") == taken
        acquired = [(e.actor, e.payload["previous"]) for e in store.events.read("lease.acquired")]
        assert acquired == [("a", None), ("b", "a")]
        assert [e.actor for e in store.events.read("lease.released")] == ["a"]

    def test_an_expired_lease_is_taken_over(self, store: Store) -> None:
        records = store.leases
        assert records.acquire("controller", "a", 0.05) is not None
        time.sleep(0.1)

        taken = records.acquire("controller", "b", 60)

        assert taken is not None and taken.holder == "b"
        assert records.acquire("controller", "a", 60) is None

    def test_bad_leases_are_refused(self, store: Store) -> None:
        for bad in (0, -1, float("nan"), True):
            with pytest.raises(InvalidInputError, match="positive number of seconds"):
                store.leases.acquire("controller", "a", bad)
        with pytest.raises(InvalidInputError):
            store.leases.acquire("", "a", 10)
        assert store.leases.get("controller") is None

    def test_of_two_processes_asking_at_once_one_holds_it(self, store: Store) -> None:
        found = race(acquire_lease, [(store.settings, worker) for worker in range(2)])

        holders = [holder for _, holder in found]
        winners = [holder for holder in holders if holder is not None]
        assert len(winners) == 1 and holders.count(None) == 1, holders
        lease = store.leases.get("controller")
        assert lease is not None and lease.holder == winners[0]
