"""A step's fingerprint changes when the user's code it runs changes, and only then."""

from __future__ import annotations

import importlib
import linecache
import sys
import textwrap
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mlpilot.schedule._fingerprint import code_fingerprint, is_user_code

HELPERS = """
CONF = {{"layers": [{layers}, 2], "tags": {{"a", "b"}}}}

def clean(x):
    return x * {factor}
"""

STEPS = """
import {helpers} as helpers
from {helpers} import CONF

def unused():
    return {unused}

def train(x, scale={scale}):
    return helpers.clean(x) + len(CONF["layers"]) * scale
"""


@pytest.fixture
def write_modules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Any]]:
    monkeypatch.syspath_prepend(str(tmp_path))
    names = {"helpers": f"helpers_{uuid.uuid4().hex[:8]}", "steps": f"steps_{uuid.uuid4().hex[:8]}"}

    def write(layers: int = 1, factor: int = 2, unused: int = 0, scale: int = 1) -> str:
        (tmp_path / f"{names['helpers']}.py").write_text(
            textwrap.dedent(HELPERS.format(layers=layers, factor=factor))
        )
        (tmp_path / f"{names['steps']}.py").write_text(
            textwrap.dedent(STEPS.format(helpers=names["helpers"], unused=unused, scale=scale))
        )
        linecache.clearcache()
        importlib.invalidate_caches()
        for name in names.values():
            sys.modules.pop(name, None)
        module = importlib.import_module(names["steps"])
        return code_fingerprint(module.train)

    yield write
    for name in names.values():
        sys.modules.pop(name, None)


def test_the_fingerprint_follows_the_users_code(write_modules: Callable[..., str]) -> None:
    original = write_modules()

    assert write_modules() == original
    assert write_modules(unused=5) == original  # not called by the step
    assert write_modules(factor=3) != original  # a helper in another module of the user's
    assert write_modules(layers=7) != original  # a value nested in a constant
    assert write_modules(scale=2) != original  # a default value


def test_only_the_users_own_modules_count_as_its_code() -> None:
    import json  # noqa: F401  (the standard library)

    import sklearn  # noqa: F401  (an installed package)

    assert not is_user_code("json")
    assert not is_user_code("sklearn")
    assert not is_user_code("mlpilot.schedule")
    assert is_user_code(__name__)  # a module in the user's own folder


def _chain(count: int, changed: int | None) -> str:
    """Functions f0 -> f1 -> ... each using a constant of its own."""
    lines = []
    for i in range(count):
        value = i + 1000 if i == changed else i
        lines.append(f"C{i} = {{'v': {value}}}")
        call = f"f{i + 1}() + " if i + 1 < count else ""
        lines.append(f"def f{i}():\n    return {call}C{i}['v']")
    return "\n".join(lines)


def test_every_constant_counts_however_memory_is_reused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each constant along a chain of helpers changes the fingerprint: one found later is
    never mistaken for one already hashed (whose memory it may have taken)."""
    monkeypatch.syspath_prepend(str(tmp_path))

    def fingerprint(changed: int | None) -> str:
        module_name = f"chain_{uuid.uuid4().hex[:8]}"
        (tmp_path / f"{module_name}.py").write_text(_chain(30, changed))
        importlib.invalidate_caches()
        try:
            return code_fingerprint(importlib.import_module(module_name).f0)
        finally:
            sys.modules.pop(module_name, None)

    prints = [fingerprint(None), fingerprint(None), *(fingerprint(i) for i in range(1, 30, 4))]
    assert prints[0] == prints[1]
    assert len(set(prints)) == len(prints) - 1
