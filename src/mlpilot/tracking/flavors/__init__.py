"""Model formats: how each kind of model is stored safely and loaded back.

A flavor is picked by the model's type when it is logged, and by the name recorded in
``model.json`` when it is loaded. The libraries are imported only for their own models.
"""

from __future__ import annotations

from typing import Any

from mlpilot.errors import ArtifactCorruptedError, InvalidInputError
from mlpilot.tracking.flavors._base import Flavor
from mlpilot.tracking.flavors._lightgbm import LightGBMFlavor
from mlpilot.tracking.flavors._predictor import ClassifierPredictor, Predictor
from mlpilot.tracking.flavors._sklearn import SklearnFlavor
from mlpilot.tracking.flavors._torch import TorchFlavor
from mlpilot.tracking.flavors._xgboost import XGBoostFlavor

# The boosting libraries' wrappers are scikit-learn estimators too: they come first so
# that they are stored in their native formats.
FLAVORS: tuple[Flavor, ...] = (XGBoostFlavor(), LightGBMFlavor(), TorchFlavor(), SklearnFlavor())


def flavor_of(model: Any) -> Flavor:
    """The flavor that stores ``model``."""
    for flavor in FLAVORS:
        if flavor.accepts(model):
            return flavor
    raise InvalidInputError(
        f"log_model stores scikit-learn, XGBoost, LightGBM and PyTorch models; got "
        f"{type(model).__module__}.{type(model).__qualname__}. Save other models yourself "
        "and store the files with log_artifact"
    )


def flavor_named(name: str) -> Flavor:
    """The flavor a stored model was written with."""
    for flavor in FLAVORS:
        if flavor.name == name:
            return flavor
    raise ArtifactCorruptedError(f"a model was stored in an unknown format {name!r}")


__all__ = ["FLAVORS", "ClassifierPredictor", "Flavor", "Predictor", "flavor_named", "flavor_of"]
