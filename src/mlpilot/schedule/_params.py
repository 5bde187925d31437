"""Pipeline parameters checked against the pipeline function's annotations.

A run stores its parameters as JSON, so that a resumed run rebuilds the same graph;
they are checked when the run starts, before any task runs: a ``list[str]`` parameter
given the text ``"logreg"`` would otherwise fan out into one task per character.
"""

from __future__ import annotations

import collections.abc
import inspect
import json
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any

from mlpilot.errors import InvalidInputError

# Annotations whose values are JSON arrays.
_SEQUENCES: tuple[Any, ...] = (
    list,
    tuple,
    set,
    frozenset,
    collections.abc.Sequence,
    collections.abc.MutableSequence,
    collections.abc.Collection,
    collections.abc.Iterable,
    collections.abc.Set,
)
# Annotations whose values are JSON objects.
_MAPPINGS: tuple[Any, ...] = (dict, collections.abc.Mapping, collections.abc.MutableMapping)


def annotations_of(fn: Callable[..., Any]) -> dict[str, Any]:
    """The parameter annotations of ``fn`` that can be resolved, by name."""
    try:
        hints = typing.get_type_hints(fn)
    except Exception:  # an annotation naming what the module cannot import: unchecked
        return {}
    names = inspect.signature(fn).parameters
    return {name: hint for name, hint in hints.items() if name in names}


def read_text(pipeline: str, name: str, text: str, hint: Any) -> Any:
    """The value of parameter ``name`` given as command-line text.

    Text is read as JSON, except for a parameter that takes text (``str``), which gets
    the text as it is (or, written as a JSON string, ``"..."``, what it says, so that
    what a program writes with ``json.dumps`` reads back the same); a parameter with no
    annotation gets the text if it is not JSON.

    Raises:
        InvalidInputError: The parameter takes something other than text and ``text``
            is not JSON.
    """
    if hint is not None and _takes_text(hint):
        if text.startswith('"'):
            try:
                decoded = json.loads(text)
            except ValueError:
                return text
            if isinstance(decoded, str):
                return decoded
        return text
    try:
        return json.loads(text)
    except ValueError:
        if hint is None or hint is Any:
            return text
        raise InvalidInputError(
            f"pipeline {pipeline!r}: parameter {name!r} takes {describe(hint)}, and "
            f"{text!r} is not one written as JSON; e.g. --param {name}='{_example(hint, text)}'"
        ) from None


def check_value(pipeline: str, name: str, value: Any, hint: Any) -> None:
    """Refuse ``value`` for parameter ``name`` if it does not match ``hint``.

    Annotations other than builtin scalars, containers, unions, ``Literal`` and
    ``None`` are not checked.
    """
    if not conforms(value, hint):
        raise InvalidInputError(
            f"pipeline {pipeline!r}: parameter {name!r} takes {describe(hint)}, not "
            f"{value!r} ({type(value).__name__}); on the command line e.g. "
            f"--param {name}='{_example(hint, value)}'"
        )


def conforms(value: Any, hint: Any) -> bool:
    """Whether ``value`` (a JSON value) matches the annotation ``hint``."""
    if hint is Any or hint is object:
        return True
    if hint is None or hint is type(None):
        return value is None
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Union or origin is types.UnionType:
        return any(conforms(value, arg) for arg in args)
    if origin is typing.Literal:
        return value in args
    if origin is typing.Annotated:
        return conforms(value, args[0])
    container = origin if origin is not None else hint
    if container in _SEQUENCES:
        if not isinstance(value, list | tuple | set | frozenset):
            return False
        if container is tuple and args and args[-1] is not Ellipsis:
            return len(value) == len(args) and all(map(conforms, value, args))
        return not args or all(conforms(item, args[0]) for item in value)
    if container in _MAPPINGS:
        if not isinstance(value, dict):
            return False
        return len(args) != 2 or all(
            conforms(k, args[0]) and conforms(v, args[1]) for k, v in value.items()
        )
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    return True  # a type JSON has no notion of: not checked


def describe(hint: Any) -> str:
    if isinstance(hint, type) and not typing.get_args(hint):
        return hint.__name__
    return str(hint).replace("typing.", "").replace("collections.abc.", "")


def _takes_text(hint: Any) -> bool:
    """Whether the annotation is ``str`` or ``str | None``."""
    if hint is str:
        return True
    origin = typing.get_origin(hint)
    if origin is typing.Union or origin is types.UnionType:
        return {arg for arg in typing.get_args(hint)} == {str, type(None)}
    return False


def _example(hint: Any, given: Any) -> str:
    """The JSON a user may have meant for ``hint`` when they wrote ``given``."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is typing.Union or origin is types.UnionType:
        usable = [arg for arg in args if arg is not type(None)]
        return _example(usable[0], given) if usable else "null"
    container = origin if origin is not None else hint
    if container in _SEQUENCES:
        items = given if isinstance(given, list) else [given]
        return json.dumps(items)
    if container in _MAPPINGS:
        return json.dumps({"key": given})
    if hint is bool:
        return "true"
    if hint in (int, float):
        return "3"
    return json.dumps(given)


def parse_texts(pipeline: str, fn: Callable[..., Any], texts: Mapping[str, str]) -> dict[str, Any]:
    """Values for parameters given as command-line text (see :func:`read_text`)."""
    hints = annotations_of(fn)
    return {name: read_text(pipeline, name, text, hints.get(name)) for name, text in texts.items()}
