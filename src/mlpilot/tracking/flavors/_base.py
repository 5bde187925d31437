"""The interface every model format implements."""

from __future__ import annotations

import abc
import sys
from collections.abc import Sequence
from typing import Any, ClassVar


class Flavor(abc.ABC):
    """One way of storing a kind of model safely: the bytes it writes and how to read
    them back without running code that came with the file.

    A package adds a flavor by subclassing this and declaring it as an entry point in
    the group ``mlpilot.flavors`` under its :attr:`name`; it is made with no arguments.
    """

    #: Recorded with the model, and the key :func:`flavor_named` finds it by.
    name: ClassVar[str]
    #: The file the model's bytes are stored as, next to ``model.json``.
    file: ClassVar[str]
    #: The distributions whose versions are recorded with the model.
    packages: ClassVar[tuple[str, ...]]

    @abc.abstractmethod
    def accepts(self, model: Any) -> bool:
        """Whether ``model`` is this flavor's kind. Never imports the library: a model
        of a library that is not imported cannot be one of its objects."""

    @abc.abstractmethod
    def dump(
        self, model: Any, *, input_example: Any = None, classes: Sequence[Any] | None = None
    ) -> tuple[bytes, dict[str, Any]]:
        """The model's bytes, and what :meth:`load` needs besides them."""

    @abc.abstractmethod
    def load(self, data: bytes, meta: dict[str, Any], what: str) -> Any:
        """The model from its bytes; ``what`` names it in errors."""


def imported(module: str) -> Any:
    """The module if the process has imported it, else None."""
    return sys.modules.get(module)
