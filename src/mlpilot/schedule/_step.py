"""Steps: plain functions marked with what they need to run.

Called inside a pipeline, a step does not run: it adds a task to the pipeline's graph
and returns an :class:`Output` that later steps take as input. Called anywhere else it
is the plain function, so a step can be unit-tested like any other.
"""

from __future__ import annotations

import contextvars
import dataclasses
import functools
import inspect
import multiprocessing
import os
import types
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar, overload

from mlpilot.compute import Resources
from mlpilot.errors import InvalidInputError
from mlpilot.schedule._fingerprint import code_fingerprint

if TYPE_CHECKING:
    from mlpilot.schedule._graph import Graph, Output

P = ParamSpec("P")
R = TypeVar("R")

#: The graph a pipeline function is adding tasks to, while it is being built.
building: contextvars.ContextVar[Graph | None] = contextvars.ContextVar(
    "mlpilot_building", default=None
)

# Set while a worker process runs a user's script to find its steps.
_importing_script = False


def refuse_in_worker(what: str) -> None:
    """Refuse to start ``what`` while a worker process imports the user's script.

    A worker loads the script that defines its function; without a main guard, the
    script's top level would start the pipeline or study again in every worker.
    """
    if getattr(multiprocessing.current_process(), "_inheriting", False) or _importing_script:
        raise InvalidInputError(
            f"a worker process imported the script that runs this {what}, and the script "
            f'ran it again; put the call under `if __name__ == "__main__":`'
        )


# The longest backoff between two attempts, however many attempts came before.
MAX_BACKOFF_S = 300.0


@dataclasses.dataclass(frozen=True)
class StepRef:
    """Where a worker process finds a step's function: by module, or by file."""

    module: str
    qualname: str
    file: str | None


def ref_of(fn: Callable[..., Any]) -> StepRef:
    """Where a worker process finds the top-level function ``fn``."""
    file = inspect.getsourcefile(fn)
    return StepRef(fn.__module__, fn.__qualname__, os.path.abspath(file) if file else None)


class Step(Generic[P, R]):
    """A function with the resources, retries, timeout and cache policy it runs under.

    Made by the :func:`step` decorator; see there for the options.
    """

    def __init__(
        self,
        fn: Callable[P, R],
        *,
        name: str | None = None,
        cpus: int | tuple[int, int] = 1,
        gpus: int = 0,
        memory_mb: int = 0,
        retries: int = 0,
        backoff_s: float = 1.0,
        timeout_s: float | None = None,
        cache: bool = True,
        parallel: float = 0.9,
    ) -> None:
        if not isinstance(fn, types.FunctionType):
            raise InvalidInputError(f"@step marks plain functions, not {fn!r}")
        self.fn = fn
        self.name = name or fn.__name__
        self.min_cpus, self.max_cpus = (cpus, cpus) if isinstance(cpus, int) else tuple(cpus)
        if not 1 <= self.min_cpus <= self.max_cpus:
            raise InvalidInputError(
                f"step {self.name!r}: cpus is a whole number >= 1 or a range (min, max) "
                f"with 1 <= min <= max, got {cpus!r}"
            )
        Resources(cpus=self.max_cpus, gpus=gpus, memory_mb=memory_mb)  # checks each count
        self.gpus, self.memory_mb = gpus, memory_mb
        if not isinstance(retries, int) or retries < 0:
            raise InvalidInputError(f"step {self.name!r}: retries must be >= 0, got {retries!r}")
        if backoff_s < 0:
            raise InvalidInputError(f"step {self.name!r}: backoff_s must be >= 0")
        if timeout_s is not None and not timeout_s > 0:
            raise InvalidInputError(f"step {self.name!r}: timeout_s must be > 0, got {timeout_s}")
        if not 0.0 <= parallel <= 1.0:
            raise InvalidInputError(f"step {self.name!r}: parallel is a share between 0 and 1")
        self.retries, self.backoff_s, self.timeout_s = retries, backoff_s, timeout_s
        self.cache, self.parallel = cache, parallel
        self.signature = inspect.signature(fn)
        functools.update_wrapper(self, fn)

    def __repr__(self) -> str:
        return f"Step({self.name!r})"

    @property
    def ref(self) -> StepRef:
        return ref_of(self.fn)

    @functools.cached_property
    def fingerprint(self) -> str:
        """Hash of the step's code and of the helpers it calls in its own module."""
        return code_fingerprint(self.fn)

    def resources(self, cpus: int) -> Resources:
        return Resources(cpus=cpus, gpus=self.gpus, memory_mb=self.memory_mb)

    def backoff(self, attempt: int) -> float:
        """Seconds to wait before attempt ``attempt + 1``: doubling, capped."""
        return float(min(self.backoff_s * 2 ** (attempt - 1), MAX_BACKOFF_S))

    @overload
    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R: ...
    @overload
    def __call__(self, *args: Any, **kwargs: Any) -> Output: ...
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        graph = building.get()
        if graph is None:
            return self.fn(*args, **kwargs)
        return graph.add(self, args, kwargs)

    def map(self, items: Iterable[Any], /, *args: Any, **kwargs: Any) -> list[Output]:
        """One task per item (fan-out): ``step(item, *args, **kwargs)`` for each.

        Returns the tasks' outputs as a list, which a later step can take whole (fan-in).
        """
        graph = building.get()
        if graph is None:
            raise InvalidInputError(
                f"{self.name}.map(...) builds tasks, so it is called inside a @pipeline function"
            )
        from mlpilot.schedule._graph import Output

        if isinstance(items, Output):
            raise InvalidInputError(
                f"{self.name}.map needs the list of items when the pipeline is built (a "
                "pipeline parameter or a literal), not the output of another step"
            )
        values = list(items)
        labels = _labels(values)
        return [
            graph.add(self, (item, *args), kwargs, label=f"{self.name}[{label}]")
            for item, label in zip(values, labels, strict=True)
        ]


