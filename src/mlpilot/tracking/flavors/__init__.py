"""Model formats: how each kind of model is stored safely and loaded back.

A flavor is picked by the model's type when it is logged, and by the name recorded in
``model.json`` when it is loaded. The libraries are imported only for their own models.
Packages add flavors through the entry point group ``mlpilot.flavors``; a logged model is
offered to the library-specific built-ins, then to the plug-ins, and last to scikit-learn's
flavor, which takes any estimator.
"""

from __future__ import annotations

from typing import Any

from mlpilot._plugins import Registry
from mlpilot.errors import ArtifactCorruptedError, InvalidInputError
from mlpilot.tracking.flavors._base import Flavor
from mlpilot.tracking.flavors._predictor import ClassifierPredictor, Predictor

#: Flavors by the name recorded with a model, in the order a model is offered to them.
#: The boosting libraries' wrappers are scikit-learn estimators too: they come first so
#: that they are stored in their native formats.
FLAVORS: Registry[Flavor] = Registry(
    "flavors",
    "flavor",
    Flavor,
    {
        "xgboost": "mlpilot.tracking.flavors._xgboost:XGBoostFlavor",
        "lightgbm": "mlpilot.tracking.flavors._lightgbm:LightGBMFlavor",
        "pytorch": "mlpilot.tracking.flavors._torch:TorchFlavor",
        "sklearn": "mlpilot.tracking.flavors._sklearn:SklearnFlavor",
    },
)


#: The flavor of any scikit-learn estimator.
_GENERIC = "sklearn"


def flavor_of(model: Any) -> Flavor:
    """The first flavor that stores ``model``: scikit-learn's is offered it last, so that a
    plug-in for a library built on scikit-learn's base classes stores that library's models.

    Raises:
        InvalidInputError: No installed flavor accepts the model.
    """
    names = FLAVORS.names()
    for name in [n for n in names if n != _GENERIC] + [_GENERIC]:
        flavor = FLAVORS.get(name)
        if flavor.accepts(model):
            return flavor
    raise InvalidInputError(
        "log_model stores scikit-learn estimators and the models of the other installed "
        f"flavors ({', '.join(FLAVORS)}); got "
        f"{type(model).__module__}.{type(model).__qualname__}. Save other models yourself "
        "and store the files with log_artifact, or install a package that adds a flavor"
    )


def flavor_named(name: str) -> Flavor:
    """The flavor a stored model was written with.

    Raises:
        ArtifactCorruptedError: No installed flavor has that name.
    """
    if name not in FLAVORS:
        raise ArtifactCorruptedError(
            f"a model was stored with the flavor {name!r}, which no installed package "
            f"provides (installed: {', '.join(FLAVORS)})"
        )
    return FLAVORS.get(name)


__all__ = ["FLAVORS", "ClassifierPredictor", "Flavor", "Predictor", "flavor_named", "flavor_of"]
