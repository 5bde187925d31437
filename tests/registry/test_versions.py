"""Models and their versions: declared once, registered with lineage, found by URI, and
loaded only when their bytes are the ones registered."""

from __future__ import annotations

import platform

import numpy as np
import pytest
import sklearn
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from mlpilot.errors import ArtifactCorruptedError, ConflictError, InvalidInputError, NotFoundError
from mlpilot.evaluate import Evaluation, GatePolicy, Scoring, evaluate
from mlpilot.registry import ModelRegistry, Signature
from mlpilot.store import Store
from mlpilot.tracking import TrackingClient

from . import blob_file, fitted, log, split


@pytest.fixture
def registry(client: TrackingClient) -> ModelRegistry:
    return ModelRegistry(client)


SCORING = Scoring(weights={"accuracy": 0.5, "recall": 0.5})
GATE = GatePolicy(min_composite=0.8, guards={"recall": 0.02})


def test_create_model_is_idempotent_with_the_same_declaration(registry: ModelRegistry) -> None:
    first = registry.create_model("cancer", scoring=SCORING, gate=GATE, description="tumours")
    again = registry.create_model("cancer", scoring=SCORING, gate=GATE)

    assert again == first
    assert (again.scoring, again.gate, again.description) == (SCORING, GATE, "tumours")
    assert (again.aliases, again.latest_version) == ({}, None)
    assert [m.name for m in registry.list_models()] == ["cancer"]


def test_create_model_refuses_another_declaration(registry: ModelRegistry) -> None:
    registry.create_model("cancer", scoring=SCORING, gate=GATE)

    for other in (
        {"scoring": Scoring(weights={"accuracy": 1.0})},
        {"gate": GatePolicy(min_composite=0.9, guards={"recall": 0.02})},
        {"exist_ok": False},
    ):
        with pytest.raises(ConflictError, match="'cancer' exists"):
            registry.create_model("cancer", **{"scoring": SCORING, "gate": GATE, **other})
    assert registry.get_model("cancer").gate == GATE


def test_register_records_lineage(client: TrackingClient, registry: ModelRegistry) -> None:
    X_train, X_test, y_train, y_test = split()
    data = client.datasets.register("cancer-train", X_train.assign(target=y_train))
    model = fitted("lr10")
    evaluation = evaluate(model, X_test, y_test, scoring=SCORING, resamples=50, data="test rows")
    signature = Signature.infer(X_train, model.predict(X_train))
    run_id = log(client, "lr10", C=10)
    registry.create_model("cancer", scoring=SCORING)

    version = registry.register(
        "cancer",
        run_id,
        dataset=data.ref,
        evaluation=evaluation,
        signature=signature,
        seeds={"split": 0},
    )

    assert (version.model, version.version, version.uri) == ("cancer", 1, "models:/cancer/1")
    assert version.run_id == run_id
    assert version.dataset == "cancer-train@v1"
    [record] = client.list_artifacts(run_id, "model/model.skops")
    assert version.digest == record.digest
    assert version.flavor == "sklearn/skops"
    assert version.created_by == "tester"
    assert version.aliases == []
    assert version.evaluation == evaluation
    assert Evaluation.from_dict(evaluation.to_dict()) == evaluation
    assert version.signature == signature
    assert [c.name for c in signature.inputs] == list(X_train.columns)
    environment = version.environment
    assert environment["python"] == platform.python_version()
    assert environment["packages"]["scikit-learn"] == sklearn.__version__
    assert environment["packages"]["numpy"] == np.__version__
    assert environment["model_class"] == "sklearn.pipeline.Pipeline"
    assert environment["seeds"] == {"split": 0}
    assert registry.get_version("cancer", 1) == version


def test_a_version_reads_back_the_same_from_a_new_store(
    client: TrackingClient, registry: ModelRegistry
) -> None:
    _, X_test, _, y_test = split()
    evaluation = evaluate(fitted("lr1"), X_test, y_test, resamples=50)
    registry.create_model("cancer")
    version = registry.register("cancer", log(client, "lr1"), evaluation=evaluation)

    store = Store(client.settings)
    try:
        again = ModelRegistry(TrackingClient(store)).get_version("cancer", 1)
    finally:
        store.close()
    assert again == version
    assert again.evaluation == evaluation


def test_register_refuses_what_does_not_exist(
    client: TrackingClient, registry: ModelRegistry
) -> None:
    registry.create_model("cancer")
    run_id = log(client, "lr1")
    with client.create_run("registry", name="no-model") as empty:
        empty.log_param("kind", "none")

    with pytest.raises(NotFoundError, match="no dataset named 'nowhere'"):
        registry.register("cancer", run_id, dataset="nowhere@v1")
    with pytest.raises(NotFoundError, match="log it with run.log_model"):
        registry.register("cancer", empty.id)
    with pytest.raises(NotFoundError, match="no model named 'absent'"):
        registry.register("absent", run_id)
    assert registry.versions("cancer") == []


