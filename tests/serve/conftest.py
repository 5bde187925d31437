"""Fixtures for the inference server: registered models, and real ``mlpilot serve``
processes on loopback ports, stopped (and checked stopped) after each test."""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import psutil
import pytest
import tomli_w
from prometheus_client.parser import text_string_to_metric_families

from mlpilot.config import Settings
from mlpilot.store import Event
from mlpilot.tracking import TrackingClient

from . import STRONG, body, data, register, rows

#: For tests where the store plays no part once the models are loaded: SQLite only.
sqlite_only = pytest.mark.parametrize("store_uri", ["sqlite"], indirect=True)

#: How long a server may take to load its models and answer /v2/health/ready.
READY_TIMEOUT_S = 60.0
#: How long a server may take to stop after SIGTERM.
STOP_TIMEOUT_S = 30.0


def mlpilot_command() -> list[str]:
    """The installed console script, or the same entry point through this Python."""
    beside_python = Path(sys.executable).parent / "mlpilot"
    found = str(beside_python) if beside_python.exists() else shutil.which("mlpilot")
    if found is not None:
        return [found]
    return [sys.executable, "-c", "from mlpilot.cli import main; main()"]


def store_options(settings: Settings) -> list[str]:
    return ["--store-uri", settings.store_uri, "--artifacts-uri", settings.artifacts_uri]


def run_cli(
    settings: Settings, *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run ``mlpilot --store-uri ... serve ARGS...`` to its end."""
    return subprocess.run(
        [*mlpilot_command(), *store_options(settings), "serve", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "COLUMNS": "200"},
        stdin=subprocess.DEVNULL,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def eventually(
    condition: Callable[[], Any], what: str, *, timeout_s: float = 60.0, every_s: float = 0.1
) -> Any:
    """Poll ``condition`` until it returns something true (returned); fail after
    ``timeout_s`` saying ``what`` never happened."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen within {timeout_s:.0f} s")
        time.sleep(every_s)


def logged_rows(
    client: TrackingClient, model: str, count: int, *, roles: Sequence[str] = ("primary", "canary")
) -> pd.DataFrame:
    """The prediction log's rows of ``model`` in ``roles``, once there are ``count``
    (the log writes about every second)."""
    found: list[pd.DataFrame] = []

    def enough() -> bool:
        found.append(client.store.predictions.read(model, roles=roles))
        return len(found[-1]) >= count

    eventually(enough, f"{count} rows of {model} ({', '.join(roles)}) in the prediction log")
    return found[-1]


def events_of_kind(client: TrackingClient, kind: str) -> list[Event]:
    return [event for event in client.store.events.read(kind) if event.kind == kind]


@dataclasses.dataclass
class RunningServer:
    """One ``mlpilot serve`` process and an HTTP client bound to it."""

    url: str
    process: subprocess.Popen[bytes]
    log: Path
    http: httpx.Client

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def predict(self, name: str, payload: Any, **options: Any) -> httpx.Response:
        return self.http.post(f"/models/{name}/predict", json=payload, **options)

    def slots(self, name: str) -> list[dict[str, Any]]:
        """The slots ``GET /models`` lists for ``name``."""
        response = self.http.get("/models")
        assert response.status_code == 200, response.text
        [model] = [m for m in response.json() if m["name"] == name]
        slots: list[dict[str, Any]] = model["slots"]
        return slots

    def workers(self, name: str) -> int:
        """The primary version's workers of ``name``, as ``GET /models`` says."""
        count: int = self.slots(name)[0]["workers"]
        return count

    def worker_processes(self) -> list[psutil.Process]:
        """The server's worker processes (spawned children running a model)."""
        found = []
        for child in psutil.Process(self.process.pid).children(recursive=True):
            with contextlib.suppress(psutil.Error):
                if child.is_running() and child.status() != psutil.STATUS_ZOMBIE:
                    if any("spawn_main" in part for part in child.cmdline()):
                        found.append(child)
        return found

    def metric(self, name: str, **labels: str) -> float:
        """The sum of the samples called ``name`` whose labels include ``labels``."""
        response = self.http.get("/metrics")
        assert response.status_code == 200, response.text
        total = 0.0
        for family in text_string_to_metric_families(response.text):
            for sample in family.samples:
                if sample.name == name and labels.items() <= sample.labels.items():
                    total += sample.value
        return total

    def stop(self) -> int:
        """SIGTERM, then wait; fails if the process or one of its workers outlives it."""
        self.http.close()
        if self.process.poll() is not None:
            return self.process.returncode
        try:
            children = psutil.Process(self.process.pid).children(recursive=True)
        except psutil.Error:
            children = []
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            pytest.fail(f"the server did not stop on SIGTERM:\n{self.output()}")
        _, alive = psutil.wait_procs(children, timeout=STOP_TIMEOUT_S)
        for process in alive:
            with contextlib.suppress(psutil.Error):
                process.kill()
        assert not alive, f"processes outlived the server: {alive}"
        return code


