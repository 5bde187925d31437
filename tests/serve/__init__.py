"""Tests of mlpilot.serve, and the models they serve.

Every model is a logistic regression on scikit-learn's breast cancer data (all 569 rows,
30 number columns): ``C=1`` and ``C=0.01`` disagree on 21 rows and their class
probabilities differ on every row, so an answer tells which version gave it.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from mlpilot.registry import ModelRegistry, Signature, VersionRecord
from mlpilot.tracking import TrackingClient

#: The C of each version the tests register, by the role they give it.
STRONG, WEAK = 1.0, 0.01


@functools.cache
def data() -> tuple[pd.DataFrame, pd.Series]:
    """Features and target."""
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    return X, y


@functools.cache
def fitted(C: float) -> Pipeline:
    """A scaled logistic regression with inverse regularisation ``C``."""
    X, y = data()
    return make_pipeline(StandardScaler(), LogisticRegression(C=C)).fit(X, y)


def register(
    client: TrackingClient, name: str, C: float, *, alias: str | None = None
) -> VersionRecord:
    """Log the model with ``C`` in a new run and register it as the next version of
    ``name`` (created if need be), with its signature; ``alias`` points at it."""
    registry = ModelRegistry(client)
    registry.create_model(name)
    model = fitted(C)
    X, _ = data()
    with client.create_run("serve", name=f"C={C}", params={"C": C}) as run:
        client.log_model(run.id, model)
    version = registry.register(name, run.id, signature=Signature.infer(X, model.predict(X)))
    if alias is not None:
        registry.set_alias(name, alias, version.version)
    return version


def rows(index: int | list[int] | range) -> pd.DataFrame:
    """Rows of the features by position."""
    X, _ = data()
    return X.iloc[[index] if isinstance(index, int) else list(index)]


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """``frame`` as JSON records."""
    return [{str(k): float(v) for k, v in row.items()} for row in frame.to_dict("records")]


def body(frame: pd.DataFrame) -> dict[str, Any]:
    """A ``/predict`` body for ``frame`` that asks for class probabilities too."""
    return {"records": records(frame), "scores": True}


def expected(C: float, frame: pd.DataFrame) -> tuple[list[Any], np.ndarray]:
    """What the model with ``C`` predicts for ``frame``: labels and class probabilities."""
    model = fitted(C)
    return model.predict(frame).tolist(), model.predict_proba(frame)


def answer_of(C: float, frame: pd.DataFrame, answer: dict[str, Any]) -> bool:
    """Whether a ``/predict`` answer (asked with scores) is the one the model with ``C``
    gives for ``frame``."""
    labels, scores = expected(C, frame)
    return answer["predictions"] == labels and bool(
        np.allclose(answer.get("scores", np.nan), scores, rtol=1e-9, atol=1e-12)
    )


def corrupt(client: TrackingClient, version: VersionRecord) -> None:
    """Flip bytes in the middle of the version's model file."""
    path = Path(client.store.artifacts.blob_path(version.digest))
    data = bytearray(path.read_bytes())
    for at in range(len(data) // 2, len(data) // 2 + 8):
        data[at] ^= 0xFF
    path.write_bytes(bytes(data))
