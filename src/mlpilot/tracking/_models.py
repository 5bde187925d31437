"""Logging and loading models in a safe format.

scikit-learn estimators (pipelines included) are saved with skops, which loads only
the types it is told to trust, never arbitrary pickled code. The types a model needs
are recorded when it is saved, and loading trusts exactly those, after the artifact
store has checked that the bytes are the ones that were logged.
"""

from __future__ import annotations

import json
import platform
from importlib import metadata as package_metadata
from typing import TYPE_CHECKING, Any

from mlpilot.errors import ArtifactCorruptedError, InvalidInputError
from mlpilot.tracking._records import ArtifactRecord

if TYPE_CHECKING:
    from mlpilot.tracking._client import TrackingClient

MODEL_FILE = "model.skops"
META_FILE = "model.json"
_PACKAGES = ("scikit-learn", "skops", "numpy", "scipy")


def log_model(
    client: TrackingClient, run_id: str, model: Any, name: str = "model"
) -> list[ArtifactRecord]:
    """Store ``model`` as ``name/model.skops`` with ``name/model.json`` describing it."""
    import skops.io as sio
    from sklearn.base import BaseEstimator

    if not isinstance(model, BaseEstimator):
        raise InvalidInputError(
            f"log_model stores scikit-learn estimators; got {type(model).__name__}. "
            "Save other models yourself and store the files with log_artifact"
        )
    data = sio.dumps(model)
    meta = {
        "flavor": "sklearn",
        "format": "skops",
        "class": f"{type(model).__module__}.{type(model).__qualname__}",
        "trusted_types": sorted(sio.get_untrusted_types(data=data)),
        "python": platform.python_version(),
        "packages": {pkg: _version(pkg) for pkg in _PACKAGES},
    }
    return client.log_blobs(
        run_id,
        {
            f"{name}/{MODEL_FILE}": data,
            f"{name}/{META_FILE}": json.dumps(meta, indent=2).encode("utf-8"),
        },
    )


def load_model(client: TrackingClient, run_id: str, name: str = "model") -> Any:
    """Load the model logged as ``name`` in run ``run_id``."""
    meta = json.loads(client.read_artifact(run_id, f"{name}/{META_FILE}"))
    data = client.read_artifact(run_id, f"{name}/{MODEL_FILE}")
    return load_skops(data, meta, f"model {name!r} of run {run_id}")


def load_skops(data: bytes, meta: dict[str, Any], what: str) -> Any:
    """A model from skops bytes, trusting only the types it was saved with."""
    import skops.io as sio

    trusted = list(meta.get("trusted_types", []))
    unexpected = set(sio.get_untrusted_types(data=data)) - set(trusted)
    if unexpected:
        raise ArtifactCorruptedError(
            f"{what} needs types it was not saved with: {sorted(unexpected)}; refusing to load it"
        )
    return sio.loads(data, trusted=trusted)


def _version(package: str) -> str | None:
    try:
        return package_metadata.version(package)
    except package_metadata.PackageNotFoundError:
        return None
