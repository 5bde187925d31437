"""Finding a pipeline, or any function, by the ``FILE:NAME`` or ``MODULE:NAME`` a user or
a stored run names."""

from __future__ import annotations

import importlib
import inspect
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from mlpilot.errors import InvalidInputError, NotFoundError
from mlpilot.schedule._pipeline import Pipeline
from mlpilot.schedule._worker import load_file_as, loaded_from_files


def load_pipeline(spec: str) -> Pipeline:
    """The pipeline ``spec`` names: ``path/to/file.py:name`` or ``package.module:name``."""
    found: Pipeline = load_named(
        spec, "pipeline", lambda v: isinstance(v, Pipeline), "@pipeline", "flows.py:train"
    )
    return found


def checked_pipeline(target: str, params: Mapping[str, Any]) -> str:
    """``target`` once it loads as a pipeline that takes ``params``; a file is named by its
    absolute path, for a process that runs it later from another folder.

    Raises:
        NotFoundError: no such file or pipeline.
        InvalidInputError: a parameter the pipeline does not take, or of the wrong type.
    """
    load_pipeline(target).params(params)
    where, _, name = target.rpartition(":")
    if where.endswith(".py") or os.sep in where:
        return f"{Path(where).resolve()}:{name}"
    return target


def load_named(
    spec: str, what: str, accept: Callable[[Any], bool], marker: str, example: str
) -> Any:
    """The ``what`` that ``spec`` names (``FILE:NAME`` or ``MODULE:NAME``), which must pass
    ``accept``; ``marker`` says how such a thing is made, ``example`` what a spec looks like.
    """
    where, sep, name = spec.rpartition(":")
    if not sep or not where or not name:
        raise InvalidInputError(
            f"name a {what} as FILE:NAME or MODULE:NAME (e.g. {example}), not {spec!r}"
        )
    module = _load_file(where, what) if where.endswith(".py") or os.sep in where else _import(where)
    found = module
    for part in name.split("."):
        found = getattr(found, part, None)
    if found is None or not accept(found):
        names = sorted(n for n, v in vars(module).items() if accept(v) and _defined_in(v, module))
        raise NotFoundError(
            f"{where} has no {what} {name!r}; "
            + (f"its {what}s: {', '.join(names)}" if names else f"it defines no {marker}")
        )
    return found


def _defined_in(value: Any, module: Any) -> bool:
    """Whether ``value`` is the module's own, not a function it imported from elsewhere."""
    return not inspect.isfunction(value) or value.__module__ == module.__name__


def _import(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise NotFoundError(f"cannot import {name!r}: {exc}") from None


def _load_file(where: str, what: str) -> Any:
    path = Path(where).resolve()
    if not path.is_file():
        raise NotFoundError(f"no {what} file {where}")
    name = path.stem
    loaded = sys.modules.get(name)
    if loaded is not None and getattr(loaded, "__file__", None) == str(path):
        return loaded
    if loaded is not None or not name.isidentifier():
        name = "mlpilot_file_" + "".join(c if c.isalnum() else "_" for c in path.stem)
    loaded_from_files.add(name)
    try:
        return load_file_as(name, str(path))
    except Exception as exc:
        raise InvalidInputError(
            f"{where} failed while loading: {type(exc).__name__}: {exc}"
        ) from exc