Start = Callable[..., RunningServer]


@dataclasses.dataclass(frozen=True)
class Sent:
    """One request of :class:`Traffic` and what came back: a status and body, or the
    error that stopped the client from getting one."""

    index: int
    status: int | None
    body: Any
    error: str | None = None


class Traffic:
    """Threads that keep sending one-row requests to ``/models/{name}/predict`` until
    the block ends, each thread its own rows in turn (thread ``t`` sends rows ``t``,
    ``t + threads``, ...)."""

    def __init__(
        self, url: str, name: str = "cancer", *, threads: int = 4, timeout_s: float = 30.0
    ) -> None:
        self._url, self._name, self._timeout_s = url, name, timeout_s
        self.sent: list[list[Sent]] = [[] for _ in range(threads)]
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._send, args=(n,), daemon=True) for n in range(threads)
        ]

    def __enter__(self) -> Traffic:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(self._timeout_s + 10)
        assert not any(t.is_alive() for t in self._threads), "a sending thread hung"

    def _send(self, thread: int) -> None:
        count, size = len(self.sent), len(data()[0])
        index = thread
        with httpx.Client(base_url=self._url, timeout=self._timeout_s) as http:
            while not self._stop.is_set():
                row = index % size
                index += count
                try:
                    response = http.post(f"/models/{self._name}/predict", json=body(rows(row)))
                except httpx.HTTPError as exc:
                    self.sent[thread].append(Sent(row, None, None, f"{type(exc).__name__}: {exc}"))
                    continue
                try:
                    answer = response.json()
                except ValueError:
                    answer = response.text
                self.sent[thread].append(Sent(row, response.status_code, answer))

    def wait_for(self, more: int, what: str = "more answers") -> None:
        """Wait until every thread has had ``more`` answers beyond those it has now."""
        marks = [len(s) + more for s in self.sent]
        eventually(
            lambda: all(len(s) >= mark for s, mark in zip(self.sent, marks, strict=True)), what
        )

    def all(self) -> list[Sent]:
        return [sent for thread in self.sent for sent in thread]


@pytest.fixture
def server(settings: Settings, tmp_path: Path) -> Iterator[Start]:
    """Start ``mlpilot serve ARGS...`` (or ``--config`` from the ``config`` mapping, its
    ``[server]`` port filled in) on a free loopback port; returns once it is ready."""
    started: list[RunningServer] = []
    numbers = itertools.count(1)

    def start(*args: str, config: Mapping[str, Any] | None = None) -> RunningServer:
        number = next(numbers)
        port = free_port()
        if config is not None:
            document = dict(config)
            document["server"] = {"host": "127.0.0.1", "port": port, **config.get("server", {})}
            path = tmp_path / f"serve-{number}.toml"
            path.write_text(tomli_w.dumps(document), encoding="utf-8")
            arguments: Sequence[str] = ["--config", str(path), *args]
        else:
            arguments = [*args, "--host", "127.0.0.1", "--port", str(port)]
        log = tmp_path / f"server-{number}.log"
        with log.open("wb") as sink:
            process = subprocess.Popen(
                [*mlpilot_command(), *store_options(settings), "serve", *arguments],
                stdout=sink,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, "COLUMNS": "200"},
            )
        url = f"http://127.0.0.1:{port}"
        running = RunningServer(url, process, log, httpx.Client(base_url=url, timeout=30))
        started.append(running)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            if process.poll() is not None:
                pytest.fail(
                    f"the server exited with {process.returncode} before it was ready:\n"
                    + running.output()
                )
            with contextlib.suppress(httpx.TransportError):
                if running.http.get("/v2/health/ready", timeout=2).status_code == 200:
                    return running
            if time.monotonic() > deadline:
                pytest.fail(
                    f"the server was not ready in {READY_TIMEOUT_S:.0f} s:\n{running.output()}"
                )
            time.sleep(0.1)

    yield start
    for running in started:
        running.stop()


@pytest.fixture
def cancer(client: TrackingClient) -> TrackingClient:
    """Model ``cancer`` with version 1 (C=1) at its ``champion`` alias."""
    register(client, "cancer", STRONG, alias="champion")
    return client
