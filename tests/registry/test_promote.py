"""Promotion through the gate, overrides, rollback, and aliases that never point at a
model whose file is gone. See this package's docstring for the three models."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from mlpilot.errors import ArtifactCorruptedError, ConflictError, InvalidInputError, NotFoundError
from mlpilot.evaluate import GatePolicy
from mlpilot.registry import ModelRegistry, Signature, promote
from mlpilot.store import Event
from mlpilot.tracking import TrackingClient

from . import blob_file, fitted, log, split

#: Few resamples keep the tests quick; the differences they test are far from the line.
RESAMPLES = 300


@pytest.fixture
def registry(client: TrackingClient) -> ModelRegistry:
    """Model ``cancer`` (scored by accuracy, promoted from 0.5 up) with three versions:
    1 the dummy, 2 the logistic regression with C=10, 3 the one with C=1."""
    registry = ModelRegistry(client)
    registry.create_model("cancer", gate=GatePolicy(min_composite=0.5, alpha=0.05))
    X_train, *_ = split()
    for kind in ("dummy", "lr10", "lr1"):
        signature = Signature.infer(X_train, fitted(kind).predict(X_train))
        registry.register("cancer", log(client, kind), signature=signature)
    return registry


def to(registry: ModelRegistry, version: Any, **options: Any) -> Any:
    """Try to promote ``version`` of ``cancer`` on the test rows."""
    _, X_test, _, y_test = split()
    return promote(
        "cancer", version, X_test, y_test, resamples=RESAMPLES, client=registry.client, **options
    )


def champion(registry: ModelRegistry) -> int | None:
    return registry.get_model("cancer").aliases.get("champion")


def events_of_kind(client: TrackingClient, kind: str) -> list[Event]:
    return [e for e in client.store.events.read(kind) if e.kind == kind]


def test_a_first_version_passes_on_its_composite_alone(registry: ModelRegistry) -> None:
    found = to(registry, 1)

    assert found.promoted and not found.overridden
    assert (found.version, found.previous, found.comparison) == (1, None, None)
    assert found.evaluation.composite.value == pytest.approx(143 / 228)
    assert [c.name for c in found.decision.checks] == ["min_composite"]
    assert champion(registry) == 1
    [move] = registry.moves("cancer")
    assert (move.kind, move.version, move.previous, move.actor) == ("promote", 1, None, "tester")


def test_a_first_version_below_the_minimum_is_refused(
    client: TrackingClient, registry: ModelRegistry
) -> None:
    registry.update_model("cancer", gate=GatePolicy(min_composite=0.9))

    found = to(registry, 1)

    assert not found.promoted
    assert champion(registry) is None
    assert registry.moves("cancer") == []
    [refused] = events_of_kind(client, "model.promotion_refused")
    assert refused.payload["version"] == 1 and refused.payload["champion"] is None
    assert "min_composite" in refused.payload["reason"]
    [decision] = registry.records.decisions("cancer")
    assert (decision.outcome, decision.version, decision.champion) == ("refuse", 1, None)
    assert decision.checks == [dataclasses.asdict(c) for c in found.decision.checks]


def test_a_clearly_better_challenger_is_promoted(
    client: TrackingClient, registry: ModelRegistry
) -> None:
    to(registry, 1)

    found = to(registry, "2")

    assert found.promoted and found.decision.passed
    assert found.comparison is not None
    assert found.comparison.composite.value == pytest.approx((218 - 143) / 228)
    assert found.comparison.composite.p_value < 0.05
    assert champion(registry) == 2
    move = registry.moves("cancer", "champion")[-1]
    assert (move.kind, move.version, move.previous, move.actor) == ("promote", 2, 1, "tester")
    assert move.reason == found.decision.summary()
    assert move.decision is not None and move.decision["passed"] is True
    numbers = move.decision["comparison"]["composite"]
    assert numbers["value"] == pytest.approx(found.comparison.composite.value)
    assert numbers["p_value"] == pytest.approx(found.comparison.composite.p_value)
    assert move.decision["evaluation"]["composite"]["value"] == pytest.approx(218 / 228)
    assert move.decision["comparison"]["mcnemar"]["challenger_only"] > 0
    assert [e.payload["version"] for e in events_of_kind(client, "model.alias_promote")] == [1, 2]


def test_a_challenger_better_by_noise_alone_is_not_promoted(
    client: TrackingClient, registry: ModelRegistry
) -> None:
    to(registry, 1)
    to(registry, 2)
    moves_before = registry.moves("cancer")

    found = to(registry, "models:/cancer/3")

    assert found.comparison is not None
    assert found.comparison.composite.value == pytest.approx(2 / 228)  # better on these rows
    assert found.comparison.composite.p_value > 0.05  # but not significantly
    assert not found.promoted and not found.decision.passed
    assert champion(registry) == 2
    assert registry.moves("cancer") == moves_before
    [refused] = events_of_kind(client, "model.promotion_refused")
    assert (refused.object_id, refused.actor) == ("cancer", "tester")
    assert refused.payload["version"] == 3 and refused.payload["champion"] == 2
    assert "did not pass the gate" in refused.payload["reason"]


def test_an_override_moves_the_alias_and_records_that_the_gate_said_no(
    registry: ModelRegistry,
) -> None:
    to(registry, 1)
    to(registry, 2)
    blank = to(registry, 3, override_reason="   ")
    assert not blank.promoted and champion(registry) == 2  # an override says why

    found = to(registry, 3, override_reason="the C=1 model is better calibrated")

    assert found.promoted and found.overridden and not found.decision.passed
    assert champion(registry) == 3
    move = registry.moves("cancer")[-1]
    assert (move.kind, move.version, move.previous) == ("override", 3, 2)
    assert move.reason == "the C=1 model is better calibrated"
    assert move.decision is not None and move.decision["passed"] is False
    outcomes = [(d.outcome, d.version) for d in registry.records.decisions("cancer")]
    assert outcomes == [("promote", 1), ("promote", 2), ("refuse", 3), ("override", 3)]


def test_promote_refuses_a_version_that_is_not_one_of_the_models(
    client: TrackingClient, registry: ModelRegistry
) -> None:
    registry.create_model("other")
    registry.register("other", log(client, "lr1"))

    with pytest.raises(InvalidInputError, match="version of model 'other', not of 'cancer'"):
        to(registry, "other/1")
    with pytest.raises(NotFoundError, match="no version 7"):
        to(registry, 7)
    with pytest.raises(NotFoundError, match="no model named 'absent'"):
        promote("absent", 1, *split()[1::2], client=registry.client)
    assert champion(registry) is None
    assert registry.get_model("other").aliases == {}


def test_promote_refuses_the_version_that_holds_the_alias(registry: ModelRegistry) -> None:
    to(registry, 1)

    with pytest.raises(InvalidInputError, match="version 1 is cancer@champion already"):
        to(registry, 1)
    assert len(registry.moves("cancer")) == 1


def test_promote_refuses_data_that_does_not_match_the_signature(registry: ModelRegistry) -> None:
    to(registry, 1)
    _, X_test, _, y_test = split()

    with pytest.raises(InvalidInputError, match="lacks column.*mean radius"):
        promote("cancer", 2, X_test.drop(columns="mean radius"), y_test, client=registry.client)
    words = X_test.assign(**{"mean radius": X_test["mean radius"].map("{:.1f}".format)})
    with pytest.raises(InvalidInputError, match="'mean radius' holds string values"):
        promote("cancer", 2, words, y_test, client=registry.client)
    assert champion(registry) == 1


def test_promotion_to_another_alias_leaves_the_champion(registry: ModelRegistry) -> None:
    to(registry, 2)

    found = to(registry, 3, alias="staging")

    assert found.promoted and found.previous is None
    assert registry.get_model("cancer").aliases == {"champion": 2, "staging": 3}


def test_rollback_goes_back_one_promotion_at_a_time(registry: ModelRegistry) -> None:
    to(registry, 1)
    to(registry, 2)
    to(registry, 3, override_reason="needed for the demo")

    back = registry.rollback("cancer", reason="complaints about v3")

    assert (back.kind, back.version, back.previous) == ("rollback", 2, 3)
    assert (back.reason, back.actor) == ("complaints about v3", "tester")
    assert champion(registry) == 2
    again = registry.rollback("cancer", reason="v2 too")
    assert (again.version, again.previous) == (1, 2)
    assert champion(registry) == 1
    with pytest.raises(ConflictError, match=r"cancer@champion \(version 1\) has no previous"):
        registry.rollback("cancer", reason="and v1")
    assert champion(registry) == 1
    kinds = [(m.kind, m.version) for m in registry.moves("cancer", "champion")]
    assert kinds == [
        ("promote", 1),
        ("promote", 2),
        ("override", 3),
        ("rollback", 2),
        ("rollback", 1),
    ]


def test_rollback_after_a_new_promotion_returns_to_the_version_it_replaced(
    registry: ModelRegistry,
) -> None:
    to(registry, 1)
    to(registry, 3)
    registry.rollback("cancer", reason="v3 misbehaves")
    to(registry, 2)

    back = registry.rollback("cancer", reason="v2 misbehaves")

    assert (back.version, back.previous) == (1, 2)


def test_rollback_refuses_without_a_reason_or_an_alias(registry: ModelRegistry) -> None:
    to(registry, 1)
    to(registry, 2)

    for reason in ("", "  "):
        with pytest.raises(InvalidInputError, match="say why"):
            registry.rollback("cancer", reason=reason)
    with pytest.raises(NotFoundError, match="no alias 'staging'"):
        registry.rollback("cancer", reason="x", alias="staging")
    with pytest.raises(NotFoundError, match="no model named 'absent'"):
        registry.rollback("absent", reason="x")
    assert champion(registry) == 2
    assert len(registry.moves("cancer")) == 2


def test_an_alias_never_points_at_a_missing_model_file(
    client: TrackingClient, registry: ModelRegistry
) -> None:
    to(registry, 1)
    lost = registry.get_version("cancer", 2)
    client.store.artifacts.delete(lost.digest)

    with pytest.raises(ConflictError, match="lost its model file"):
        registry.set_alias("cancer", "champion", 2)
    with pytest.raises((ConflictError, NotFoundError)):
        to(registry, 2)
    assert champion(registry) == 1
    assert len(registry.moves("cancer")) == 1


def test_rollback_to_a_version_whose_file_is_gone_is_refused(
    client: TrackingClient, registry: ModelRegistry
) -> None:
    to(registry, 1)
    to(registry, 2)
    client.store.artifacts.delete(registry.get_version("cancer", 1).digest)

    with pytest.raises(ConflictError, match="lost its model file"):
        registry.rollback("cancer", reason="v2 misbehaves")
    assert champion(registry) == 2


def test_a_tampered_challenger_is_not_promoted(
    client: TrackingClient, registry: ModelRegistry
) -> None:
    to(registry, 1)
    path = blob_file(client, registry.get_version("cancer", 2).digest)
    data = bytearray(path.read_bytes())
    data[len(data) // 3] ^= 0x01
    path.write_bytes(bytes(data))

    with pytest.raises(ArtifactCorruptedError):
        to(registry, 2)
    assert champion(registry) == 1


def test_a_tampered_champion_stops_a_promotion(
    client: TrackingClient, registry: ModelRegistry
) -> None:
    """The champion is scored again against each challenger: its file is checked too."""
    to(registry, 1)
    path = blob_file(client, registry.get_version("cancer", 1).digest)
    path.write_bytes(path.read_bytes()[:-10])

    with pytest.raises(ArtifactCorruptedError):
        to(registry, 2)
    assert champion(registry) == 1