def test_a_dataset_named_without_a_version_is_recorded_as_the_version_it_meant(
    client: TrackingClient, registry: ModelRegistry
) -> None:
    X_train, *_ = split()
    client.datasets.register("cancer-train", X_train)
    client.datasets.register("cancer-train", X_train.head(100))
    registry.create_model("cancer")

    version = registry.register("cancer", log(client, "lr1"), dataset="cancer-train")

    assert version.dataset == "cancer-train@v2"


@pytest.fixture
def two_versions(client: TrackingClient, registry: ModelRegistry) -> ModelRegistry:
    registry.create_model("cancer")
    registry.register("cancer", log(client, "lr10"))
    registry.register("cancer", log(client, "lr1"))
    registry.set_alias("cancer", "champion", 1)
    registry.set_alias("cancer", "challenger", 2)
    return registry


def test_resolve(two_versions: ModelRegistry) -> None:
    for uri, version in [
        ("models:/cancer@champion", 1),
        ("cancer@champion", 1),
        ("models:/cancer@challenger", 2),
        ("cancer/2", 2),
        ("models:/cancer/2", 2),
        ("  cancer/1 ", 1),
    ]:
        found = two_versions.resolve(uri)
        assert (found.model, found.version) == ("cancer", version), uri


def test_resolve_names_the_aliases_of_an_unknown_one(two_versions: ModelRegistry) -> None:
    message = "no alias 'staging'; its aliases: challenger, champion"
    with pytest.raises(NotFoundError, match=message):
        two_versions.resolve("models:/cancer@staging")


def test_resolve_refuses_a_malformed_uri(two_versions: ModelRegistry) -> None:
    for uri in ("models:/", "cancer", "cancer/2/1", "cancer/two", "cancer@", "@champion", "x:/y/1"):
        with pytest.raises(InvalidInputError, match="NAME@ALIAS or NAME/VERSION"):
            two_versions.resolve(uri)


def test_resolve_an_unknown_model_or_version(two_versions: ModelRegistry) -> None:
    for uri, message in [
        ("models:/absent/1", "no model named 'absent'"),
        ("absent@champion", "no model named 'absent'"),
        ("cancer/3", "'cancer' has no version 3"),
    ]:
        with pytest.raises(NotFoundError, match=message):
            two_versions.resolve(uri)


def test_load_gives_a_model_that_predicts_as_the_original(two_versions: ModelRegistry) -> None:
    _, X_test, _, _ = split()

    loaded = two_versions.load("models:/cancer@challenger")

    np.testing.assert_array_equal(loaded.predict(X_test), fitted("lr1").predict(X_test))
    np.testing.assert_array_equal(loaded.predict_proba(X_test), fitted("lr1").predict_proba(X_test))
    by_record = two_versions.load(two_versions.get_version("cancer", 1))
    np.testing.assert_array_equal(by_record.predict(X_test), fitted("lr10").predict(X_test))


def test_a_tampered_model_is_not_loaded(
    client: TrackingClient, two_versions: ModelRegistry
) -> None:
    version = two_versions.get_version("cancer", 1)
    path = blob_file(client, version.digest)
    data = bytearray(path.read_bytes())
    for at in range(len(data) // 2, len(data) // 2 + 8):
        data[at] ^= 0xFF
    path.write_bytes(bytes(data))

    with pytest.raises(ArtifactCorruptedError, match=version.digest):
        two_versions.load("cancer@champion")
    with pytest.raises(ArtifactCorruptedError):
        two_versions.check_loadable("cancer/1")
    assert two_versions.get_model("cancer").aliases == {"champion": 1, "challenger": 2}


def test_set_alias_records_the_move(two_versions: ModelRegistry) -> None:
    move = two_versions.set_alias("cancer", "champion", 2, reason="checked by hand")

    assert (move.alias, move.version, move.previous, move.kind) == ("champion", 2, 1, "set")
    assert (move.actor, move.reason) == ("tester", "checked by hand")
    assert two_versions.get_version("cancer", 2).aliases == ["challenger", "champion"]
    assert two_versions.get_version("cancer", 1).aliases == []
    history = two_versions.moves("cancer", "champion")
    assert [(m.version, m.previous) for m in history] == [(1, None), (2, 1)]
    assert [m.alias for m in two_versions.moves("cancer")] == ["champion", "challenger", "champion"]


def test_set_alias_to_an_unknown_version(two_versions: ModelRegistry) -> None:
    with pytest.raises(NotFoundError, match="no version 9"):
        two_versions.set_alias("cancer", "champion", 9)
    assert two_versions.get_model("cancer").aliases["champion"] == 1


def test_a_model_of_another_kind_registers_and_loads(
    client: TrackingClient, registry: ModelRegistry
) -> None:
    X, y = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=500).fit(X, y)
    with client.create_run("registry", name="iris") as run:
        client.log_model(run.id, model, name="classifier")
    registry.create_model("iris")

    version = registry.register("iris", run.id, artifact="classifier")

    assert version.artifact == "classifier"
    np.testing.assert_array_equal(registry.load("iris/1").predict(X), model.predict(X))
