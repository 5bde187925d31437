"""The pipeline ``bench/loop.py`` trains, and retrains when its monitor alerts: fit a
scaled logistic regression on the newest version of a dataset, register it with its
data, and promote it through the gate (the champion stays unless it is beaten)."""

from __future__ import annotations

from typing import Any

from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import mlpilot
from mlpilot import pipeline, step
from mlpilot.evaluate import GatePolicy, Scoring
from mlpilot.registry import ModelRegistry, Signature, promote

SCORING = Scoring("classification", {"accuracy": 1.0})
# The new champion must be significantly better where the old one went wrong.
GATE = GatePolicy(min_composite=0.5, min_improvement=0.0, alpha=0.05)
SEED = 0


def split(dataset: str, target: str) -> tuple[Any, Any]:
    return mlpilot.read_dataset(dataset).split(test_size=0.3, seed=SEED, stratify=target)


@step(cache=False)
def newest(dataset: str) -> str:
    return mlpilot.TrackingClient().datasets.get(dataset).ref


@step(cache=False)
def fit_and_promote(version: str, target: str, model: str) -> dict[str, Any]:
    train, test = split(version, target)
    fitted = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(
        train.drop(columns=[target]), train[target]
    )
    client = mlpilot.TrackingClient()
    with client.create_run("loop", name=f"{model} on {version}") as run:
        run.log_model(fitted)
    registry = ModelRegistry(client)
    registry.create_model(model, scoring=SCORING, gate=GATE)
    features = test.drop(columns=[target])
    registered = registry.register(
        model,
        run.id,
        dataset=version,
        signature=Signature.infer(features, fitted.predict(features.head())),
    )
    result = promote(model, registered.version, features, test[target], client=client)
    return {"version": registered.version, "promoted": result.promoted}


@pipeline
def retrain(dataset: str, target: str, model: str) -> Any:
    return fit_and_promote(newest(dataset), target, model)
