"""Finding a pipeline by the ``FILE:NAME`` or ``MODULE:NAME`` a user or a run names."""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from pathlib import Path
from typing import Any

from mlpilot.errors import InvalidInputError, NotFoundError
from mlpilot.schedule._pipeline import Pipeline, _loaded_from_files
from mlpilot.schedule._worker import load_file_as


def load_pipeline(spec: str) -> Pipeline:
    """The pipeline ``spec`` names: ``path/to/file.py:name`` or ``package.module:name``."""
    where, sep, name = spec.rpartition(":")
    if not sep or not where or not name:
        raise InvalidInputError(
            f"name a pipeline as FILE:PIPELINE or MODULE:PIPELINE (e.g. flows.py:train), "
            f"not {spec!r}"
        )
    module = _load_file(where) if where.endswith(".py") or os.sep in where else _import(where)
    found = getattr(module, name, None)
    if not isinstance(found, Pipeline):
        names = sorted(n for n, v in vars(module).items() if isinstance(v, Pipeline))
        raise NotFoundError(
            f"{where} has no pipeline {name!r}; "
            + (f"its pipelines: {', '.join(names)}" if names else "it defines no @pipeline")
        )
    return found


def _import(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise NotFoundError(f"cannot import {name!r}: {exc}") from None


def _load_file(where: str) -> Any:
    path = Path(where).resolve()
    if not path.is_file():
        raise NotFoundError(f"no pipeline file {where}")
    name = path.stem
    loaded = sys.modules.get(name)
    if loaded is not None and getattr(loaded, "__file__", None) == str(path):
        return loaded
    if loaded is not None or not name.isidentifier():
        name = "mlpilot_pipeline_" + "".join(c if c.isalnum() else "_" for c in path.stem)
    _loaded_from_files.add(name)
    try:
        return load_file_as(name, str(path))
    except Exception as exc:
        raise InvalidInputError(
            f"{where} failed while loading: {type(exc).__name__}: {exc}"
        ) from exc
