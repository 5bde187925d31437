"""The fingerprint of a step's code: what must change for its cached output to go stale.

A step's behaviour depends on more than its own body: on the helper functions and
classes it calls, on module constants and default values, and on the helpers those
call in turn. The fingerprint hashes the source of the step and of everything it
reaches by name (transitively) that is the user's own code, plus the values of plain
constants (numbers, text, and lists, tuples, sets and dicts of them). A module the
step uses as a whole (``helpers.clean(...)``) counts with its whole source. Library
code (the standard library, installed packages, mlpilot) is left out: it changes with
the installed version, which a user pins elsewhere.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import marshal
import os
import sys
import sysconfig
import types
from collections.abc import Iterator
from typing import Any

# Constants whose value, not their identity, belongs in the fingerprint.
_PLAIN = (bool, int, float, complex, str, bytes, type(None))


def code_fingerprint(fn: types.FunctionType) -> str:
    """A sha256 over ``fn``'s source and that of the user's code it uses."""
    digest = hashlib.sha256()
    seen: set[Any] = set()
    pending: list[Any] = [fn]
    while pending:
        obj = pending.pop()
        # A constant is made afresh each time it is found, and a freed one's id can be
        # taken by the next: it is known by its name and value, not by its id.
        key = (obj.__qualname__, repr(obj)) if isinstance(obj, _Constant) else id(obj)
        if key in seen:
            continue
        seen.add(key)
        digest.update(_describe(obj))
        pending.extend(_referenced(obj))
    return digest.hexdigest()


def _describe(obj: Any) -> bytes:
    name = getattr(obj, "__qualname__", getattr(obj, "__name__", type(obj).__name__)).encode()
    try:
        body = inspect.getsource(obj).encode()
    except (OSError, TypeError):
        code = getattr(obj, "__code__", None)
        body = marshal.dumps(code) if code is not None else repr(obj).encode()
    return name + b"\0" + body + b"\0"


def _referenced(obj: Any) -> Iterator[Any]:
    """The user's functions, classes, modules and plain constants that ``obj`` names."""
    if isinstance(obj, type):
        for member in vars(obj).values():
            member = getattr(member, "__func__", member)
            if isinstance(member, types.FunctionType):
                yield from _referenced(member)
        return
    fn = getattr(obj, "__wrapped__", obj)
    if not isinstance(fn, types.FunctionType):
        return
    for default in (*(fn.__defaults__ or ()), *(fn.__kwdefaults__ or {}).values()):
        if _is_plain(default):
            yield _Constant("default", default)
    namespace = fn.__globals__
    for name in _names(fn.__code__):
        if name not in namespace:
            continue
        value = namespace[name]
        target = getattr(value, "fn", value)  # a Step or Pipeline wraps its function
        if isinstance(target, types.FunctionType | type):
            if is_user_code(target.__module__):
                yield target
        elif isinstance(value, types.ModuleType):
            if is_user_code(value.__name__):
                yield value
        elif _is_plain(value):
            yield _Constant(name, value)


@functools.cache
def is_user_code(module_name: str) -> bool:
    """Whether ``module_name`` is the user's own code, not a library's."""
    if module_name.split(".")[0] == "mlpilot":
        return False
    module = sys.modules.get(module_name)
    file = getattr(module, "__file__", None)
    if not file:
        return module_name == "__main__"
    path = os.path.realpath(file)
    return not any(path.startswith(root + os.sep) for root in _library_roots())


@functools.cache
def _library_roots() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    names = ("stdlib", "platstdlib", "purelib", "platlib")
    return tuple({os.path.realpath(paths[n]) for n in names if n in paths})


def _names(code: types.CodeType) -> Iterator[str]:
    yield from code.co_names
    for const in code.co_consts:
        if isinstance(const, types.CodeType):  # nested functions, lambdas, comprehensions
            yield from _names(const)


def _is_plain(value: Any) -> bool:
    if isinstance(value, _PLAIN):
        return True
    if isinstance(value, tuple | frozenset | list | set):
        return all(_is_plain(item) for item in value)
    if isinstance(value, dict):
        return all(_is_plain(k) and _is_plain(v) for k, v in value.items())
    return False


class _Constant:
    """A module constant, described by its name and value."""

    def __init__(self, name: str, value: Any) -> None:
        self.__qualname__ = name
        self.value = value

    def __repr__(self) -> str:
        return _canonical_repr(self.value)


def _canonical_repr(value: Any) -> str:
    """``repr`` with sets in sorted order (their iteration order varies by process)."""
    if isinstance(value, set | frozenset):
        return "{" + ", ".join(sorted(_canonical_repr(v) for v in value)) + "}"
    if isinstance(value, list | tuple):
        return type(value).__name__ + "(" + ", ".join(_canonical_repr(v) for v in value) + ")"
    if isinstance(value, dict):
        items = (f"{_canonical_repr(k)}: {_canonical_repr(v)}" for k, v in value.items())
        return "{" + ", ".join(items) + "}"
    return repr(value)