@overload
def step(fn: Callable[P, R], /) -> Step[P, R]: ...
@overload
def step(
    *,
    name: str | None = None,
    cpus: int | tuple[int, int] = 1,
    gpus: int = 0,
    memory_mb: int = 0,
    retries: int = 0,
    backoff_s: float = 1.0,
    timeout_s: float | None = None,
    cache: bool = True,
    parallel: float = 0.9,
) -> Callable[[Callable[P, R]], Step[P, R]]: ...
def step(fn: Callable[..., Any] | None = None, /, **options: Any) -> Any:
    """Mark a function as a pipeline step.

    Args:
        name: The step's name in the graph and in run history (the function's name).
        cpus: Cores it needs: a number, or a range ``(min, max)`` within which the
            allocation policy chooses; the task reads what it got from
            :func:`current_task`.
        gpus, memory_mb: GPUs and memory (MB) it needs while it runs.
        retries: Attempts after the first when it raises or runs past ``timeout_s``. A
            worker that dies (killed, out of memory) is not the step's fault: its task is
            rescheduled up to twice even with no retries.
        backoff_s: Wait before the first retry; it doubles each retry (at most 5 minutes).
        timeout_s: An attempt running longer is stopped and counts as failed.
        cache: Reuse the output of an earlier task with the same code, inputs and
            arguments instead of running again.
        parallel: The share of its work that spreads over cores (Amdahl's law), used to
            plan a range of ``cpus`` until measured runs say better.

    Example::

        @step(cpus=(1, 8), retries=2, timeout_s=600)
        def train(family: str, data: pd.DataFrame) -> Model: ...
    """
    if fn is not None:
        return Step(fn)
    return lambda inner: Step(inner, **options)


@dataclasses.dataclass(frozen=True)
class TaskContext:
    """What a running task knows about itself."""

    run_id: str
    task: str
    step: str
    attempt: int
    resources: Resources

    @property
    def cpus(self) -> int:
        return self.resources.cpus


current: contextvars.ContextVar[TaskContext | None] = contextvars.ContextVar(
    "mlpilot_task", default=None
)


def current_task() -> TaskContext | None:
    """The task running in this process (its run, name, attempt and cores), if any."""
    return current.get()


def _labels(values: Sequence[Any]) -> list[str]:
    """Readable task labels: the items themselves when short and distinct, else indexes."""
    texts = [str(v) for v in values]
    readable = all(isinstance(v, str | int) and not isinstance(v, bool) for v in values) and all(
        0 < len(t) <= 40 and t.isprintable() and not set(t) & set("[]") for t in texts
    )
    if readable and len(set(texts)) == len(texts):
        return texts
    return [str(i) for i in range(len(values))]
