"""The contract of :class:`~mlpilot.store.base.StudyRecords`, as pytest tests.

An implementation proves itself by subclassing :class:`StudyRecordsContract` in a test
module that provides a ``store`` fixture (a fresh, empty :class:`~mlpilot.store.Store`
whose ``studies`` is the implementation)::

    class TestMyStudyRecords(StudyRecordsContract):
        pass
"""

from __future__ import annotations

import json
import math
import time
from typing import Any

import pytest

from mlpilot.config import Settings
from mlpilot.errors import ConflictError, InvalidInputError, NotFoundError
from mlpilot.store._store import Store
from mlpilot.store.base._studies import StudyRecords, StudySetup, TrialEnd, TrialStart
from mlpilot.testing._processes import race

UNKNOWN = "0" * 32
#: Trials each of two processes runs in the concurrency test, and reports per trial.
TRIALS_PER_WORKER, STEPS = 12, 5


def setup(name: str = "search", pruner: str | None = None) -> StudySetup:
    """A study setup as the tuning layer writes one."""
    return StudySetup(
        name=name,
        objective="search.py:objective",
        space={"x": {"type": "float", "low": 0.0, "high": 1.0}},
        directions=["maximize"],
        metrics=["value"],
        sampler={"name": "random", "seed": 1, "grid_size": None},
        pruner={"name": pruner},
        budget={"trials": 10, "timeout_s": None, "core_hours": None},
        trial_resources={"cpus": 1, "gpus": 0, "memory_mb": 0, "timeout_s": None},
        executor="local",
        objective_kwargs={"data": "iris@v1"},
    )


def new_study(store: Store, name: str = "search", pruner: str | None = None) -> str:
    """Start a study's run and make it a study; return its run id."""
    run = store.tracking.create_run("tuning", name)
    store.studies.create(run.id, setup(name, pruner))
    return run.id


def trial_id(worker: int, number: int) -> str:
    return f"{worker:02d}{number:030d}"


def run_trials(settings: Settings, study_id: str, worker: int, barrier: Any, results: Any) -> None:
    """Start, report and end ``TRIALS_PER_WORKER`` trials of ``study_id`` one by one, as a
    driver and its trials would, and report ``(worker, error or None)``."""
    store = Store(settings)
    records = store.studies
    try:
        barrier.wait(timeout=120)
        for index in range(TRIALS_PER_WORKER):
            number = worker * TRIALS_PER_WORKER + index
            run_id = trial_id(worker, number)
            records.record(study_id, starts=[TrialStart(run_id, number, {"x": index / 10}, 1)])
            for step in range(STEPS):
                records.report(study_id, run_id, step, float(worker + step))
                records.mark_rung(run_id, step, step)
                records.rung_values(study_id, 0)
            records.record(
                study_id,
                ends=[
                    TrialEnd(
                        run_id,
                        number,
                        "complete",
                        [float(number)],
                        reports=[(s, float(worker + s)) for s in range(STEPS)],
                    )
                ],
            )
            records.add_spent(study_id, 1.0)
        results.put((worker, None))
    except Exception as exc:  # reported to the parent, which fails the test with it
        results.put((worker, f"{type(exc).__name__}: {exc}"))
    finally:
        store.close()


