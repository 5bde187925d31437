"""The model registry: versions with lineage, aliases, gated promotion, rollback, cards."""

from mlpilot.registry._card import model_card
from mlpilot.registry._promote import Promotion, promote
from mlpilot.registry._registry import CHAMPION, ModelRecord, ModelRegistry, VersionRecord
from mlpilot.registry._signature import Signature
from mlpilot.store.base._registry import AliasMove, GateDecision

__all__ = [
    "CHAMPION",
    "AliasMove",
    "GateDecision",
    "ModelRecord",
    "ModelRegistry",
    "Promotion",
    "Signature",
    "VersionRecord",
    "model_card",
    "promote",
]
