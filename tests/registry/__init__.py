"""Tests of mlpilot.registry, and the models they register.

Every model is fitted on the same split of scikit-learn's breast cancer data, whose
test rows (228) are where promotions compare them. On those rows the dummy is right
143 times, the logistic regression with C=10 218 times and the one with C=1 220 times:
the last two disagree on six rows (four to two), a difference chance gives easily.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.datasets import load_breast_cancer
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mlpilot.tracking import TrackingClient


@functools.cache
def split() -> tuple[pd.DataFrame, pd.DataFrame, pd.Series, pd.Series]:
    """Train features, test features, train target, test target."""
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    parts = train_test_split(X, y, test_size=0.4, random_state=0, stratify=y)
    return parts[0], parts[1], parts[2], parts[3]


@functools.cache
def fitted(kind: str) -> BaseEstimator:
    """``dummy`` (the majority class), or ``lr10`` and ``lr1``: logistic regressions
    with C=10 and C=1, a hair apart on the test rows."""
    X_train, _, y_train, _ = split()
    if kind == "dummy":
        return DummyClassifier().fit(X_train, y_train)
    model = make_pipeline(StandardScaler(), LogisticRegression(C={"lr10": 10, "lr1": 1}[kind]))
    return model.fit(X_train, y_train)


def log(client: TrackingClient, kind: str, **params: Any) -> str:
    """Log the ``kind`` model in a new run with ``params``; returns the run's id."""
    with client.create_run("registry", name=kind, params=params or {"kind": kind}) as run:
        client.log_model(run.id, fitted(kind))
    return run.id


def blob_file(client: TrackingClient, digest: str) -> Path:
    """The file that holds the blob ``digest`` in the local artifact store."""
    return Path(client.store.artifacts.blob_path(digest))