class StudyRecordsContract:
    """Tests every study records implementation passes."""

    def test_a_study_reads_back_by_name_id_and_prefix(self, store: Store) -> None:
        records = store.studies
        assert isinstance(records, StudyRecords)
        first = new_study(store, "search")
        time.sleep(0.002)  # distinct start times: newest first is well defined
        second = new_study(store, "search")
        other = new_study(store, "other")
        study = records.get(second)
        assert (study.run_id, study.name, study.experiment, study.status) == (
            second,
            "search",
            "tuning",
            "running",
        )
        assert study.objective_kwargs == {"data": "iris@v1"}
        assert study.spent_s == 0.0 and study.end_ms is None
        assert records.get("search").run_id == second  # the latest of that name
        assert records.get(first[:8]).run_id == first
        assert [s.run_id for s in records.recent()] == [other, second, first]
        assert [s.run_id for s in records.recent(limit=1)] == [other]
        json.dumps(study.to_dict())
        records.add_spent(first, 1.5)
        records.add_spent(first, 2.0)
        assert records.get(first).spent_s == 3.5
        with pytest.raises(ConflictError):
            records.create(first, setup())
        with pytest.raises(NotFoundError):
            records.create(UNKNOWN, setup())
        with pytest.raises(InvalidInputError):
            records.recent(limit=0)

    def test_trials_are_child_runs_listed_by_number(self, store: Store) -> None:
        records = store.studies
        study_id = new_study(store, "ordered")
        # Started out of order, over two turns of the driver.
        records.record(
            study_id, starts=[TrialStart(trial_id(0, n), n, {"x": n}, 2) for n in (2, 0)]
        )
        records.record(study_id, starts=[TrialStart(trial_id(0, 1), 1, {"x": 1}, 2)])
        assert [t.number for t in records.trials(study_id)] == [0, 1, 2]
        assert {t.state for t in records.trials(study_id)} == {"running"}
        child = store.tracking.get_run(trial_id(0, 2))
        assert (child.parent_id, child.name, child.status) == (study_id, "ordered-2", "running")
        assert child.params == {"x": "2"}
        assert child.tags["mlpilot.study"] == study_id
        # Ends and starts of one turn, together.
        records.record(
            study_id,
            ends=[
                TrialEnd(trial_id(0, 0), 0, "complete", [0.5], reports=[(1, 0.25), (3, 0.4)]),
                TrialEnd(trial_id(0, 2), 2, "failed", error="ValueError: bad point"),
            ],
            starts=[TrialStart(trial_id(0, 3), 3, {"x": 3}, 2)],
        )
        trials = records.trials(study_id)
        assert [(t.number, t.state, t.values) for t in trials] == [
            (0, "complete", [0.5]),
            (1, "running", None),
            (2, "failed", None),
            (3, "running", None),
        ]
        assert trials[2].error == "ValueError: bad point"
        assert trials[0].end_ms is not None and trials[0].seconds is not None
        assert store.tracking.get_run(trial_id(0, 0)).status == "finished"
        assert store.tracking.get_run(trial_id(0, 2)).status == "failed"
        history = store.tracking.metric_history(trial_id(0, 0), "value")
        assert [(p.step, p.value) for p in history] == [(1, 0.25), (3, 0.4), (4, 0.5)]
        json.dumps([t.to_dict() for t in trials])
        # A number or run id the study has already is refused, and nothing is written.
        with pytest.raises(ConflictError):
            records.record(study_id, starts=[TrialStart(trial_id(0, 9), 1, {}, 1)])
        with pytest.raises(ConflictError):
            records.record(study_id, starts=[TrialStart(trial_id(0, 1), 9, {}, 1)])
        assert [t.number for t in records.trials(study_id)] == [0, 1, 2, 3]
        # What a stopped driver left running ends as killed.
        left = records.abandon_running(study_id, "the study stopped")
        assert [t.number for t in left] == [1, 3]
        assert [t.state for t in records.trials(study_id)] == [
            "complete",
            "killed",
            "failed",
            "killed",
        ]
        assert records.trials(study_id)[1].error == "the study stopped"
        assert records.abandon_running(study_id, "again") == []

    def test_pruners_read_back_what_trials_report(self, store: Store) -> None:
        records = store.studies
        study_id = new_study(store, "rungs", pruner="asha")
        a, b, c = (trial_id(0, n) for n in range(3))
        records.record(
            study_id, starts=[TrialStart(r, n, {"x": n}, 1) for n, r in enumerate((a, b, c))]
        )
        # Trial a reports at every rung (steps 1, 3, 9); b first reports at step 9, which
        # passes rungs 0, 1 and 2 at once; c stops after rung 0.
        for step, value, rung in ((1, 0.1, 0), (3, 0.3, 1), (9, 0.6, 2)):
            records.report(study_id, a, step, value)
            records.mark_rung(a, step, rung)
        records.report(study_id, b, 9, 0.7)
        for rung in (0, 1, 2):
            records.mark_rung(b, 9, rung)
        records.report(study_id, c, 1, 0.05)
        records.mark_rung(c, 1, 0)
        records.report(study_id, c, 2, 0.5)
        assert sorted(records.rung_values(study_id, 0)) == [0.05, 0.1, 0.7]
        assert sorted(records.rung_values(study_id, 1)) == [0.3, 0.7]
        assert sorted(records.rung_values(study_id, 2)) == [0.6, 0.7]
        assert records.rung_values(study_id, 3) == []
        reports = records.reports(study_id)
        assert reports[a] == {1: 0.1, 3: 0.3, 9: 0.6}
        assert reports[c] == {1: 0.05, 2: 0.5}
        # Only complete trials count for the median rule.
        assert records.finished_count(study_id) == 0
        assert records.finished_values_at(study_id, 1) == []
        records.record(study_id, ends=[TrialEnd(a, 0, "complete", [0.6])])
        records.record(study_id, ends=[TrialEnd(c, 2, "pruned", error="pruned at step 2")])
        assert records.finished_count(study_id) == 1
        assert records.finished_values_at(study_id, 1) == [0.1]
        # A step is reported once.
        with pytest.raises(ConflictError):
            records.report(study_id, a, 9, 0.9)
        assert records.reports(study_id)[a][9] == 0.6

    def test_unknown_studies_and_trials_are_not_found(self, store: Store) -> None:
        records = store.studies
        for ref in (UNKNOWN, "nobody", UNKNOWN[:8]):
            with pytest.raises(NotFoundError):
                records.get(ref)
        with pytest.raises(NotFoundError):
            records.trials(UNKNOWN)
        with pytest.raises(NotFoundError):
            records.reports(UNKNOWN)
        with pytest.raises(NotFoundError):
            records.record(UNKNOWN, starts=[TrialStart(trial_id(0, 0), 0, {}, 1)])
        with pytest.raises(NotFoundError):
            records.add_spent(UNKNOWN, 1.0)
        with pytest.raises(NotFoundError):
            records.abandon_running(UNKNOWN, "gone")
        study_id = new_study(store)
        assert records.trials(study_id) == [] and records.reports(study_id) == {}
        with pytest.raises(NotFoundError):
            records.record(study_id, ends=[TrialEnd(UNKNOWN, 0, "complete", [1.0])])
        with pytest.raises(NotFoundError):
            records.report(study_id, UNKNOWN, 0, 1.0)
        with pytest.raises(NotFoundError):
            records.mark_rung(UNKNOWN, 0, 0)
        # A run that is not a study is not one.
        plain = store.tracking.create_run("tuning")
        with pytest.raises(NotFoundError):
            records.get(plain.id)

    def test_bad_input_is_refused(self, store: Store) -> None:
        records = store.studies
        study_id = new_study(store)
        run_id = trial_id(0, 0)
        records.record(study_id, starts=[TrialStart(run_id, 0, {"x": 0.5}, 1)])
        bad_ends = [
            TrialEnd(run_id, 0, "finished", [1.0]),
            TrialEnd(run_id, 0, "complete", [math.inf]),
            TrialEnd(run_id, 0, "complete", [math.nan]),
            TrialEnd(run_id, 0, "complete", [1.0], reports=[(-1, 0.5)]),
        ]
        for end in bad_ends:
            with pytest.raises(InvalidInputError):
                records.record(study_id, ends=[end])
        for start in (TrialStart(trial_id(0, 1), -1, {}, 1), TrialStart(trial_id(0, 1), 1, {}, -2)):
            with pytest.raises(InvalidInputError):
                records.record(study_id, starts=[start])
        for step, value in ((-1, 0.5), (0, math.inf), (0, math.nan), (0, "high")):
            with pytest.raises(InvalidInputError):
                records.report(study_id, run_id, step, value)  # type: ignore[arg-type]
        with pytest.raises(InvalidInputError):
            records.add_spent(study_id, -1.0)
        with pytest.raises(InvalidInputError):
            records.get("")
        # Nothing of the refused writes was kept.
        assert [(t.state, t.values) for t in records.trials(study_id)] == [("running", None)]
        assert records.reports(study_id) == {}

    def test_two_processes_running_trials_at_once_lose_nothing(self, store: Store) -> None:
        study_id = new_study(store, "raced", pruner="asha")
        outcomes = dict(race(run_trials, [(store.settings, study_id, w) for w in (0, 1)]))
        assert outcomes == {0: None, 1: None}
        records = store.studies
        trials = records.trials(study_id)
        assert [t.number for t in trials] == list(range(2 * TRIALS_PER_WORKER))
        assert {t.state for t in trials} == {"complete"}
        assert [t.values for t in trials] == [[float(t.number)] for t in trials]
        reports = records.reports(study_id)
        assert len(reports) == 2 * TRIALS_PER_WORKER
        for trial in trials:
            worker = int(trial.run_id[:2])
            assert reports[trial.run_id] == {s: float(worker + s) for s in range(STEPS)}
        assert records.finished_count(study_id) == 2 * TRIALS_PER_WORKER
        assert len(records.rung_values(study_id, 0)) == 2 * TRIALS_PER_WORKER
        assert records.get(study_id).spent_s == 2.0 * TRIALS_PER_WORKER
