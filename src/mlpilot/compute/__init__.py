"""The computing layer: executors that run tasks with the resources they ask for."""

from __future__ import annotations

import os

from mlpilot.compute._base import Executor, Resources, TaskOutcome
from mlpilot.compute._local import LocalExecutor
from mlpilot.compute._ray import RayExecutor
from mlpilot.errors import InvalidInputError

__all__ = [
    "Executor",
    "LocalExecutor",
    "RayExecutor",
    "Resources",
    "TaskOutcome",
    "create_executor",
    "executor_kind",
    "open_executor",
]

#: The executor kinds :func:`create_executor` knows.
_KINDS = ("local", "ray")


def create_executor(
    kind: str,
    *,
    cpus: int | None = None,
    gpus: int | None = None,
    memory_mb: int | None = None,
    address: str | None = None,
) -> Executor:
    """Make an executor by name: ``"local"`` (worker processes here) or ``"ray"``.

    Args:
        kind: ``"local"`` or ``"ray"``.
        cpus, gpus, memory_mb: Limits; by default all the machine's (or cluster's)
            cores and memory, and for ``"local"`` no GPUs.
        address: The Ray cluster to join (``"ray"`` only; by default a local Ray).

    Raises:
        InvalidInputError: An unknown kind, an address for ``"local"``, or limits the
            machine or cluster cannot meet.
    """
    if kind == "local":
        if address is not None:
            raise InvalidInputError(
                f"executor kind 'local' takes no address (got {address!r}); use kind 'ray'"
            )
        return LocalExecutor(cpus=cpus, gpus=gpus or 0, memory_mb=memory_mb)
    if kind == "ray":
        return RayExecutor(address=address, cpus=cpus, gpus=gpus, memory_mb=memory_mb)
    raise InvalidInputError(
        f"unknown executor kind {kind!r}; choose one of: {', '.join(map(repr, _KINDS))}"
    )


def open_executor(executor: str | Executor, cpus: int | None = None) -> tuple[Executor, bool]:
    """``executor`` itself, or a new one of that kind (``ray`` joins ``RAY_ADDRESS`` when
    it is set); the flag says whether the caller made it, and so shuts it down."""
    if isinstance(executor, Executor):
        return executor, False
    if executor == "ray":
        return create_executor("ray", cpus=cpus, address=os.environ.get("RAY_ADDRESS")), True
    return create_executor(executor, cpus=cpus), True


def executor_kind(pool: Executor) -> str:
    """The name that makes an executor like ``pool`` again, for a resumed run."""
    return "ray" if isinstance(pool, RayExecutor) else "local"
