"""XGBoost, LightGBM and PyTorch models: stored in their native formats, loaded back
without their Python code, predicting as they did, and registered like any other."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris

from mlpilot.errors import ArtifactCorruptedError, InvalidInputError
from mlpilot.evaluate import Scoring, evaluate
from mlpilot.registry import ModelRegistry
from mlpilot.tracking import TrackingClient

xgb = pytest.importorskip("xgboost")
lgb = pytest.importorskip("lightgbm")
torch = pytest.importorskip("torch")


def cancer() -> tuple[pd.DataFrame, pd.Series]:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    return X, y


def iris_named() -> tuple[pd.DataFrame, np.ndarray]:
    """Iris with its species as strings, which boosters cannot take as labels."""
    data = load_iris(as_frame=True)
    return data.data, np.asarray(data.target_names)[data.target]


def logged(client: TrackingClient, model: Any, **options: Any) -> tuple[str, dict[str, Any]]:
    with client.create_run("flavors") as run:
        records = run.log_model(model, **options)
    meta = json.loads(client.read_artifact(run.id, "model/model.json"))
    assert sorted(r.path for r in records) == ["model/model.json", f"model/{meta['file']}"]
    return run.id, meta


@pytest.mark.parametrize("wrapper", ["XGBClassifier", "XGBRegressor"])
def test_xgboost_model_comes_back_as_itself(client: TrackingClient, wrapper: str) -> None:
    X, y = cancer()
    model = getattr(xgb, wrapper)(n_estimators=8, max_depth=3).fit(X, y)

    run_id, meta = logged(client, model)
    loaded = client.load_model(run_id)

    assert (meta["flavor"], meta["format"], meta["file"]) == (
        "xgboost",
        "xgboost-json",
        "model.xgb.json",
    )
    assert "xgboost" in meta["packages"] or "xgboost-cpu" in meta["packages"]
    assert type(loaded) is type(model)
    np.testing.assert_allclose(loaded.predict(X), model.predict(X))
    if wrapper == "XGBClassifier":
        np.testing.assert_allclose(loaded.predict_proba(X), model.predict_proba(X))
        np.testing.assert_array_equal(loaded.classes_, [0, 1])
    assert list(loaded.feature_names_in_) == list(X.columns)


def test_lightgbm_classifier_keeps_its_string_classes(client: TrackingClient) -> None:
    X, y = iris_named()
    model = lgb.LGBMClassifier(n_estimators=10, verbose=-1).fit(X, y)

    run_id, meta = logged(client, model)
    loaded = client.load_model(run_id)

    assert (meta["flavor"], meta["file"], meta["classes"]) == (
        "lightgbm",
        "model.lgb.txt",
        ["setosa", "versicolor", "virginica"],
    )
    assert isinstance(loaded.model, lgb.Booster)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    np.testing.assert_allclose(loaded.predict_proba(X), model.predict_proba(X))
    # Columns are taken by name, in the order the model was fitted on.
    shuffled = X[list(reversed(X.columns))]
    np.testing.assert_array_equal(loaded.predict(shuffled), model.predict(X))


def test_lightgbm_regressor_and_binary_booster(client: TrackingClient) -> None:
    X, y = load_diabetes(return_X_y=True)
    regressor = lgb.LGBMRegressor(n_estimators=10, verbose=-1).fit(X, y)
    loaded = client.load_model(logged(client, regressor)[0])
    assert not hasattr(loaded, "predict_proba")
    np.testing.assert_allclose(loaded.predict(X), regressor.predict(X))

    Xc, yc = cancer()
    booster = lgb.train(
        {"objective": "binary", "verbose": -1}, lgb.Dataset(Xc.to_numpy(), yc), num_boost_round=5
    )
    loaded = client.load_model(logged(client, booster)[0])
    positive = booster.predict(Xc.to_numpy())
    np.testing.assert_allclose(loaded.predict_proba(Xc.to_numpy())[:, 1], positive)
    np.testing.assert_array_equal(loaded.predict(Xc.to_numpy()), (positive > 0.5).astype(int))


def test_multiclass_booster_needs_its_classes(client: TrackingClient) -> None:
    X, y = load_iris(return_X_y=True)
    booster = lgb.train(
        {"objective": "multiclass", "num_class": 3, "verbose": -1},
        lgb.Dataset(X, y),
        num_boost_round=3,
    )
    with client.create_run() as run:
        with pytest.raises(InvalidInputError, match="classes="):
            run.log_model(booster)
        run.log_model(booster, classes=["a", "b", "c"])
    assert set(client.load_model(run.id).predict(X)) <= {"a", "b", "c"}


class Logits(torch.nn.Module):  # type: ignore[misc]
    def __init__(self, width: int, outputs: int) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.layers = torch.nn.Sequential(
            torch.nn.Linear(width, 16), torch.nn.ReLU(), torch.nn.Linear(16, outputs)
        )

    def forward(self, x: Any) -> Any:
        return self.layers(x)


def test_torch_classifier_predicts_its_classes(client: TrackingClient) -> None:
    X, y = iris_named()
    module = Logits(4, 3)

    run_id, meta = logged(client, module, input_example=X.iloc[:8], classes=["a", "b", "c"])
    loaded = client.load_model(run_id)

    assert (meta["flavor"], meta["format"], meta["file"]) == (
        "pytorch",
        "torch-export",
        "model.pt2",
    )
    with torch.no_grad():
        logits = module(torch.from_numpy(X.to_numpy(np.float32, copy=True)))
    proba = loaded.predict_proba(X)  # every row at once: the batch size is not fixed
    np.testing.assert_allclose(proba, torch.softmax(logits, dim=1).numpy(), rtol=1e-5)
    np.testing.assert_array_equal(
        loaded.predict(X), np.array(["a", "b", "c"])[logits.argmax(1).numpy()]
    )
    assert list(loaded.feature_names_in_) == list(X.columns)


def test_torch_regressor_is_evaluated_like_any_model(client: TrackingClient) -> None:
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    module = Logits(X.shape[1], 1)

    loaded = client.load_model(logged(client, module, input_example=X.iloc[:4])[0])

    with torch.no_grad():
        expected = module(torch.from_numpy(X.to_numpy(np.float32, copy=True))).reshape(-1).numpy()
    np.testing.assert_allclose(loaded.predict(X), expected, rtol=1e-5)
    result = evaluate(loaded, X, y, scoring=Scoring("regression"), resamples=50)
    assert set(result.metrics) >= {"rmse", "mae", "r2"}
    with pytest.raises(InvalidInputError, match="lacks 1 column"):
        evaluate(loaded, X.drop(columns="bmi"), y, scoring=Scoring("regression"), resamples=50)


def test_torch_model_needs_an_input_example(client: TrackingClient) -> None:
    with client.create_run() as run:
        with pytest.raises(InvalidInputError, match="input_example"):
            run.log_model(Logits(4, 3))
        with pytest.raises(InvalidInputError, match="at least 2 rows"):
            run.log_model(Logits(4, 3), input_example=np.zeros(4))
    assert client.list_artifacts(run.id) == []


def test_registered_booster_is_loaded_by_alias_and_refused_when_tampered(
    client: TrackingClient,
) -> None:
    X, y = cancer()
    model = xgb.XGBClassifier(n_estimators=5, max_depth=2).fit(X, y)
    run_id, _ = logged(client, model)
    registry = ModelRegistry(client)
    registry.create_model("tumours")
    version = registry.register("tumours", run_id)
    registry.set_alias("tumours", "champion", version.version)

    assert version.flavor == "xgboost/xgboost-json"
    assert version.environment["model_class"] == "xgboost.sklearn.XGBClassifier"
    loaded = registry.load("models:/tumours@champion")
    np.testing.assert_allclose(loaded.predict_proba(X), model.predict_proba(X))

    blob = client.store.artifacts.blob_path(version.digest)
    with open(blob, "r+b") as file:
        file.seek(10)
        file.write(b"#")
    with pytest.raises(ArtifactCorruptedError):
        registry.load("tumours/1")
