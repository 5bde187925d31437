"""Starting a pipeline run in a process of its own, as ``mlpilot pipelines run`` does
from a shell: for what runs pipelines on its own (a retrain, a trigger)."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlpilot.config import Settings

_SETTING_NAMES = {field.name for field in dataclasses.fields(Settings)}


def launch_pipeline(
    settings: Settings,
    pipeline: str,
    params: Mapping[str, Any],
    *,
    tags: Mapping[str, str],
    actor: str,
    log_path: Path,
) -> subprocess.Popen[bytes]:
    """Start ``pipeline`` (``FILE:NAME``) with ``params`` against the store of
    ``settings``, its run tagged ``tags`` and recorded as ``actor``'s, its output in
    ``log_path``; the process runs in a session of its own, so it outlives its starter.

    Raises:
        OSError: the process could not be started.
    """
    command = [sys.executable, "-m", "mlpilot", "pipelines", "run", pipeline, "--json"]
    for key, value in tags.items():
        command += ["--tag", f"{key}={value}"]
    for key, value in params.items():
        command += ["--param", f"{key}={json.dumps(value)}"]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log:
        return subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            # The settings travel in the environment only: a command line is visible to
            # every user of the machine (``ps``), and a store URI may hold a password.
            env=settings_environment(dataclasses.replace(settings, user=actor)),
            start_new_session=True,
        )


def settings_environment(settings: Settings) -> dict[str, str]:
    """This process's environment with ``settings`` as ``MLPILOT_*`` variables, so that
    a child process opens the same store with the same settings."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not (name.startswith("MLPILOT_") and name[8:].lower() in _SETTING_NAMES)
    }
    for field in dataclasses.fields(settings):
        value = getattr(settings, field.name)
        if value is not None:
            env[f"MLPILOT_{field.name.upper()}"] = str(value)
    return env
