"""What an alert does: record itself (always), call a webhook, roll the model back, or
start a retraining pipeline.

Actions are found by name in :data:`ACTIONS`; packages add more through the entry point
group ``mlpilot.actions``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlpilot._plugins import Registry
from mlpilot.errors import InvalidInputError
from mlpilot.monitor.actions._base import Action, AlertContext
from mlpilot.monitor.actions._record import RecordAction
from mlpilot.monitor.actions._retrain import RetrainAction
from mlpilot.monitor.actions._rollback import RollbackAction
from mlpilot.monitor.actions._webhook import WebhookAction

#: The actions a rule can name, by name (a rule's table calls it ``kind``).
ACTIONS: Registry[Action] = Registry(
    "actions",
    "action",
    Action,
    {
        "record": "mlpilot.monitor.actions._record:RecordAction",
        "webhook": "mlpilot.monitor.actions._webhook:WebhookAction",
        "rollback": "mlpilot.monitor.actions._rollback:RollbackAction",
        "retrain": "mlpilot.monitor.actions._retrain:RetrainAction",
    },
)


def action_from_spec(spec: str | Mapping[str, Any] | Action) -> Action:
    """An action from a rule's form of it: ``"rollback"``, a mapping such as
    ``{"kind": "webhook", "url": ...}`` or ``{"kind": "retrain", "pipeline": ...}``, or
    an :class:`Action` itself.

    Raises:
        InvalidInputError: An unknown action (the message lists the known ones), or
            settings the action does not take.
    """
    if isinstance(spec, Action | str):
        return ACTIONS.get(spec)
    if not isinstance(spec, Mapping):
        raise InvalidInputError(f"an action is a name or a table with 'kind', got {spec!r}")
    name = spec.get("kind")
    if not isinstance(name, str):
        raise InvalidInputError(
            "an action's table names it with 'kind', e.g. "
            f'{{"kind": "webhook", "url": "https://..."}}; got {dict(spec)!r}'
        )
    return ACTIONS.get(name, **{k: v for k, v in spec.items() if k != "kind"})


__all__ = [
    "ACTIONS",
    "Action",
    "AlertContext",
    "RecordAction",
    "RetrainAction",
    "RollbackAction",
    "WebhookAction",
    "action_from_spec",
]
