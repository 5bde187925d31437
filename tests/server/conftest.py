"""Fixtures for the server's tests: real server processes, each on a store of its own.

``settings`` here are a client's: their store is the address of a server process that
serves a new, empty store on the backend of ``store_uri`` (SQLite or PostgreSQL), so
every test written against a :class:`~mlpilot.store.Store` runs over HTTP unchanged.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import psutil
import pytest

from mlpilot.config import Settings, load_settings

SPAWNER = Path(__file__).with_name("_spawner.py")


class Spawner:
    """A process that forks server processes on request (see ``_spawner.py``)."""

    def __init__(self, workdir: Path) -> None:
        env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
        self.process = subprocess.Popen(
            [sys.executable, str(SPAWNER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=workdir,
            env=env,
            text=True,
        )

    def start(self, **settings: Any) -> tuple[int, int]:
        """Start a server on ``settings``; its process id and port."""
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps(settings) + "\n")
        self.process.stdin.flush()
        line = _read_line(self.process.stdout)
        started = json.loads(line)
        return int(started["pid"]), int(started["port"])

    def close(self) -> None:
        self.process.kill()
        self.process.communicate()


def _read_line(stream: IO[str]) -> str:
    line = stream.readline()
    if not line:
        pytest.fail("the server spawner ended without starting a server")
    return line


def stop(pid: int) -> None:
    """Kill a server process and wait until it is gone (its store is used next)."""
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 10
    while psutil.pid_exists(pid) and time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return
        except psutil.NoSuchProcess:
            return
        time.sleep(0.01)


@pytest.fixture(scope="session")
def spawner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Spawner]:
    running = Spawner(tmp_path_factory.mktemp("spawner"))
    yield running
    running.close()


@pytest.fixture
def server_settings(store_uri: str, tmp_path: Path) -> Settings:
    """The settings the server runs with: the database and artifacts it holds."""
    return load_settings(
        home=str(tmp_path / "server"),
        store_uri=store_uri,
        artifacts_uri=(tmp_path / "server-artifacts").as_uri(),
        user="server",
    )


@pytest.fixture
def server_url(spawner: Spawner, server_settings: Settings) -> Iterator[str]:
    pid, port = spawner.start(
        home=str(server_settings.home),
        store_uri=server_settings.store_uri,
        artifacts_uri=server_settings.artifacts_uri,
        user=server_settings.user,
    )
    yield f"http://127.0.0.1:{port}"
    stop(pid)


@pytest.fixture
def settings(server_url: str, tmp_path: Path) -> Settings:
    """A client's settings: its store is the server."""
    return load_settings(home=str(tmp_path / ".mlpilot"), store_uri=server_url, user="tester")
