"""One registry per extension point: built-ins by name, plug-ins from entry points.

mlpilot's extension points (executors, allocation policies, samplers, pruners, drift
tests, alert actions, model flavors) are each a :class:`Registry`. Its built-ins are a
table of ``"module:attr"`` strings imported only when first used, so that building the
table imports nothing heavy. Other packages add implementations without editing mlpilot
by declaring entry points in the group ``mlpilot.<point>``, e.g. in their
``pyproject.toml``::

    [project.entry-points."mlpilot.executors"]
    slurm = "mlpilot_slurm:SlurmExecutor"

    [project.entry-points."mlpilot.drift_tests"]
    wasserstein = "mlpilot_extra.drift:WassersteinTest"

after which ``executor="slurm"`` or ``tests=("wasserstein",)`` finds them. The entry
point's name is the name users give; a class it names carries the same ``name`` class
attribute. Built-ins keep their names: a plug-in that reuses one is ignored, with a
warning.

Artifact backends are not a registry here: they are fsspec filesystems, which fsspec's
own registry and its ``fsspec.specs`` entry points already make pluggable.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import warnings
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

from mlpilot.errors import InvalidInputError

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

T = TypeVar("T")

__all__ = ["PluginError", "Registry"]


class PluginError(InvalidInputError):
    """A plug-in cannot be used: its import failed or it names the wrong kind of object."""


class Registry(Generic[T]):
    """The implementations of one extension point, by name.

    ``registry[name]`` is the name's factory (usually the class), imported on first
    access; ``name in registry`` asks whether it is known; iterating gives the names,
    built-ins first in table order, then plug-ins sorted by name.

    Args:
        point: The extension point, e.g. ``"executors"``; plug-ins are read from the
            entry point group ``mlpilot.<point>``.
        what: How errors name one implementation, e.g. ``"executor"``.
        base: The type every implementation's objects are instances of, or its
            ``"module:attr"`` (imported only when an object is checked against it).
        builtins: Name to ``"module:attr"`` of its factory, in lookup order.

    Example::

        EXECUTORS: Registry[Executor] = Registry(
            "executors", "executor", Executor, {"local": "mlpilot.compute._local:LocalExecutor"}
        )
        EXECUTORS.get("local", cpus=2)      # a LocalExecutor
        EXECUTORS.get(my_executor)          # my_executor itself
    """

    def __init__(
        self, point: str, what: str, base: type[T] | str, builtins: Mapping[str, str]
    ) -> None:
        self.point = point
        self.group = f"mlpilot.{point}"
        self.what = what
        self._base = base
        self._builtins = dict(builtins)
        self._loaded: dict[str, Callable[..., T]] = {}
        self._found: dict[str, EntryPoint] | None = None

    @property
    def base(self) -> type[T]:
        """The type every implementation's objects are instances of."""
        if isinstance(self._base, str):
            self._base = cast("type[T]", _import(self._base))
        return self._base

    def names(self) -> list[str]:
        """Every name this point knows: built-ins first, then installed plug-ins."""
        return [*self._builtins, *self._plugins()]

    def get(self, name_or_instance: str | T, /, **options: Any) -> T:
        """The implementation ``name_or_instance`` names, made with ``options``; an
        object of the point's base type is returned as it is.

        Raises:
            InvalidInputError: An unknown name (the message lists the known ones),
                options the implementation does not take, or an object of another type.
            PluginError: The plug-in that provides the name cannot be imported.
        """
        if not isinstance(name_or_instance, str):
            if isinstance(name_or_instance, self.base):
                return name_or_instance
            raise InvalidInputError(
                f"a {self.what} is a name ({', '.join(self.names())}) or an instance of "
                f"{self.base.__name__}, got {name_or_instance!r}"
            )
        factory = self[name_or_instance]
        _check_options(factory, options, f"{self.what} {name_or_instance!r}")
        made = factory(**options)
        if not isinstance(made, self.base):
            raise PluginError(
                f"{self.what} {name_or_instance!r} made a {type(made).__name__}, "
                f"not a {self.base.__name__}"
            )
        return made

    def each(self, **options: Any) -> Iterator[T]:
        """One of every implementation, made with ``options``, in lookup order: built-ins
        first, then plug-ins. Each is imported only when iteration reaches it, so a
        caller that stops at the first match imports no more than it needs."""
        for name in self.names():
            yield self.get(name, **options)

    def __getitem__(self, name: str) -> Callable[..., T]:
        if isinstance(name, str) and name in self._loaded:
            return self._loaded[name]
        if name not in self:
            raise InvalidInputError(
                f"unknown {self.what} {name!r}; choose one of {', '.join(self.names())}"
            )
        if name in self._builtins:
            factory = cast("Callable[..., T]", _import(self._builtins[name]))
        else:
            factory = self._load_plugin(self._plugins()[name])
        declared = getattr(factory, "name", name) if isinstance(factory, type) else name
        if declared != name:
            raise PluginError(
                f"{self.what} {name!r} is the class {factory.__qualname__}, whose name "
                f"attribute says {declared!r}; the two must agree"
            )
        self._loaded[name] = factory
        return factory

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and (name in self._builtins or name in self._plugins())

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())

    def __repr__(self) -> str:
        return f"Registry({self.group!r}: {', '.join(self.names())})"

    def _plugins(self) -> dict[str, EntryPoint]:
        if self._found is None:
            found: dict[str, EntryPoint] = {}
            for entry in sorted(_entry_points(self.group), key=lambda e: e.name):
                if entry.name in self._builtins:
                    warnings.warn(
                        f"{_origin(entry)} declares the {self.what} {entry.name!r}, which "
                        "is built into mlpilot; the built-in is used",
                        stacklevel=2,
                    )
                elif entry.name in found:
                    warnings.warn(
                        f"{_origin(entry)} and {_origin(found[entry.name])} both declare the "
                        f"{self.what} {entry.name!r}; the latter is used",
                        stacklevel=2,
                    )
                else:
                    found[entry.name] = entry
            self._found = found
        return self._found

    def _load_plugin(self, entry: EntryPoint) -> Callable[..., T]:
        try:
            factory = entry.load()
        except Exception as exc:
            raise PluginError(
                f"the {self.what} {entry.name!r} from {_origin(entry)} cannot be loaded: "
                f"{entry.value} raised {type(exc).__name__}: {exc}"
            ) from exc
        if not callable(factory):
            raise PluginError(
                f"the {self.what} {entry.name!r} from {_origin(entry)} names "
                f"{entry.value}, which is not a class or function"
            )
        return cast("Callable[..., T]", factory)


def _check_options(factory: Callable[..., Any], options: Mapping[str, Any], what: str) -> None:
    """Refuse options ``factory`` does not take before calling it, so that a TypeError
    from inside it is not mistaken for the user's mistake."""
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):  # a callable without a readable signature
        return
    try:
        signature.bind(**options)
    except TypeError as exc:
        raise InvalidInputError(f"{what} does not take those options ({exc})") from None


def _import(target: str) -> Any:
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def _entry_points(group: str) -> list[EntryPoint]:
    """The entry points of ``group`` in the installed distributions."""
    return list(_installed().select(group=group))


@functools.cache
def _installed() -> Any:
    """Every installed entry point, read once: one scan of the distributions serves all
    the registries. Imported here, not at the top, so that a process that needs no
    plug-in pays nothing for it."""
    from importlib.metadata import entry_points

    return entry_points()


def _origin(entry: EntryPoint) -> str:
    dist = entry.dist
    package = f"the package {dist.name} {dist.version}" if dist is not None else "a package"
    return f"{package} (entry point {entry.group}:{entry.name} = {entry.value})"
