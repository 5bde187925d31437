"""LightGBM models, stored as LightGBM's own text model."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from mlpilot.errors import ArtifactCorruptedError, InvalidInputError
from mlpilot.tracking.flavors._base import Flavor, imported
from mlpilot.tracking.flavors._predictor import ClassifierPredictor, Predictor


class LightGBMFlavor(Flavor):
    """The text model holds the trees and the objective; the classes of a classifier
    are kept in the meta file. A model loads back as a :class:`Predictor` around the
    booster (``.model``), with ``predict`` and, for a classifier, ``predict_proba``."""

    name = "lightgbm"
    file = "model.lgb.txt"
    packages = ("lightgbm",)

    def accepts(self, model: Any) -> bool:
        lgb = imported("lightgbm")
        return lgb is not None and isinstance(model, lgb.LGBMModel | lgb.Booster)

    def dump(
        self, model: Any, *, input_example: Any = None, classes: Sequence[Any] | None = None
    ) -> tuple[bytes, dict[str, Any]]:
        import lightgbm as lgb

        booster = model if isinstance(model, lgb.Booster) else model.booster_
        objective = str(booster.params.get("objective") or booster.dump_model()["objective"])
        if classes is None and isinstance(model, lgb.LGBMClassifier):
            classes = model.classes_.tolist()
        if classes is None and objective.split()[0] in ("binary", "cross_entropy"):
            classes = [0, 1]
        if classes is None and objective.split()[0] in ("multiclass", "multiclassova"):
            raise InvalidInputError(
                "a multiclass LightGBM booster does not know its classes; "
                "pass classes=[...] to log_model"
            )
        meta = {
            "format": "lightgbm-text",
            "objective": objective,
            "classes": None if classes is None else _plain(classes),
            "feature_names": booster.feature_name(),
        }
        return booster.model_to_string().encode("utf-8"), meta

    def load(self, data: bytes, meta: dict[str, Any], what: str) -> Any:
        import lightgbm as lgb

        try:
            booster = lgb.Booster(model_str=data.decode("utf-8"))
        except (lgb.basic.LightGBMError, UnicodeDecodeError) as exc:
            raise ArtifactCorruptedError(
                f"{what} is not a readable LightGBM model: {exc}"
            ) from None
        names = meta.get("feature_names") or []

        def scores(features: Any) -> Any:
            return booster.predict(_by_name(features, names))

        width = booster.num_feature()
        if meta.get("classes") is None:
            return Predictor(booster, scores, n_features=width)
        return ClassifierPredictor(booster, scores, meta["classes"], n_features=width)


def _by_name(features: Any, names: Sequence[str]) -> Any:
    """A frame's columns in the booster's order. LightGBM keeps its feature names with
    spaces made underscores, and predicts by position; matching the names here keeps
    a frame whose columns come in another order from being scored wrongly."""
    if not isinstance(features, pd.DataFrame) or not names:
        return features
    by_key = {str(column).replace(" ", "_"): column for column in features.columns}
    missing = [name for name in names if name not in by_key]
    if missing and not all(name == f"Column_{i}" for i, name in enumerate(names)):
        raise InvalidInputError(
            f"the data lacks {len(missing)} column(s) the model was fitted on: "
            f"{', '.join(missing[:10])}"
        )
    return features if missing else features[[by_key[name] for name in names]]


def _plain(values: Sequence[Any]) -> list[Any]:
    """Class labels as JSON values (numpy scalars become Python ones)."""
    return [v.item() if hasattr(v, "item") else v for v in values]
