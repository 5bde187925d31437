"""Logging and loading models in a safe format.

Each kind of model is stored in a format that loads without running code that came
with the file (see :mod:`mlpilot.tracking.flavors`): skops for scikit-learn, the native
formats of XGBoost and LightGBM, an exported program for PyTorch. ``NAME/model.json``
says which, and loading reads the bytes only after the artifact store has checked that
they are the ones that were logged.
"""

from __future__ import annotations

import json
import platform
from collections.abc import Sequence
from importlib import metadata as package_metadata
from typing import TYPE_CHECKING, Any

from mlpilot.store.base._tracking import ArtifactRecord
from mlpilot.tracking.flavors import flavor_named, flavor_of

if TYPE_CHECKING:
    from mlpilot.tracking._client import TrackingClient

#: Written next to every model's bytes; its presence marks a folder as a model.
META_FILE = "model.json"
_PACKAGES = ("numpy", "scipy", "pandas")


def log_model(
    client: TrackingClient,
    run_id: str,
    model: Any,
    name: str = "model",
    *,
    input_example: Any = None,
    classes: Sequence[Any] | None = None,
) -> list[ArtifactRecord]:
    """Store ``model`` under ``name/`` in its flavor's format, with ``name/model.json``
    describing it."""
    flavor = flavor_of(model)
    data, extra = flavor.dump(model, input_example=input_example, classes=classes)
    meta = {
        "flavor": flavor.name,
        "file": flavor.file,
        "class": f"{type(model).__module__}.{type(model).__qualname__}",
        **extra,
        "python": platform.python_version(),
        "packages": {
            pkg: version
            for pkg in (*flavor.packages, *_PACKAGES)
            if (version := package_version(pkg)) is not None
        },
    }
    return client.log_blobs(
        run_id,
        {
            f"{name}/{flavor.file}": data,
            f"{name}/{META_FILE}": json.dumps(meta, indent=2).encode("utf-8"),
        },
    )


def model_file(meta: dict[str, Any]) -> str:
    """The name of the model's bytes next to ``model.json``."""
    return str(meta.get("file") or flavor_named(meta.get("flavor", "sklearn")).file)


def load_model(client: TrackingClient, run_id: str, name: str = "model") -> Any:
    """Load the model logged as ``name`` in run ``run_id``."""
    meta = read_meta(client, run_id, name)
    data = client.read_artifact(run_id, f"{name}/{model_file(meta)}")
    return load_bytes(data, meta, f"model {name!r} of run {run_id}")


def read_meta(client: TrackingClient, run_id: str, name: str) -> dict[str, Any]:
    meta: dict[str, Any] = json.loads(client.read_artifact(run_id, f"{name}/{META_FILE}"))
    return meta


def load_bytes(data: bytes, meta: dict[str, Any], what: str) -> Any:
    """A model from its verified bytes, read by the flavor it was stored with."""
    return flavor_named(meta.get("flavor", "sklearn")).load(data, meta, what)


def package_version(package: str) -> str | None:
    try:
        return package_metadata.version(package)
    except package_metadata.PackageNotFoundError:
        return None
