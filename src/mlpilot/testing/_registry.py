"""The contract of :class:`~mlpilot.store.base.RegistryRecords`, as pytest tests.

An implementation proves itself by subclassing :class:`RegistryRecordsContract` in a
test module that provides a ``store`` fixture (a fresh, empty
:class:`~mlpilot.store.Store` whose ``registry`` is the implementation)::

    class TestMyRegistryRecords(RegistryRecordsContract):
        pass
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

import pytest

from mlpilot.config import Settings
from mlpilot.errors import ConflictError, InvalidInputError, NotFoundError
from mlpilot.store._store import Store
from mlpilot.store.base._registry import RegistryRecords, VersionRecord
from mlpilot.testing._processes import race

#: Versions each of two processes registers in the concurrency test.
REGISTRATIONS = 30
SCORING = {"task": "classification", "weights": {"accuracy": 1.0}}
GATE = {"min_composite": 0.5, "min_improvement": 0.0, "alpha": 0.05, "guards": {}}
PASSED = {"passed": True, "checks": [{"name": "min_composite", "passed": True, "detail": "ok"}]}
FAILED = {"passed": False, "checks": [{"name": "improvement", "passed": False, "detail": "no"}]}


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def add_version(
    records: RegistryRecords, run_id: str, model: str = "churn", **fields: Any
) -> VersionRecord:
    """Register a version of ``model`` from ``run_id`` with defaults for the rest."""
    values: dict[str, Any] = {
        "artifact": "model",
        "digest": digest(run_id),
        "flavor": "sklearn/skops",
        "environment": {"python": "3.12"},
    }
    return records.add_version(model, run_id=run_id, **(values | fields))


def register_versions(settings: Settings, worker: int, barrier: Any, results: Any) -> None:
    """Declare model ``churn`` and register ``REGISTRATIONS`` versions of it; report
    ``(worker, numbers, error or None)``."""
    store = Store(settings)
    numbers: list[int] = []
    try:
        run_id = store.tracking.create_run("registry", f"worker {worker}").id
        barrier.wait(timeout=120)
        store.registry.create_model("churn", scoring=SCORING, gate=GATE)
        for _ in range(REGISTRATIONS):
            numbers.append(add_version(store.registry, run_id).version)
        results.put((worker, numbers, None))
    except Exception as exc:  # reported to the parent, which fails the test with it
        results.put((worker, numbers, f"{type(exc).__name__}: {exc}"))
    finally:
        store.close()


class RegistryRecordsContract:
    """Tests every :class:`~mlpilot.store.base.RegistryRecords` passes."""

    @pytest.fixture
    def records(self, store: Store) -> RegistryRecords:
        """The registry with model ``churn`` declared."""
        store.registry.create_model("churn", scoring=SCORING, gate=GATE, description="who leaves")
        return store.registry

    @pytest.fixture
    def run_id(self, store: Store) -> str:
        return store.tracking.create_run("registry", "train").id

    # -- models ------------------------------------------------------------------------

    def test_create_model_is_idempotent_and_refuses_another_declaration(
        self, store: Store, records: RegistryRecords
    ) -> None:
        again = records.create_model("churn", scoring=SCORING, gate=GATE)

        assert again == records.get_model("churn")
        assert (again.description, again.scoring, again.gate) == ("who leaves", SCORING, GATE)
        assert (again.aliases, again.latest_version) == ({}, None)
        other = SCORING | {"weights": {"recall": 1.0}}
        with pytest.raises(ConflictError, match="'churn' exists"):
            records.create_model("churn", scoring=other, gate=GATE)
        with pytest.raises(ConflictError, match="'churn' exists"):
            records.create_model("churn", scoring=SCORING, gate=GATE, exist_ok=False)
        assert [e.kind for e in store.events.read("model.")] == ["model.created"]

    def test_models_are_listed_by_name_and_updated(self, records: RegistryRecords) -> None:
        records.create_model("attrition", scoring=SCORING, gate=GATE)

        updated = records.update_model("churn", gate=GATE | {"alpha": 0.01})

        assert updated.gate["alpha"] == 0.01 and updated.scoring == SCORING
        assert [m.name for m in records.list_models()] == ["attrition", "churn"]
        assert json.loads(json.dumps(updated.to_dict())) == updated.to_dict()

    # -- versions ----------------------------------------------------------------------

    def test_versions_are_numbered_from_one_and_read_back(
        self, store: Store, records: RegistryRecords, run_id: str
    ) -> None:
        evaluation = {"rows": 10, "composite": {"value": 0.75}}
        first = add_version(records, run_id, dataset="churn-data@v1", evaluation=evaluation)
        second = add_version(records, run_id, signature={"inputs": [], "output": "int"})
        records.create_model("attrition", scoring=SCORING, gate=GATE)
        other = add_version(records, run_id, "attrition")

        assert [first.version, second.version, other.version] == [1, 2, 1]
        assert first == records.get_version("churn", 1)
        assert (first.run_id, first.dataset, first.evaluation) == (
            run_id,
            "churn-data@v1",
            evaluation,
        )
        assert (first.created_by, first.aliases, first.uri) == ("tester", [], "models:/churn/1")
        assert records.versions("churn") == [first, second]
        assert records.get_model("churn").latest_version == 2
        assert json.loads(json.dumps(second.to_dict())) == second.to_dict()
        registered = [e.payload["version"] for e in store.events.read("model.version_registered")]
        assert registered == [1, 2, 1]

    def test_two_processes_registering_at_once_number_every_version_once(
        self, store: Store
    ) -> None:
        reports = sorted(race(register_versions, [(store.settings, worker) for worker in range(2)]))

        assert [(worker, error) for worker, _, error in reports] == [(0, None), (1, None)]
        numbers = sorted(n for _, found, _ in reports for n in found)
        assert numbers == list(range(1, 2 * REGISTRATIONS + 1))
        for _, found, _ in reports:
            assert found == sorted(found)
        assert [v.version for v in store.registry.versions("churn")] == numbers

    # -- aliases -----------------------------------------------------------------------

    def test_alias_moves_are_recorded_oldest_first(
        self, store: Store, records: RegistryRecords, run_id: str
    ) -> None:
        for _ in range(3):
            add_version(records, run_id)

        first = records.move_alias("churn", "champion", 1)
        records.move_alias("churn", "staging", 3, reason="try it")
        records.move_alias("churn", "champion", 2, reason="better")
        back = records.move_alias(
            "churn", "champion", 1, kind="rollback", reason="broke", actor="bot"
        )

        assert (first.previous, first.kind, first.actor, first.decision) == (
            None,
            "set",
            "tester",
            None,
        )
        assert (back.version, back.previous, back.kind, back.actor) == (1, 2, "rollback", "bot")
        champion = records.moves("churn", "champion")
        assert [(m.version, m.previous) for m in champion] == [(1, None), (2, 1), (1, 2)]
        assert champion[-1] == back
        assert [m.alias for m in records.moves("churn")] == [
            "champion",
            "staging",
            "champion",
            "champion",
        ]
        assert records.get_model("churn").aliases == {"champion": 1, "staging": 3}
        assert [v.aliases for v in records.versions("churn")] == [["champion"], [], ["staging"]]
        assert json.loads(json.dumps(back.to_dict())) == back.to_dict()
        kinds = [e.kind for e in store.events.read("model.alias")]
        assert kinds == ["model.alias_set"] * 3 + ["model.alias_rollback"]

    def test_a_decision_moves_the_alias_only_if_it_promotes(
        self, records: RegistryRecords, run_id: str
    ) -> None:
        for _ in range(3):
            add_version(records, run_id)

        first = records.record_decision(
            "churn", "champion", 1, champion=None, outcome="promote", reason="ok", decision=PASSED
        )
        refused = records.record_decision(
            "churn", "champion", 2, champion=1, outcome="refuse", reason="no", decision=FAILED
        )
        evidence = FAILED | {"comparison": {"composite": {"value": -0.01}}}
        forced = records.record_decision(
            "churn", "champion", 3, champion=1, outcome="override", reason="demo", decision=evidence
        )

        assert (first.promoted, refused.promoted, forced.promoted) == (True, False, True)
        assert (forced.passed, forced.checks, forced.champion) == (False, FAILED["checks"], 1)
        assert records.get_model("churn").aliases == {"champion": 3}
        moves = records.moves("churn")
        assert [(m.kind, m.version, m.previous) for m in moves] == [
            ("promote", 1, None),
            ("override", 3, 1),
        ]
        assert moves[-1].decision == evidence and moves[-1].reason == "demo"
        found = records.decisions("churn")
        assert [(d.outcome, d.version, d.champion, d.passed) for d in found] == [
            ("promote", 1, None, True),
            ("refuse", 2, 1, False),
            ("override", 3, 1, False),
        ]
        assert [d.reason for d in found] == ["ok", "no", "demo"]
        assert found[1].checks == FAILED["checks"] and found[1].actor == "tester"
        assert records.decisions("churn", "staging") == []
        assert json.loads(json.dumps(refused.to_dict())) == refused.to_dict()

    def test_a_decision_against_a_champion_that_moved_since_is_refused(
        self, records: RegistryRecords, run_id: str
    ) -> None:
        for _ in range(3):
            add_version(records, run_id)
        records.move_alias("churn", "champion", 1)
        records.move_alias("churn", "champion", 2)

        with pytest.raises(ConflictError, match="moved to version 2"):
            records.record_decision(
                "churn", "champion", 3, champion=1, outcome="promote", reason="", decision=PASSED
            )
        with pytest.raises(ConflictError):
            records.record_decision(
                "churn", "champion", 3, champion=None, outcome="refuse", reason="", decision=FAILED
            )
        assert records.get_model("churn").aliases == {"champion": 2}
        assert len(records.moves("churn")) == 2 and records.decisions("churn") == []

    def test_a_decision_must_agree_with_its_outcome(
        self, records: RegistryRecords, run_id: str
    ) -> None:
        add_version(records, run_id)
        cases: list[tuple[str, str, dict[str, Any], str]] = [
            ("promote", "ok", FAILED, "failed cannot be recorded as 'promote'"),
            ("refuse", "no", PASSED, "passed cannot be recorded as 'refuse'"),
            ("override", "  ", FAILED, "override of the gate needs a reason"),
            ("maybe", "x", PASSED, "unknown outcome 'maybe'"),
            ("promote", "ok", {"checks": []}, '"passed"'),
            ("promote", "ok", PASSED | {"p": float("nan")}, "finite numbers"),
        ]
        for outcome, reason, decision, message in cases:
            with pytest.raises(InvalidInputError, match=message):
                records.record_decision(
                    "churn",
                    "champion",
                    1,
                    champion=None,
                    outcome=outcome,
                    reason=reason,
                    decision=decision,
                )
        assert records.decisions("churn") == [] and records.moves("churn") == []

    # -- errors ------------------------------------------------------------------------

    def test_unknown_models_and_versions_are_not_found(
        self, records: RegistryRecords, run_id: str
    ) -> None:
        add_version(records, run_id)
        calls: list[Callable[[], object]] = [
            lambda: records.get_model("absent"),
            lambda: records.update_model("absent", gate=GATE),
            lambda: records.versions("absent"),
            lambda: records.get_version("absent", 1),
            lambda: records.get_version("churn", 2),
            lambda: add_version(records, run_id, "absent"),
            lambda: add_version(records, "0" * 32),
            lambda: records.move_alias("absent", "champion", 1),
            lambda: records.move_alias("churn", "champion", 2),
            lambda: records.moves("absent"),
            lambda: records.decisions("absent"),
            lambda: records.record_decision(
                "churn", "champion", 2, champion=None, outcome="refuse", reason="", decision=FAILED
            ),
        ]
        for call in calls:
            with pytest.raises(NotFoundError):
                call()
        assert [v.version for v in records.versions("churn")] == [1]
        assert records.moves("churn") == []

    def test_bad_input_is_refused(self, records: RegistryRecords, run_id: str) -> None:
        for name in ("", " churn", "a/b", "a@b", "x" * 251, "tab\tname", 7):
            with pytest.raises(InvalidInputError):
                records.create_model(name, scoring=SCORING, gate=GATE)  # type: ignore[arg-type]
        with pytest.raises(InvalidInputError):
            records.create_model("new", scoring={"weights": float("inf")}, gate=GATE)
        with pytest.raises(InvalidInputError):
            records.create_model("new", scoring=[], gate=GATE)  # type: ignore[arg-type]
        bad_versions: list[dict[str, Any]] = [
            {"digest": "f" * 63},
            {"digest": "G" * 64},
            {"flavor": ""},
            {"artifact": ""},
            {"dataset": " spaced"},
            {"environment": {"seed": float("nan")}},
            {"evaluation": {"rows": object()}},
        ]
        for fields in bad_versions:
            with pytest.raises(InvalidInputError):
                add_version(records, run_id, **fields)
        add_version(records, run_id)
        for alias, version in (("", 1), ("champion", 0), ("champion", "1"), ("champion", True)):
            with pytest.raises(InvalidInputError):
                records.move_alias("churn", alias, version)  # type: ignore[arg-type]
        with pytest.raises(InvalidInputError, match="'set' or 'rollback'"):
            records.move_alias("churn", "champion", 1, kind="promote")
        assert [m.name for m in records.list_models()] == ["churn"]
        assert [v.version for v in records.versions("churn")] == [1]
        assert records.moves("churn") == []
