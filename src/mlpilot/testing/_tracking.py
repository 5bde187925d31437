"""The contract of :class:`~mlpilot.store.base.TrackingRecords`, as pytest tests.

An implementation proves itself by subclassing :class:`TrackingRecordsContract` in a
test module that provides a ``store`` fixture (a fresh, empty
:class:`~mlpilot.store.Store` whose ``tracking`` is the implementation)::

    class TestMyTrackingRecords(TrackingRecordsContract):
        pass
"""

from __future__ import annotations

import random
import warnings
from collections.abc import Callable
from typing import Any

import pytest

from mlpilot.config import Settings
from mlpilot.errors import ConflictError, InvalidInputError, NotFoundError
from mlpilot.store._store import Store
from mlpilot.store.base._tracking import OrderKeyWarning, Series, TrackingRecords
from mlpilot.testing._processes import race

UNKNOWN_RUN = "0" * 32
#: Calls each of two processes makes on one run in the concurrency test.
BATCHES = 60
KEYS = [f"m{index}" for index in range(8)]


def log_batches(settings: Settings, run_id: str, worker: int, barrier: Any, results: Any) -> None:
    """Write ``BATCHES`` batches to ``run_id`` in step with the other worker, each with
    its keys in a shuffled order, and report ``(worker, error or None)``."""
    store = Store(settings)
    shuffle = random.Random(worker)
    try:
        for batch in range(BATCHES):
            keys = shuffle.sample(KEYS, len(KEYS))
            # Both workers write the same new rows at the same moment: the worst case.
            barrier.wait(timeout=120)
            store.tracking.log_batch(
                run_id,
                [(key, float(worker), batch * 2 + worker) for key in keys],
                params={f"b{batch}.{key}": "shared" for key in keys} | {f"w{worker}.{batch}": 1},
                tags={key: f"worker-{worker}" for key in keys},
            )
        results.put((worker, None))
    except Exception as exc:  # reported to the parent, which fails the test with it
        barrier.abort()
        results.put((worker, f"{type(exc).__name__}: {exc}"))
    finally:
        store.close()


def create_experiment(settings: Settings, barrier: Any, results: Any) -> None:
    store = Store(settings)
    try:
        barrier.wait(timeout=120)
        results.put(store.tracking.get_or_create_experiment("raced"))
    except Exception as exc:
        results.put(f"{type(exc).__name__}: {exc}")
    finally:
        store.close()


