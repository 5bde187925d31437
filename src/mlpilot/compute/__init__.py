"""The computing layer: executors that run tasks with the resources they ask for.

Executors are found by name in :data:`EXECUTORS`: ``local`` and ``ray`` are built in,
and packages add more through the entry point group ``mlpilot.executors``.
"""

from __future__ import annotations

import os

from mlpilot._plugins import Registry
from mlpilot.compute._base import Executor, Resources, TaskOutcome
from mlpilot.compute._local import LocalExecutor
from mlpilot.compute._ray import RayExecutor
from mlpilot.errors import InvalidInputError

__all__ = [
    "EXECUTORS",
    "Executor",
    "LocalExecutor",
    "RayExecutor",
    "Resources",
    "TaskOutcome",
    "create_executor",
    "executor_kind",
    "open_executor",
]

#: Executors by the name a run or study chooses them with.
EXECUTORS: Registry[Executor] = Registry(
    "executors",
    "executor",
    Executor,
    {"local": "mlpilot.compute._local:LocalExecutor", "ray": "mlpilot.compute._ray:RayExecutor"},
)


def create_executor(
    kind: str,
    *,
    cpus: int | None = None,
    gpus: int | None = None,
    memory_mb: int | None = None,
    address: str | None = None,
) -> Executor:
    """Make an executor by name: ``"local"`` (worker processes here), ``"ray"``, or one
    a plug-in provides.

    Args:
        kind: A name from :data:`EXECUTORS`.
        cpus, gpus, memory_mb: Limits; by default all the machine's (or cluster's)
            cores and memory, and for ``"local"`` no GPUs. Only the limits given are
            passed on to the executor.
        address: The cluster to join (``"ray"`` and plug-ins that take one; by default
            a local Ray).

    Raises:
        InvalidInputError: An unknown kind, an option the executor does not take (an
            address for ``"local"``), or limits the machine or cluster cannot meet.
    """
    given = {"cpus": cpus, "gpus": gpus, "memory_mb": memory_mb, "address": address}
    return EXECUTORS.get(kind, **{key: value for key, value in given.items() if value is not None})


def open_executor(executor: str | Executor, cpus: int | None = None) -> tuple[Executor, bool]:
    """``executor`` itself, or a new one of that kind (``ray`` joins ``RAY_ADDRESS`` when
    it is set); the flag says whether the caller made it, and so shuts it down."""
    if isinstance(executor, Executor):
        return executor, False
    if ":" in executor and executor not in EXECUTORS:
        raise InvalidInputError(
            f"this was run on the executor {executor}, which has no name to make it by; "
            "pass an instance of it as the executor"
        )
    if executor == "ray":
        return create_executor("ray", cpus=cpus, address=os.environ.get("RAY_ADDRESS")), True
    return create_executor(executor, cpus=cpus), True


def executor_kind(pool: Executor) -> str:
    """The name that makes an executor like ``pool`` again, for a resumed run.

    An executor class that declares no ``name`` is recorded by its import path; resuming
    then needs the executor passed again, and says so rather than switching kinds.
    """
    name = getattr(type(pool), "name", None)
    if isinstance(name, str):
        return name
    return f"{type(pool).__module__}:{type(pool).__qualname__}"
