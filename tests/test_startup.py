"""Start-up cost: importing mlpilot, or asking the CLI for help, loads no heavy library.

Every CLI command starts a new interpreter, so a library imported at start-up is paid on
each ``mlpilot ...``; these tests name the modules a start loads instead of timing it.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import mlpilot

#: Libraries that cost tenths of a second each to import.
HEAVY = (
    "pandas",
    "pyarrow",
    "scipy",
    "sklearn",
    "optuna",
    "fastapi",
    "matplotlib",
    "ray",
    "torch",
)


def _loaded_after(code: str) -> dict[str, list[str]]:
    probe = (
        f"{code}\n"
        "import json, sys\n"
        "mods = sorted(sys.modules)\n"
        "print(json.dumps({'heavy': [m for m in mods if m.split('.')[0] in "
        f"{HEAVY!r}], 'mlpilot': [m for m in mods if m.startswith('mlpilot')]}}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    result: dict[str, list[str]] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_importing_mlpilot_loads_no_heavy_library() -> None:
    loaded = _loaded_after("import mlpilot")
    assert loaded["heavy"] == []


def test_cli_help_loads_no_command_module_and_no_heavy_library() -> None:
    loaded = _loaded_after(
        "from mlpilot.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass"
    )
    assert loaded["heavy"] == []
    commands = [m for m in loaded["mlpilot"] if m.startswith("mlpilot.cli._")]
    assert set(commands) <= {"mlpilot.cli._app", "mlpilot.cli._output", "mlpilot.cli._state"}


@pytest.mark.parametrize("name", sorted(mlpilot._EXPORTS))
def test_every_public_name_resolves(name: str) -> None:
    assert getattr(mlpilot, name) is not None
    assert name in mlpilot.__all__ and name in dir(mlpilot)


def test_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        _ = mlpilot.nothing_here  # type: ignore[attr-defined]
