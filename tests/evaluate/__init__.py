"""Tests of mlpilot.evaluate, and a classifier whose answers are fixed in advance."""

from __future__ import annotations

from typing import Any

import numpy as np


class Fixed:
    """A classifier that answers ``labels[i]`` for row ``i`` of whatever it is given.

    It lets a test say exactly which rows a model gets right; use :func:`fixed` to
    build one, with class probabilities or without (then it has no ``predict_proba``).
    """

    def __init__(self, labels: Any, classes: Any) -> None:
        self.labels = np.asarray(labels)
        self.classes_ = np.asarray(classes)

    def predict(self, features: Any) -> np.ndarray:
        assert len(features) == len(self.labels)
        return self.labels


class FixedWithProba(Fixed):
    def __init__(self, labels: Any, classes: Any, proba: Any) -> None:
        super().__init__(labels, classes)
        self.proba = np.asarray(proba, dtype=np.float64)

    def predict_proba(self, features: Any) -> np.ndarray:
        assert len(features) == len(self.proba)
        return self.proba


def fixed(labels: Any, classes: Any = (0, 1), proba: Any = None) -> Fixed:
    """A :class:`Fixed` classifier; with ``proba``, one that has ``predict_proba``."""
    return Fixed(labels, classes) if proba is None else FixedWithProba(labels, classes, proba)


def right_on(y: np.ndarray, correct: np.ndarray) -> Fixed:
    """A binary classifier right exactly on the rows where ``correct`` is true."""
    return fixed(np.where(correct, y, 1 - y))
