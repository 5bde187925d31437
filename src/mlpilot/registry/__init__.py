"""The model registry: versions with lineage, aliases, gated promotion, rollback, cards."""

from mlpilot.registry._card import model_card
from mlpilot.registry._promote import Promotion, promote
from mlpilot.registry._registry import (
    CHAMPION,
    AliasMove,
    ModelRecord,
    ModelRegistry,
    VersionRecord,
)
from mlpilot.registry._signature import Signature

__all__ = [
    "CHAMPION",
    "AliasMove",
    "ModelRecord",
    "ModelRegistry",
    "Promotion",
    "Signature",
    "VersionRecord",
    "model_card",
    "promote",
]
