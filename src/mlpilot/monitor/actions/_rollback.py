"""Move the model's champion back one promotion."""

from __future__ import annotations

from typing import Any

from mlpilot.errors import MlpilotError
from mlpilot.monitor.actions._base import Action, AlertContext, outcome
from mlpilot.store.base._monitors import monitor_actor


class RollbackAction(Action):
    """Roll ``champion`` of the monitored model back to the version it replaced, with
    the alert's message as the reason. A model with no earlier champion is recorded as
    skipped."""

    name = "rollback"

    def run(self, context: AlertContext) -> dict[str, Any]:
        from mlpilot.registry import ModelRegistry

        try:
            move = ModelRegistry(context.client).rollback(
                context.model,
                reason=f"alert {context.alert_id}: {context.message}",
                actor=monitor_actor(context.monitor),
            )
        except MlpilotError as exc:
            return outcome(self.kind, "skipped", str(exc))
        return outcome(
            self.kind,
            "ok",
            f"champion of {context.model} moved back from version {move.previous} to "
            f"{move.version}",
            version=move.version,
            previous=move.previous,
        )

    def to_spec(self) -> str:
        return self.kind