class TrackingRecordsContract:
    """Tests every tracking records implementation passes."""

    # -- experiments -----------------------------------------------------------------

    def test_experiment_names_are_unique(self, store: Store) -> None:
        records = store.tracking
        assert isinstance(records, TrackingRecords)
        first = records.create_experiment("churn", "the churn model")
        with pytest.raises(ConflictError, match="exists"):
            records.create_experiment("churn")
        assert records.get_or_create_experiment("churn") == first
        second = records.get_or_create_experiment("fraud")
        records.create_run("fraud")
        listed = records.list_experiments()
        assert [(e.id, e.name, e.run_count) for e in listed] == [
            (first, "churn", 0),
            (second, "fraud", 1),
        ]
        assert listed[0].to_dict()["description"] == "the churn model"

    @pytest.mark.parametrize("name", ["", " padded", "a" * 1000, "tab\there", 7])
    def test_bad_experiment_names_are_refused(self, store: Store, name: Any) -> None:
        with pytest.raises(InvalidInputError):
            store.tracking.create_experiment(name)
        with pytest.raises(InvalidInputError):
            store.tracking.create_run(name)
        assert store.tracking.list_experiments() == []

    # -- runs ------------------------------------------------------------------------

    def test_a_run_is_stored_as_created(self, store: Store) -> None:
        records = store.tracking
        run = records.create_run("e", "first", params={"C": 0.5}, tags={"team": "ml"}, pid=42)
        assert (run.status, run.name, run.pid, run.user) == ("running", "first", 42, "tester")
        stored = records.get_run(run.id[:8])
        assert stored == run
        assert stored.to_dict()["params"] == {"C": "0.5"}
        assert stored.to_dict()["duration_ms"] is None
        child = records.create_run("e", parent_id=run.id[:6])
        assert child.parent_id == run.id and child.name.startswith("run-")
        assert records.resolve_run_id(child.id[:10]) == child.id

    def test_unknown_run_ids_are_not_found(self, store: Store) -> None:
        records = store.tracking
        calls: list[Callable[[], object]] = [
            lambda: records.get_run(UNKNOWN_RUN),
            lambda: records.resolve_run_id(UNKNOWN_RUN[:8]),
            lambda: records.end_run(UNKNOWN_RUN),
            lambda: records.reopen_run(UNKNOWN_RUN),
            lambda: records.delete_run(UNKNOWN_RUN),
            lambda: records.log_batch(UNKNOWN_RUN, [("loss", 1.0, 0)]),
            lambda: records.log_params(UNKNOWN_RUN, {"C": 1}),
            lambda: records.set_tags(UNKNOWN_RUN, {"t": 1}),
            lambda: records.metric_history(UNKNOWN_RUN, "loss"),
            lambda: records.list_artifacts(UNKNOWN_RUN),
            lambda: records.record_artifacts(UNKNOWN_RUN, [("a.txt", "0" * 64, 1)]),
            lambda: records.create_run("e", parent_id=UNKNOWN_RUN),
        ]
        for call in calls:
            with pytest.raises(NotFoundError):
                call()

    def test_writes_take_only_full_run_ids(self, store: Store) -> None:
        run = store.tracking.create_run("e")
        with pytest.raises(NotFoundError, match="full"):
            store.tracking.log_params(run.id[:8], {"C": 1})
        for malformed in ["not-an-id", "abc", "x" * 40]:
            with pytest.raises(InvalidInputError):
                store.tracking.get_run(malformed)

    def test_runs_end_and_reopen(self, store: Store) -> None:
        records = store.tracking
        run = records.create_run("e")
        with pytest.raises(InvalidInputError):
            records.end_run(run.id, "done")
        with pytest.raises(ConflictError, match="running already"):
            records.reopen_run(run.id)
        records.end_run(run.id, "failed")
        ended = records.get_run(run.id)
        assert ended.status == "failed" and ended.end_ms is not None
        reopened = records.reopen_run(run.id, pid=7)
        assert (reopened.status, reopened.end_ms, reopened.pid) == ("running", None, 7)

    def test_heartbeats_touch_running_runs_only(self, store: Store) -> None:
        records = store.tracking
        live, ended = records.create_run("e"), records.create_run("e")
        records.end_run(ended.id)
        before = {run.id: records.get_run(run.id).heartbeat_ms for run in (live, ended)}
        records.beat([live.id, ended.id, UNKNOWN_RUN])
        assert records.get_run(live.id).heartbeat_ms >= before[live.id]
        assert records.get_run(ended.id).heartbeat_ms == before[ended.id]

    def test_deleting_a_run(self, store: Store) -> None:
        records = store.tracking
        parent = records.create_run("e")
        child = records.create_run("e", parent_id=parent.id)
        with pytest.raises(ConflictError, match="running"):
            records.delete_run(parent.id)
        records.end_run(parent.id)
        records.end_run(child.id)
        with pytest.raises(ConflictError, match="child"):
            records.delete_run(parent.id)
        assert records.delete_run(parent.id, recursive=True) == [parent.id, child.id]
        with pytest.raises(NotFoundError):
            records.get_run(child.id)
        assert records.list_experiments()[0].run_count == 0

    # -- params, metrics, tags -------------------------------------------------------

    def test_params_are_fixed_once_logged(self, store: Store) -> None:
        records = store.tracking
        run = records.create_run("e", params={"C": 1})
        records.log_params(run.id, {"C": 1, "kernel": "rbf"})
        with pytest.raises(ConflictError, match="fixed"):
            records.log_params(run.id, {"C": 2})
        # A batch is all or nothing: its metrics and tags go with the refused param.
        with pytest.raises(ConflictError):
            records.log_batch(run.id, [("loss", 0.1, 0)], params={"C": 3}, tags={"t": "x"})
        stored = records.get_run(run.id)
        assert stored.params == {"C": "1", "kernel": "rbf"}
        assert stored.metrics == {} and stored.tags == {}

    def test_tags_take_the_latest_value(self, store: Store) -> None:
        run = store.tracking.create_run("e", tags={"stage": "dev"})
        store.tracking.set_tags(run.id, {"stage": "prod", "owner": "ana"})
        assert store.tracking.get_run(run.id).tags == {"stage": "prod", "owner": "ana"}

    @pytest.mark.parametrize(
        ("metrics", "params", "tags"),
        [
            ([("loss", float("nan"), 0)], None, None),
            ([("loss", float("inf"), 0)], None, None),
            ([("loss", "0.5", 0)], None, None),
            ([("loss", 0.5, -1)], None, None),
            ([("loss", 0.5, 1.5)], None, None),
            ([("", 0.5, 0)], None, None),
            ([("k" * 1000, 0.5, 0)], None, None),
            ([("loss", 0.5)], None, None),
            ([], {"bad\nkey": 1}, None),
            ([], None, {"t": "nul\x00"}),
            ([], None, {"t": "x" * 9000}),
            ([], None, {"t": "\ud800"}),
        ],
    )
    def test_bad_keys_and_values_are_refused(
        self, store: Store, metrics: Any, params: Any, tags: Any
    ) -> None:
        run = store.tracking.create_run("e")
        with pytest.raises(InvalidInputError):
            store.tracking.log_batch(run.id, metrics, params, tags)
        stored = store.tracking.get_run(run.id)
        assert (stored.metrics, stored.params, stored.tags) == ({}, {}, {})

    def test_metric_history_is_by_step_then_time(self, store: Store) -> None:
        records = store.tracking
        run = records.create_run("e")
        records.log_batch(run.id, [("loss", 3.0, 2, 100), ("loss", 1.0, 0, 300)])
        records.log_batch(run.id, [("loss", 2.0, 0, 200), ("acc", 0.5, 1, 100)])
        history = records.metric_history(run.id[:8], "loss")
        assert [(p.step, p.timestamp_ms, p.value) for p in history] == [
            (0, 200, 2.0),
            (0, 300, 1.0),
            (2, 100, 3.0),
        ]
        assert history[0].to_dict() == {"step": 0, "timestamp_ms": 200, "value": 2.0}
        # The latest value is that of the highest step, whatever order points came in.
        assert records.get_run(run.id).metrics == {"loss": 3.0, "acc": 0.5}
        assert records.metric_history(run.id, "unlogged") == []

    def test_buffered_series_of_deleted_runs_are_dropped(self, store: Store) -> None:
        records = store.tracking
        kept, gone = records.create_run("e"), records.create_run("e")
        records.end_run(gone.id)
        records.delete_run(gone.id)
        batch = {
            (kept.id, "loss"): Series(),
            (gone.id, "loss"): Series(),
        }
        for series in batch.values():
            series.append(0, 100, 0.5)
        records.write_metrics(batch)
        assert [p.value for p in records.metric_history(kept.id, "loss")] == [0.5]

    # -- search ----------------------------------------------------------------------

    def _three_runs(self, store: Store) -> dict[str, str]:
        ids = {}
        for name, loss in [("a", 0.3), ("b", 0.1), ("c", None)]:
            run = store.tracking.create_run("search", name, params={"name": name})
            if loss is not None:
                store.tracking.log_batch(run.id, [("loss", loss, 0)])
            ids[name] = run.id
        return ids

    def _names(self, store: Store, *order_by: str, limit: int = 100, offset: int = 0) -> list[str]:
        found = store.tracking.search_runs(["search"], None, order_by, limit, offset)
        return [run.name for run in found]

    @pytest.mark.parametrize(
        ("direction", "expected"),
        [
            ("", ["b", "a", "c"]),
            (" ASC", ["b", "a", "c"]),
            (" ascending", ["b", "a", "c"]),
            (" desc", ["a", "b", "c"]),
            (" DESCENDING", ["a", "b", "c"]),
            (" Descending", ["a", "b", "c"]),
        ],
    )
    def test_ordering_reads_every_direction(
        self, store: Store, direction: str, expected: list[str]
    ) -> None:
        self._three_runs(store)
        assert self._names(store, f"metrics.loss{direction}") == expected
        assert self._names(store, f"metrics.`loss`{direction}") == expected

    @pytest.mark.parametrize("clause", ["metrics.loss DOWN", "metrics.loss DESC please", "name X"])
    def test_unknown_directions_are_refused(self, store: Store, clause: str) -> None:
        self._three_runs(store)
        with pytest.raises(InvalidInputError, match="direction|cannot read"):
            self._names(store, clause)

    def test_ordering_by_a_key_no_run_has_warns(self, store: Store) -> None:
        self._three_runs(store)
        with pytest.warns(OrderKeyWarning, match="metrics.lost"):
            self._names(store, "metrics.lost DESC")
        with pytest.warns(OrderKeyWarning, match="params.nme"):
            self._names(store, "params.nme", offset=1)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            self._names(store, "metrics.loss", offset=1)  # held by runs of earlier pages

    def test_pages_cover_the_runs_once_in_order(self, store: Store) -> None:
        self._three_runs(store)
        for order in (["metrics.loss DESC"], ["params.name DESC"], []):
            whole = self._names(store, *order)
            pages = [self._names(store, *order, limit=2, offset=o) for o in (0, 2, 4)]
            assert pages[0] + pages[1] + pages[2] == whole
            assert len(whole) == 3
        assert self._names(store, "name", limit=0) == []
        for limit, offset in [(-1, 0), (1, -1)]:
            with pytest.raises(InvalidInputError):
                self._names(store, limit=limit, offset=offset)

    def test_search_filters_and_names_experiments(self, store: Store) -> None:
        self._three_runs(store)
        store.tracking.create_run("other", "d")
        found = store.tracking.search_runs(filter="metrics.loss < 0.2")
        assert [run.name for run in found] == ["b"]
        assert len(store.tracking.search_runs()) == 4
        with pytest.raises(NotFoundError):
            store.tracking.search_runs(["nope"])
        with pytest.raises(InvalidInputError):
            store.tracking.search_runs(filter="metrics.loss <")

    # -- artifacts -------------------------------------------------------------------

    def test_artifact_index(self, store: Store) -> None:
        records = store.tracking
        run, other = records.create_run("e"), records.create_run("e")
        digest = "a" * 64
        records.record_artifacts(run.id, [("model/meta.json", digest, 3), ("b.txt", digest, 1)])
        records.record_artifacts(run.id, [("model/weights", digest, 9), ("b.txt", "b" * 64, 2)])
        records.record_artifacts(other.id, [("m/meta.json", digest, 4)])
        listed = records.list_artifacts(run.id)
        assert [(a.path, a.size) for a in listed] == [
            ("b.txt", 2),
            ("model/meta.json", 3),
            ("model/weights", 9),
        ]
        assert listed[0].to_dict()["digest"] == "b" * 64
        assert [a.path for a in records.list_artifacts(run.id, "model/")] == [
            "model/meta.json",
            "model/weights",
        ]
        assert records.list_artifacts(run.id, "mod") == []
        found = records.find_artifacts([other.id, run.id], "/meta.json")
        assert [(run_id, a.path) for run_id, a in found] == [
            (other.id, "m/meta.json"),
            (run.id, "model/meta.json"),
        ]
        for bad in ["../escape", "/absolute", ""]:
            with pytest.raises(InvalidInputError):
                records.record_artifacts(run.id, [(bad, digest, 1)])

    # -- two processes ---------------------------------------------------------------

    def test_two_processes_writing_one_run_lose_nothing(self, store: Store) -> None:
        run = store.tracking.create_run("e")
        outcomes = dict(race(log_batches, [(store.settings, run.id, w) for w in (0, 1)]))
        assert outcomes == {0: None, 1: None}
        stored = store.tracking.get_run(run.id)
        assert set(stored.params) == {f"b{b}.{key}" for b in range(BATCHES) for key in KEYS} | {
            f"w{w}.{b}" for w in (0, 1) for b in range(BATCHES)
        }
        assert set(stored.tags) == set(KEYS)
        # The highest step of every key is the last batch of worker 1.
        assert stored.metrics == dict.fromkeys(KEYS, 1.0)
        for key in KEYS:
            steps = [p.step for p in store.tracking.metric_history(run.id, key)]
            assert steps == list(range(2 * BATCHES))

    def test_two_processes_creating_one_experiment_agree(self, store: Store) -> None:
        ids = race(create_experiment, [(store.settings,), (store.settings,)])
        assert ids[0] == ids[1] and isinstance(ids[0], int)
        assert [e.name for e in store.tracking.list_experiments()] == ["raced"]
