"""Record the alert: the action every alert runs first."""

from __future__ import annotations

from typing import Any

from mlpilot.monitor.actions._base import Action, AlertContext, outcome


class RecordAction(Action):
    """Keep the alert in the store, where ``mlpilot monitor alerts`` and the events
    show it. The monitor stores the alert before any action runs, so this action only
    reports that it is there."""

    name = "record"

    def run(self, context: AlertContext) -> dict[str, Any]:
        return outcome(self.name, "ok", "alert recorded")

    def to_spec(self) -> str:
        return self.name
