"""Package attributes that import their module on first use.

A package's ``__init__`` names what it exports and where each name lives; the module is
imported when the name is first read, so that importing the package (and every command
line call, which starts a new interpreter) pays only for what it uses.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def exports(
    package: str, namespace: dict[str, Any], names: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of ``package``, whose ``names`` map each public
    name to the module it comes from (``"mlpilot.store._store"``, or
    ``"mlpilot.serve:run"`` for an attribute of another name)."""

    def getattr_(name: str) -> Any:
        target = names.get(name)
        if target is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module, _, attribute = target.partition(":")
        value = getattr(importlib.import_module(module), attribute or name)
        namespace[name] = value  # later reads find it without calling this again
        return value

    def dir_() -> list[str]:
        return sorted({*namespace, *names})

    return getattr_, dir_
