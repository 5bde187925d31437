"""Pruners: rules that stop hopeless trials early, from the values they report."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlpilot.errors import InvalidInputError
from mlpilot.tune.pruners._asha import ASHA
from mlpilot.tune.pruners._base import Progress, Pruner, ReportHistory
from mlpilot.tune.pruners._median import Median

__all__ = ["ASHA", "PRUNERS", "Median", "Progress", "Pruner", "ReportHistory", "make_pruner"]

#: Pruners by the name a study is told to use.
PRUNERS: dict[str, type[Pruner]] = {"asha": ASHA, "median": Median}


def make_pruner(
    pruner: str | Pruner | None, options: Mapping[str, Any] | None = None
) -> Pruner | None:
    """The pruner ``pruner`` names (``None`` or ``"none"`` for no pruning)."""
    if pruner is None or pruner == "none":
        return None
    if isinstance(pruner, Pruner):
        return pruner
    if pruner not in PRUNERS:
        raise InvalidInputError(
            f"unknown pruner {pruner!r}; choose one of {', '.join(PRUNERS)} or none"
        )
    try:
        return PRUNERS[pruner](**(options or {}))
    except TypeError as exc:
        raise InvalidInputError(f"pruner {pruner!r}: {exc}") from None
