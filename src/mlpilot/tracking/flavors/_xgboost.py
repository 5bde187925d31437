"""XGBoost models, stored in XGBoost's own JSON format."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from typing import Any

from mlpilot.errors import ArtifactCorruptedError
from mlpilot.tracking.flavors._base import Flavor, imported

# The wrapper classes a stored model may come back as: the name in the meta file picks
# one of these, never an arbitrary importable object.
_WRAPPERS = ("XGBClassifier", "XGBRegressor", "XGBRanker", "XGBRFClassifier", "XGBRFRegressor")


class XGBoostFlavor(Flavor):
    """The JSON model holds the trees and, for the scikit-learn wrappers, the wrapper's
    own attributes (classes, feature names), so a classifier comes back as one."""

    name = "xgboost"
    file = "model.xgb.json"
    packages = ("xgboost", "xgboost-cpu")

    def accepts(self, model: Any) -> bool:
        xgb = imported("xgboost")
        return xgb is not None and isinstance(model, xgb.XGBModel | xgb.Booster)

    def dump(
        self, model: Any, *, input_example: Any = None, classes: Sequence[Any] | None = None
    ) -> tuple[bytes, dict[str, Any]]:
        wrapper = type(model).__name__
        if wrapper != "Booster" and wrapper not in _WRAPPERS:
            # A subclass of a wrapper loads back as the wrapper it extends.
            wrapper = next(b.__name__ for b in type(model).__mro__ if b.__name__ in _WRAPPERS)
        # save_model picks the format from the file name; JSON is the stable one.
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "model.json")
            model.save_model(path)
            with open(path, "rb") as file:
                data = file.read()
        return data, {"format": "xgboost-json", "wrapper": wrapper}

    def load(self, data: bytes, meta: dict[str, Any], what: str) -> Any:
        import xgboost as xgb

        wrapper = meta.get("wrapper", "Booster")
        if wrapper != "Booster" and wrapper not in _WRAPPERS:
            raise ArtifactCorruptedError(f"{what} names an unknown XGBoost class {wrapper!r}")
        model = getattr(xgb, wrapper)()
        try:
            model.load_model(bytearray(data))
        except xgb.core.XGBoostError as exc:
            raise ArtifactCorruptedError(f"{what} is not a readable XGBoost model: {exc}") from None
        return model
