"""Models: logged in the skops format, loaded back only when their bytes are intact."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fsspec.core import url_to_fs
from sklearn.datasets import load_breast_cancer, load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import mlpilot
from mlpilot.errors import ArtifactCorruptedError, InvalidInputError
from mlpilot.store import Store
from mlpilot.tracking import TrackingClient


def iris_pipeline() -> tuple[Any, np.ndarray]:
    X, y = load_iris(return_X_y=True)
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(X, y), X


def cancer_forest() -> tuple[Any, np.ndarray]:
    X, y = load_breast_cancer(return_X_y=True)
    return RandomForestClassifier(n_estimators=5, random_state=0).fit(X, y), X


@pytest.mark.parametrize("build", [iris_pipeline, cancer_forest])
def test_logged_model_predicts_the_same(client: TrackingClient, build: Any) -> None:
    model, X = build()

    with client.create_run("models") as run:
        records = run.log_model(model)

    assert sorted(r.path for r in records) == ["model/model.json", "model/model.skops"]
    loaded = client.load_model(run.id)
    assert type(loaded) is type(model)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))


def test_model_loads_in_a_new_client(client: TrackingClient) -> None:
    model, X = iris_pipeline()
    with mlpilot.start_run(client=client) as run:
        mlpilot.log_model(model, name="classifier")

    store = Store(client.settings)
    try:
        loaded = TrackingClient(store).load_model(run.id, name="classifier")
    finally:
        store.close()
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def test_tampered_model_is_not_loaded(client: TrackingClient) -> None:
    model, _ = iris_pipeline()
    with client.create_run() as run:
        run.log_model(model)
    [record] = client.list_artifacts(run.id, "model/model.skops")
    blob = Path(url_to_fs(client.settings.artifacts_uri)[1]) / "sha256" / record.digest[:2]
    data = bytearray((blob / record.digest).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (blob / record.digest).write_bytes(bytes(data))

    with pytest.raises(ArtifactCorruptedError, match="corrupted"):
        client.load_model(run.id)


@pytest.mark.parametrize(
    "model",
    [object(), {"coef": [1, 2]}, len, np.zeros(3)],
    ids=["object", "dict", "function", "array"],
)
def test_only_models_of_an_installed_flavor_are_logged(client: TrackingClient, model: Any) -> None:
    with client.create_run() as run:
        with pytest.raises(InvalidInputError, match=r"scikit-learn .*\(.*sklearn.*\); got"):
            run.log_model(model)

    assert client.list_artifacts(run.id) == []
