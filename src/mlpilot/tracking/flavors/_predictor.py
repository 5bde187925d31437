"""A scikit-learn face for models whose library has none of its own.

Evaluation and serving call ``predict`` (and ``predict_proba`` for classifiers) and read
``classes_`` and the fitted feature names; a LightGBM booster or a PyTorch module gets
those from the meta file it was stored with.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

Scores = Callable[[Any], Any]


class Predictor:
    """Predicts values with ``scores``: a regressor, or the base of a classifier."""

    def __init__(
        self,
        model: Any,
        scores: Scores,
        *,
        feature_names: Sequence[str] | None = None,
        n_features: int | None = None,
    ) -> None:
        self.model = model
        self._scores = scores
        if feature_names:
            self.feature_names_in_ = np.asarray(list(feature_names), dtype=object)
        if n_features is not None:
            self.n_features_in_ = n_features

    def predict(self, features: pd.DataFrame | np.ndarray) -> np.ndarray:
        return np.asarray(self._scores(self._ordered(features))).reshape(len(features))

    def _ordered(self, features: pd.DataFrame | np.ndarray) -> pd.DataFrame | np.ndarray:
        # Columns go in the order the model was fitted on, as scikit-learn checks them.
        names = getattr(self, "feature_names_in_", None)
        if names is not None and not isinstance(features, np.ndarray):
            import pandas as pd  # only frames have names, and pandas is loaded with them

            if isinstance(features, pd.DataFrame):
                return features[list(names)]
        return features

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.model!r})"


class ClassifierPredictor(Predictor):
    """A classifier: ``scores`` gives each class's probability (or the positive class's
    alone, for two classes), and ``predict`` the most probable class."""

    def __init__(
        self,
        model: Any,
        scores: Scores,
        classes: Sequence[Any],
        *,
        feature_names: Sequence[str] | None = None,
        n_features: int | None = None,
    ) -> None:
        super().__init__(model, scores, feature_names=feature_names, n_features=n_features)
        self.classes_ = np.asarray(list(classes))

    def predict_proba(self, features: pd.DataFrame | np.ndarray) -> np.ndarray:
        proba = np.asarray(self._scores(self._ordered(features)), dtype=np.float64)
        if proba.ndim == 1 or proba.shape[1] == 1:
            positive = proba.reshape(-1)
            return np.column_stack([1.0 - positive, positive])
        return proba

    def predict(self, features: pd.DataFrame | np.ndarray) -> np.ndarray:
        return np.asarray(self.classes_[np.argmax(self.predict_proba(features), axis=1)])
