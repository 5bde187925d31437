"""scikit-learn estimators and pipelines, stored with skops."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mlpilot.errors import ArtifactCorruptedError
from mlpilot.tracking.flavors._base import Flavor, imported


class SklearnFlavor(Flavor):
    """skops loads only the types it is told to trust, never arbitrary pickled code.
    The types a model needs are recorded when it is saved, and loading trusts exactly
    those."""

    name = "sklearn"
    file = "model.skops"
    packages = ("scikit-learn", "skops")

    def accepts(self, model: Any) -> bool:
        base = imported("sklearn.base")
        return base is not None and isinstance(model, base.BaseEstimator)

    def dump(
        self, model: Any, *, input_example: Any = None, classes: Sequence[Any] | None = None
    ) -> tuple[bytes, dict[str, Any]]:
        import skops.io as sio

        data = sio.dumps(model)
        trusted = sorted(sio.get_untrusted_types(data=data))
        return data, {"format": "skops", "trusted_types": trusted}

    def load(self, data: bytes, meta: dict[str, Any], what: str) -> Any:
        import skops.io as sio

        trusted = list(meta.get("trusted_types", []))
        unexpected = set(sio.get_untrusted_types(data=data)) - set(trusted)
        if unexpected:
            raise ArtifactCorruptedError(
                f"{what} needs types it was not saved with: {sorted(unexpected)}; "
                "refusing to load it"
            )
        return sio.loads(data, trusted=trusted)
