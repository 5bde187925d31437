"""The graph of a pipeline run: tasks, the outputs they pass each other, their order."""

from __future__ import annotations

import dataclasses
import hashlib
import pickle
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from mlpilot.errors import InvalidInputError

if TYPE_CHECKING:
    from mlpilot.schedule._step import Step


@dataclasses.dataclass(frozen=True)
class Output:
    """The output of task ``task``, known once it has run.

    Steps return these while a pipeline is built; pass them to other steps. Made by hand,
    ``Output("name")`` refers to a task by name, even one the pipeline adds later.
    """

    task: str

    def __bool__(self) -> bool:
        raise InvalidInputError(self._not_yet())

    def __iter__(self) -> Iterator[Any]:
        raise InvalidInputError(self._not_yet())

    def _not_yet(self) -> str:
        return (
            f"the output of task {self.task!r} is not known until the pipeline runs; pass "
            "it to another step instead of using it in the pipeline function itself"
        )


@dataclasses.dataclass
class Task:
    """One call of a step in the graph."""

    name: str
    step: Step[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    upstream: tuple[str, ...]
    #: ``(args, kwargs)`` pickled, outputs of other tasks standing in as :class:`Output`.
    arguments: bytes

    #: sha256 of the arguments as the step sees them, bound to its parameter names.
    literal_digest: str


class Graph:
    """The tasks of a pipeline in the order they were added."""

    def __init__(self, pipeline: str) -> None:
        self.pipeline = pipeline
        self.tasks: dict[str, Task] = {}
        self._calls: dict[str, int] = {}

    def add(
        self,
        step: Step[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        *,
        label: str | None = None,
    ) -> Output:
        try:
            bound = step.signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise InvalidInputError(
                f"pipeline {self.pipeline!r}: step {step.name!r} called with the wrong inputs "
                f"({exc}); it takes {step.name}{step.signature}"
            ) from None
        name = label or self._next_name(step.name)
        if name in self.tasks:
            raise InvalidInputError(f"pipeline {self.pipeline!r} has two tasks named {name!r}")
        upstream = tuple(dict.fromkeys(o.task for o in outputs_in((args, kwargs))))
        bound.apply_defaults()
        try:
            literals = pickle.dumps((args, kwargs), protocol=5)
            digest = hashlib.sha256(_canonical_pickle(bound.arguments)).hexdigest()
        except Exception as exc:
            raise InvalidInputError(
                f"pipeline {self.pipeline!r}: an argument of step {step.name!r} cannot be sent "
                f"to a worker process ({type(exc).__name__}: {exc}); pass data that pickles, "
                "or make it inside the step"
            ) from None
        self.tasks[name] = Task(name, step, args, dict(kwargs), upstream, literals, digest)
        return Output(name)

    def validate(self) -> None:
        """Refuse references to tasks that do not exist, and cycles."""
        if not self.tasks:
            raise InvalidInputError(f"pipeline {self.pipeline!r} calls no steps")
        for task in self.tasks.values():
            for name in task.upstream:
                if name not in self.tasks:
                    raise InvalidInputError(
                        f"pipeline {self.pipeline!r}: task {task.name!r} takes the output of "
                        f"{name!r}, which no step in the pipeline makes"
                    )
        cycle = self._find_cycle()
        if cycle:
            raise InvalidInputError(
                f"pipeline {self.pipeline!r} has a cycle: {' -> '.join(cycle)}; a task can "
                "only take outputs of tasks that do not depend on it"
            )

    def downstream(self) -> dict[str, list[str]]:
        below: dict[str, list[str]] = {name: [] for name in self.tasks}
        for task in self.tasks.values():
            for name in task.upstream:
                below[name].append(task.name)
        return below

    def longest_path_after(self, seconds: Callable[[Task], float]) -> dict[str, float]:
        """For each task, the longest chain of ``seconds`` among the tasks that wait on it."""
        below = self.downstream()
        after: dict[str, float] = {}
        for name in reversed(self.order()):
            after[name] = max((seconds(self.tasks[b]) + after[b] for b in below[name]), default=0.0)
        return after

    def order(self) -> list[str]:
        """Task names with every task after the tasks it takes outputs from."""
        placed: dict[str, None] = {}
        for name in self.tasks:
            self._place(name, placed)
        return list(placed)

    def _next_name(self, step_name: str) -> str:
        calls = self._calls[step_name] = self._calls.get(step_name, 0) + 1
        return step_name if calls == 1 else f"{step_name}#{calls}"

    def _place(self, name: str, placed: dict[str, None]) -> None:
        stack = [(name, iter(self.tasks[name].upstream))]
        while stack:
            current, pending = stack[-1]
            for up in pending:
                if up not in placed:
                    stack.append((up, iter(self.tasks[up].upstream)))
                    break
            else:
                stack.pop()
                placed[current] = None

    def _find_cycle(self) -> list[str]:
        state: dict[str, int] = {}  # 1: on the current path, 2: finished
        for start in self.tasks:
            if start in state:
                continue
            path = [start]
            stack = [iter(self.tasks[start].upstream)]
            state[start] = 1
            while stack:
                for up in stack[-1]:
                    if state.get(up) == 1:
                        loop = path[path.index(up) :] + [up]
                        return list(reversed(loop))
                    if up not in state:
                        state[up] = 1
                        path.append(up)
                        stack.append(iter(self.tasks[up].upstream))
                        break
                else:
                    state[path.pop()] = 2
                    stack.pop()
        return []


def outputs_in(value: Any) -> Iterator[Output]:
    """Every :class:`Output` inside ``value`` (lists, tuples and dict values)."""
    if isinstance(value, Output):
        yield value
    elif isinstance(value, list | tuple):
        for item in value:
            yield from outputs_in(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from outputs_in(item)


def substitute(value: Any, values: dict[str, Any]) -> Any:
    """``value`` with every :class:`Output` replaced by that task's value.

    Containers without outputs inside are passed on as they are (a namedtuple stays one).
    """
    if isinstance(value, Output):
        return values[value.task]
    if next(outputs_in(value), None) is None:
        return value
    if isinstance(value, list):
        return [substitute(item, values) for item in value]
    if isinstance(value, tuple):
        return tuple(substitute(item, values) for item in value)
    if isinstance(value, dict):
        return {key: substitute(item, values) for key, item in value.items()}
    return value


def _canonical_pickle(value: Any) -> bytes:
    """Pickle bytes that do not depend on the process: sets, whose order follows the
    hash seed, are written as sorted lists."""
    return pickle.dumps(_sorted_sets(value), protocol=5)


def _sorted_sets(value: Any) -> Any:
    if isinstance(value, set | frozenset):
        return (type(value).__name__, sorted((_sorted_sets(v) for v in value), key=repr))
    if type(value) in (list, tuple):
        return type(value)(_sorted_sets(v) for v in value)
    if type(value) is dict:
        return {k: _sorted_sets(v) for k, v in value.items()}
    return value
