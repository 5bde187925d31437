"""What a pruner is: a rule that stops a trial early from what the trials reported."""

from __future__ import annotations

import abc
import dataclasses
from typing import Any, ClassVar, Protocol


class ReportHistory(Protocol):
    """What the study's trials have reported, as a pruner in any worker process sees it."""

    def mark_rung(self, step: int, rung: int) -> None:
        """Record that this trial's report at ``step`` completed ``rung``."""

    def rung_values(self, rung: int) -> list[float]:
        """Each trial's value where it completed ``rung``, this trial's included."""

    def finished_values_at(self, step: int) -> list[float]:
        """What each finished (complete) trial reported at ``step``."""

    def finished_count(self) -> int:
        """How many trials of the study are complete."""


@dataclasses.dataclass
class Progress:
    """One running trial's latest report, and how far up the rungs it has come."""

    step: int
    value: float
    #: The best value this trial has reported so far.
    best: float
    maximize: bool
    rung: int = 0


class Pruner(abc.ABC):
    """Decides, at each report, whether a trial is hopeless and should stop now.

    A pruner runs in the process that runs the trial and reads the other trials'
    reports from the store, so that pruning works the same on local workers and Ray.

    A package adds a pruner by subclassing this and declaring it as an entry point in
    the group ``mlpilot.pruners`` under its :attr:`name`; it is made with the keyword
    arguments :meth:`options` returns.
    """

    #: The name a study is told to use it by (``--pruner NAME``).
    name: ClassVar[str]

    @abc.abstractmethod
    def prune(self, progress: Progress, history: ReportHistory) -> bool:
        """Whether to stop the trial that reported ``progress``."""

    @abc.abstractmethod
    def options(self) -> dict[str, Any]:
        """The keyword arguments that make this pruner again (stored with the study)."""

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.options().items())
        return f"{type(self).__name__}({args})"


def worse(value: float, than: float, maximize: bool) -> bool:
    return value < than if maximize else value > than
