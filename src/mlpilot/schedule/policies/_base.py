"""What an allocation policy sees and what it decides."""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Sequence
from typing import ClassVar

from mlpilot.errors import InvalidInputError
from mlpilot.schedule._speedup import Amdahl, SpeedupCurve


@dataclasses.dataclass(frozen=True)
class Job:
    """A malleable job: ``work`` core-seconds at one core, run on ``min_cores..max_cores``.

    ``requested`` is what the job asked for (FIFO gives exactly that); ``deadline`` and
    ``submitted`` are seconds on the scheduler's clock.
    """

    id: str
    work: float
    min_cores: int = 1
    max_cores: int = 1
    curve: SpeedupCurve = dataclasses.field(default_factory=Amdahl)
    requested: int | None = None
    deadline: float | None = None
    submitted: float = 0.0

    def __post_init__(self) -> None:
        if not self.work > 0:
            raise InvalidInputError(f"job {self.id!r}: work must be > 0, got {self.work!r}")
        if not 1 <= self.min_cores <= self.max_cores:
            raise InvalidInputError(
                f"job {self.id!r}: need 1 <= min_cores <= max_cores, got "
                f"{self.min_cores}..{self.max_cores}"
            )
        if self.requested is not None and not (self.min_cores <= self.requested <= self.max_cores):
            raise InvalidInputError(
                f"job {self.id!r}: requested {self.requested} cores, outside "
                f"{self.min_cores}..{self.max_cores}"
            )

    def seconds(self, remaining: float, cores: int) -> float:
        """Time to finish ``remaining`` core-seconds of work on ``cores`` cores."""
        rate = self.curve.speedup(cores)
        return float("inf") if rate <= 0 else remaining / rate

    def fewest_cores_within(self, remaining: float, seconds: float) -> int | None:
        """The fewest cores that finish ``remaining`` work within ``seconds``, if any do."""
        limit = seconds * (1 + 1e-9)
        if self.seconds(remaining, self.max_cores) > limit:
            return None
        low, high = self.min_cores, self.max_cores  # speed-ups never fall: bisect
        while low < high:
            middle = (low + high) // 2
            if self.seconds(remaining, middle) <= limit:
                high = middle
            else:
                low = middle + 1
        return low


@dataclasses.dataclass(frozen=True)
class Waiting:
    """A job that has arrived and is not finished, with the work it has left."""

    job: Job
    remaining: float


class AllocationPolicy(abc.ABC):
    """Decides how many cores each job gets now; it is asked again whenever a job
    arrives or finishes, so an allocation only has to be right until the next event.

    A package adds a policy by subclassing this and declaring it as an entry point in
    the group ``mlpilot.policies`` under its :attr:`name`; it is made with no arguments.
    """

    #: The name a pipeline run chooses it by (``--policy NAME``).
    name: ClassVar[str]

    @abc.abstractmethod
    def allocate(self, jobs: Sequence[Waiting], capacity: int, now: float) -> dict[str, int]:
        """Cores per job id (jobs left out wait); the total never exceeds ``capacity``."""
