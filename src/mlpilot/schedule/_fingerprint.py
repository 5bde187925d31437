"""The fingerprint of a step's code: what must change for its cached output to go stale.

A step's behaviour depends on more than its own body: on the helper functions and
classes it calls from the user's module, on the module's constants, and on the helpers
those call in turn. The fingerprint hashes the source of the step and of everything it
reaches by name in its own module (transitively), plus the values of plain constants.
Library code (anything defined in another module) is left out: it changes with the
installed version, which a user pins elsewhere.
"""

from __future__ import annotations

import hashlib
import inspect
import marshal
import types
from collections.abc import Iterator
from typing import Any

# Constants whose value, not their identity, belongs in the fingerprint.
_PLAIN = (bool, int, float, complex, str, bytes, type(None))


def code_fingerprint(fn: types.FunctionType) -> str:
    """A sha256 over ``fn``'s source and that of what it uses from its own module."""
    digest = hashlib.sha256()
    seen: set[int] = set()
    pending: list[Any] = [fn]
    module = fn.__module__
    while pending:
        obj = pending.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        digest.update(_describe(obj))
        pending.extend(_referenced(obj, module))
    return digest.hexdigest()


def _describe(obj: Any) -> bytes:
    name = getattr(obj, "__qualname__", type(obj).__name__).encode()
    try:
        body = inspect.getsource(obj).encode()
    except (OSError, TypeError):
        code = getattr(obj, "__code__", None)
        body = marshal.dumps(code) if code is not None else repr(obj).encode()
    return name + b"\0" + body + b"\0"


def _referenced(obj: Any, module: str) -> Iterator[Any]:
    """What ``obj`` names that is defined in ``module`` (functions, classes, constants)."""
    fn = getattr(obj, "__wrapped__", obj)
    if isinstance(obj, type):
        for member in vars(obj).values():
            member = getattr(member, "__func__", member)
            if isinstance(member, types.FunctionType):
                yield from _referenced(member, module)
        return
    if not isinstance(fn, types.FunctionType):
        return
    namespace = fn.__globals__
    for name in _names(fn.__code__):
        if name not in namespace:
            continue
        value = namespace[name]
        target = getattr(value, "fn", value)  # a Step wraps the function it runs
        if isinstance(target, types.FunctionType | type) and target.__module__ == module:
            yield target
        elif isinstance(value, _PLAIN) or _is_plain_container(value):
            yield _Constant(name, value)


def _names(code: types.CodeType) -> Iterator[str]:
    yield from code.co_names
    for const in code.co_consts:
        if isinstance(const, types.CodeType):  # nested functions, lambdas, comprehensions
            yield from _names(const)


def _is_plain_container(value: Any) -> bool:
    if isinstance(value, tuple | frozenset | list | set):
        return all(isinstance(item, _PLAIN) for item in value)
    if isinstance(value, dict):
        return all(isinstance(k, _PLAIN) and isinstance(v, _PLAIN) for k, v in value.items())
    return False


class _Constant:
    """A module constant, described by its name and value."""

    def __init__(self, name: str, value: Any) -> None:
        self.__qualname__ = name
        self.value = value

    def __repr__(self) -> str:
        if isinstance(self.value, set | frozenset):  # iteration order varies by process
            return repr(sorted(self.value, key=repr))
        return repr(self.value)
