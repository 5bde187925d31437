"""What an alert does: record itself (always), call a webhook, roll the model back, or
start a retraining pipeline."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlpilot.errors import InvalidInputError
from mlpilot.monitor.actions._base import Action, AlertContext
from mlpilot.monitor.actions._retrain import RetrainAction
from mlpilot.monitor.actions._rollback import RollbackAction
from mlpilot.monitor.actions._webhook import WebhookAction

#: The actions a rule can name, by kind.
ACTIONS: dict[str, type[Action]] = {
    "webhook": WebhookAction,
    "rollback": RollbackAction,
    "retrain": RetrainAction,
}


def action_from_spec(spec: str | Mapping[str, Any]) -> Action:
    """An action from a rule's form of it: ``"rollback"``, or a mapping such as
    ``{"kind": "webhook", "url": ...}`` or ``{"kind": "retrain", "pipeline": ...}``."""
    if not isinstance(spec, str | Mapping):
        raise InvalidInputError(f"an action is a name or a table with 'kind', got {spec!r}")
    kind = spec if isinstance(spec, str) else spec.get("kind")
    if kind not in ACTIONS:
        raise InvalidInputError(
            f"unknown action {kind!r}; choose from record, {', '.join(ACTIONS)}"
        )
    options = {} if isinstance(spec, str) else {k: v for k, v in spec.items() if k != "kind"}
    try:
        return ACTIONS[kind](**options)
    except TypeError as exc:
        raise InvalidInputError(
            f"the {kind} action cannot take those settings ({exc}); e.g. "
            '{"kind": "webhook", "url": "https://..."} or '
            '{"kind": "retrain", "pipeline": "flows.py:train", "params": {}}'
        ) from None


__all__ = [
    "ACTIONS",
    "Action",
    "AlertContext",
    "RetrainAction",
    "RollbackAction",
    "WebhookAction",
    "action_from_spec",
]
