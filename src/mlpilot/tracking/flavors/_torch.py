"""PyTorch modules, stored as an exported program (``torch.export``)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import numpy as np

from mlpilot.errors import ArtifactCorruptedError, InvalidInputError
from mlpilot.tracking.flavors._base import Flavor, imported
from mlpilot.tracking.flavors._lightgbm import _plain
from mlpilot.tracking.flavors._predictor import ClassifierPredictor, Predictor


class TorchFlavor(Flavor):
    """An exported program is the module's graph and weights, without its Python code,
    and it loads without unpickling arbitrary objects. Exporting traces the module on
    ``input_example`` (a few rows of features), with the batch dimension left free.

    The module takes a float32 tensor of feature rows. A classifier's module returns
    one score per class (logits, turned into probabilities with a softmax) or a single
    logit for two classes; it is logged with ``classes=[...]``. A module logged
    without classes is a regressor.
    """

    name = "pytorch"
    file = "model.pt2"
    packages = ("torch",)

    def accepts(self, model: Any) -> bool:
        torch = imported("torch")
        return torch is not None and isinstance(model, torch.nn.Module)

    def dump(
        self, model: Any, *, input_example: Any = None, classes: Sequence[Any] | None = None
    ) -> tuple[bytes, dict[str, Any]]:
        import torch

        if input_example is None:
            raise InvalidInputError(
                "a PyTorch model is exported by running it once: pass a few rows of "
                "features as log_model(model, input_example=X[:8])"
            )
        example = _tensor(input_example)
        if example.ndim != 2 or len(example) < 2:
            raise InvalidInputError(
                f"input_example must be at least 2 rows of features, got shape "
                f"{tuple(example.shape)}"
            )
        model.eval()
        batch = torch.export.Dim("batch")
        try:
            program = torch.export.export(model, (example,), dynamic_shapes=({0: batch},))
        except Exception as exc:  # export reports unsupported Python in many types
            raise InvalidInputError(f"the PyTorch model cannot be exported: {exc}") from None
        buffer = io.BytesIO()
        torch.export.save(program, buffer)
        names = list(input_example.columns) if hasattr(input_example, "columns") else None
        meta = {
            "format": "torch-export",
            "classes": None if classes is None else _plain(classes),
            "feature_names": names,
            "n_features": int(example.shape[1]),
        }
        return buffer.getvalue(), meta

    def load(self, data: bytes, meta: dict[str, Any], what: str) -> Any:
        import torch

        try:
            module = torch.export.load(io.BytesIO(data)).module()
        except Exception as exc:  # a damaged archive fails in zipfile, json or torch
            raise ArtifactCorruptedError(
                f"{what} is not a readable PyTorch program: {exc}"
            ) from None

        def scores(features: Any) -> Any:
            with torch.no_grad():
                out = module(_tensor(features))
            if meta.get("classes") is None:
                return out.numpy()
            if out.ndim == 2 and out.shape[1] > 1:
                return torch.softmax(out, dim=1).numpy()
            return torch.sigmoid(out).reshape(-1).numpy()

        names, width = meta.get("feature_names"), meta.get("n_features")
        if meta.get("classes") is None:
            return Predictor(module, scores, feature_names=names, n_features=width)
        return ClassifierPredictor(
            module, scores, meta["classes"], feature_names=names, n_features=width
        )


def _tensor(features: Any) -> Any:
    import torch

    values = features.to_numpy() if hasattr(features, "to_numpy") else features
    # A copy: pandas hands out read-only arrays, which torch warns about sharing.
    return torch.from_numpy(np.array(values, dtype=np.float32))
