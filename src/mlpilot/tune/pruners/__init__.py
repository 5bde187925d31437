"""Pruners: rules that stop hopeless trials early, from the values they report.

Pruners are found by name in :data:`PRUNERS`; packages add more through the entry point
group ``mlpilot.pruners``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlpilot._plugins import Registry
from mlpilot.errors import InvalidInputError
from mlpilot.tune.pruners._asha import ASHA
from mlpilot.tune.pruners._base import Progress, Pruner, ReportHistory
from mlpilot.tune.pruners._median import Median

__all__ = ["ASHA", "PRUNERS", "Median", "Progress", "Pruner", "ReportHistory", "make_pruner"]

#: Pruners by the name a study is told to use.
PRUNERS: Registry[Pruner] = Registry(
    "pruners",
    "pruner",
    Pruner,
    {"asha": "mlpilot.tune.pruners._asha:ASHA", "median": "mlpilot.tune.pruners._median:Median"},
)


def make_pruner(
    pruner: str | Pruner | None, options: Mapping[str, Any] | None = None
) -> Pruner | None:
    """The pruner ``pruner`` names, made with ``options`` (``None`` or ``"none"`` for no
    pruning); a :class:`Pruner` is used as it is."""
    if pruner is None or pruner == "none":
        return None
    if isinstance(pruner, str) and pruner not in PRUNERS:
        raise InvalidInputError(
            f"unknown pruner {pruner!r}; choose one of {', '.join(PRUNERS)} or none"
        )
    return PRUNERS.get(pruner, **(options or {}))
