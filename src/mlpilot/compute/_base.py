"""What an executor is given and what it gives back."""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from typing import Any, ClassVar, Self

from mlpilot.errors import InvalidInputError


@dataclasses.dataclass(frozen=True)
class Resources:
    """What a task asks for, or what an executor may hand out."""

    cpus: int = 1
    gpus: int = 0
    memory_mb: int = 0

    def __post_init__(self) -> None:
        for name in ("cpus", "gpus", "memory_mb"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise InvalidInputError(f"{name} must be a whole number >= 0, got {value!r}")

    def fits_in(self, other: Resources) -> bool:
        return (
            self.cpus <= other.cpus
            and self.gpus <= other.gpus
            and self.memory_mb <= other.memory_mb
        )

    def __add__(self, other: Resources) -> Resources:
        return Resources(
            self.cpus + other.cpus, self.gpus + other.gpus, self.memory_mb + other.memory_mb
        )

    def __sub__(self, other: Resources) -> Resources:
        return Resources(
            self.cpus - other.cpus, self.gpus - other.gpus, self.memory_mb - other.memory_mb
        )


#: What a task asks for when it says nothing.
ONE_CORE = Resources()


@dataclasses.dataclass(frozen=True)
class TaskOutcome:
    """How one attempt of a task ended.

    ``status`` is ``ok``, ``error`` (the function raised; ``error`` holds the traceback),
    ``died`` (the worker process vanished: killed, out of memory) or ``timeout``.
    """

    task_id: str
    status: str
    value: Any = None
    error: str = ""
    node: str = ""
    started_s: float = 0.0
    ended_s: float = 0.0
    cpu_seconds: float = 0.0
    peak_rss_mb: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == "ok"


class Executor(abc.ABC):
    """Runs functions with the resources they ask for, never more at once than it has.

    A package adds an executor by subclassing this and declaring it as an entry point
    in the group ``mlpilot.executors`` under its :attr:`name`; ``executor="<name>"``
    then makes one, with the limits as keyword arguments (``cpus``, ``gpus``,
    ``memory_mb``, ``address``, those given only).
    """

    #: The name that makes this executor (``executor="local"``), recorded with each run
    #: and study so that resuming them uses the same kind.
    name: ClassVar[str]
    #: What this executor may hand out in total.
    capacity: Resources

    @abc.abstractmethod
    def submit(
        self,
        task_id: str,
        fn: Callable[..., Any],
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        *,
        resources: Resources = ONE_CORE,
        timeout_s: float | None = None,
    ) -> Future[TaskOutcome]:
        """Start ``fn(*args, **kwargs)`` when its resources are free; never raises for
        what the function does: the outcome says how it went."""

    @abc.abstractmethod
    def shutdown(self) -> None:
        """Stop every worker; tasks still waiting end as ``died``."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    @property
    def largest_task(self) -> Resources:
        """The most one task can get: all of the capacity on one machine; on a cluster,
        what its largest node has (a task runs on one node)."""
        return self.capacity

    def check(self, resources: Resources) -> None:
        """Refuse, before anything runs, a request no amount of waiting can satisfy."""
        if not resources.fits_in(self.capacity):
            raise InvalidInputError(
                f"a task asks for {resources}, more than this executor has in all "
                f"({self.capacity}); lower the request or give the executor more"
            )
        if not resources.fits_in(self.largest_task):
            raise InvalidInputError(
                f"a task asks for {resources}, more than any one node has (the largest: "
                f"{self.largest_task}); lower the request or add a larger node"
            )
