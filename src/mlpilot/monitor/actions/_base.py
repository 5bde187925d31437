"""The plug-in point for what an alert does."""

from __future__ import annotations

import abc
import dataclasses
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from mlpilot.tracking import TrackingClient


@dataclasses.dataclass(frozen=True)
class AlertContext:
    """What an action knows of the alert it acts on.

    Attributes:
        client: the tracking client of the store the monitor lives in.
        monitor: the monitor's name.
        model: the served model the monitor watches.
        alert_id: the ``alerts`` row.
        rule: the rule that fired.
        message: one line saying what happened, e.g. ``psi of age 0.31 > 0.2``.
        document: the alert as JSON, as a webhook receives it.
    """

    client: TrackingClient
    monitor: str
    model: str
    alert_id: int
    rule: str
    message: str
    document: dict[str, Any]


class Action(abc.ABC):
    """Something an alert does: record itself, call a webhook, roll back, retrain.

    :meth:`run` never raises for a failure of the outside world (a dead URL, no
    previous champion): it returns an outcome whose ``status`` says so, and the
    outcome is stored with the alert. Work that goes on after :meth:`run` returns
    (a retraining pipeline) reports its end through :meth:`settle`.

    A package adds an action by subclassing this and declaring it as an entry point in
    the group ``mlpilot.actions`` under its :attr:`name`; a rule then names it as
    ``"<name>"`` or ``{"kind": "<name>", ...}``, the other keys being the keyword
    arguments it is made with.
    """

    #: The name a rule gives the action by (its ``kind`` in a rule's table).
    name: ClassVar[str]

    @property
    def kind(self) -> str:
        """The action's name, under the key rules and outcomes store it with."""
        return self.name

    @abc.abstractmethod
    def run(self, context: AlertContext) -> dict[str, Any]:
        """Act on the alert; returns ``{"kind", "status", "detail", ...}`` with
        ``status`` one of ``ok``, ``failed``, ``skipped`` or ``running``."""

    @abc.abstractmethod
    def to_spec(self) -> dict[str, Any] | str:
        """The action as a rule stores it (a name, or a mapping with ``kind``)."""

    def checked(self) -> Action:
        """The action as a monitor stores it, once what it refers to was found: called
        when a monitor is created, so that a mistake is reported then and not during an
        incident. The default has nothing to check."""
        return self

    def settle(self, context: AlertContext, outcome: dict[str, Any]) -> dict[str, Any] | None:
        """For an outcome still ``running``: the final outcome once the work ended,
        else None. Actions that finish within :meth:`run` keep this default."""
        return None


def outcome(kind: str, status: str, detail: str, **more: Any) -> dict[str, Any]:
    """An action's outcome as the alert stores it."""
    return {"kind": kind, "status": status, "detail": detail, **more}
