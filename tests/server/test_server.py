"""``mlpilot server`` as a team runs it: a real process on loopback, clients that hold
neither the database nor the artifacts, its answers to mistakes, and its refusals."""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from mlpilot.config import Settings, load_settings
from mlpilot.errors import InvalidInputError, NotFoundError
from mlpilot.store import Store, open_store
from mlpilot.testing._registry import GATE, SCORING, add_version
from mlpilot.tracking import TrackingClient

from .conftest import Spawner, stop

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
MLPILOT = str(Path(sys.executable).parent / "mlpilot")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until_up(url: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the server exited: {process.stderr.read() if process.stderr else ''}")
        try:
            if httpx.get(f"{url}/api/v1/health").status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    pytest.fail("the server did not come up within a minute")


class ServerProcess:
    """``mlpilot server`` on a free loopback port, over the store in ``home``."""

    def __init__(self, home: Path, port: int | None = None) -> None:
        self.home, self.port = home, port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[str] | None = None

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MLPILOT_")}
        self.process = subprocess.Popen(
            [MLPILOT, "--home", str(self.home), "server", "--port", str(self.port)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        wait_until_up(self.url, self.process)

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.communicate(timeout=30)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    running = ServerProcess(tmp_path / "server")
    running.start()
    yield running
    if running.process and running.process.poll() is None:
        running.process.terminate()
        running.process.communicate(timeout=30)


def client_settings(url: str, tmp_path: Path, user: str = "ana") -> Settings:
    return load_settings(home=str(tmp_path / "client"), store_uri=url, user=user)


@pytest.mark.integration
def test_the_lifecycle_example_runs_unchanged_against_a_server(
    server: ServerProcess, tmp_path: Path
) -> None:
    work = tmp_path / "laptop"
    work.mkdir()
    env = {**os.environ, "MLPILOT_STORE_URI": server.url, "MLPILOT_USER": "ana"}
    command = [sys.executable, str(EXAMPLES / "lifecycle.py"), "--trials", "2"]
    done = subprocess.run(
        [*command, "--families", "logreg"], cwd=work, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "promoted" in done.stdout

    # Everything is on the server's side: its database has the champion, its artifact
    # store the model, and the laptop has no store of its own.
    assert not (work / ".mlpilot" / "mlpilot.db").exists()
    store = open_store(home=str(server.home))
    try:
        from mlpilot.registry import ModelRegistry

        registry = ModelRegistry(TrackingClient(store))
        champion = registry.resolve("breast-cancer-classifier@champion")
        assert champion.version == 1
        assert store.artifacts.exists(champion.digest)
        promotions = [e for e in store.events.read("model.") if e.kind.startswith("model.alias")]
        assert promotions and {e.actor for e in promotions} == {"ana"}
    finally:
        store.close()

    # The command line reads the same store through the server.
    shown = subprocess.run(
        [MLPILOT, "models", "card", "breast-cancer-classifier@champion"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
    )
    assert shown.returncode == 0, shown.stderr
    assert "Trained on: breast-cancer@v1" in shown.stdout


def test_blobs_go_up_and_come_down_checked(server: ServerProcess, tmp_path: Path) -> None:
    store = Store(client_settings(server.url, tmp_path))
    try:
        data = os.urandom(3 << 20)
        blob = store.artifacts.put_bytes(data)
        assert blob.digest == hashlib.sha256(data).hexdigest()
        assert store.artifacts.get_bytes(blob.digest) == data
        assert store.artifacts.exists(blob.digest)
        source = tmp_path / "weights.bin"
        source.write_bytes(data[:1000])
        from_file = store.artifacts.put_file(source)
        copy = store.artifacts.get_file(from_file.digest, tmp_path / "out" / "weights.bin")
        assert copy.read_bytes() == data[:1000]
        with store.artifacts.writer() as out:
            out.write(b"streamed ")
            out.write(b"bytes")
        assert store.artifacts.get_bytes(out.blob.digest) == b"streamed bytes"
        # Ranged reads, as the dataset reader makes them.
        assert store.artifacts.fs.cat_file(blob.digest, start=10, end=20) == data[10:20]
        assert store.artifacts.fs.size(blob.digest) == len(data)

        missing = "0" * 64
        assert not store.artifacts.exists(missing)
        with pytest.raises(NotFoundError, match="no artifact blob"):
            store.artifacts.get_bytes(missing)
        with pytest.raises(NotFoundError, match="no such file"):
            store.artifacts.put_file(tmp_path / "absent.bin")
    finally:
        store.close()

    # Bytes that do not hash to the digest they come with are refused, not stored.
    wrong = httpx.post(
        f"{server.url}/api/v1/artifacts",
        content=b"abc",
        headers={"x-mlpilot-sha256": "1" * 64},
    )
    assert wrong.status_code == 400
    assert "hash to" in wrong.json()["detail"]
    for path, status in [("not-a-digest", 400), ("0" * 64, 404)]:
        answer = httpx.get(f"{server.url}/api/v1/artifacts/{path}")
        assert answer.status_code == status and set(answer.json()) == {"error", "detail"}
    outside = httpx.get(
        f"{server.url}/api/v1/artifacts/{blob.digest}", headers={"range": f"bytes={1 << 30}-"}
    )
    assert outside.status_code == 416


def test_mistakes_answer_4xx_with_a_json_error(server: ServerProcess) -> None:
    cases = [
        ("/api/v1/tracking/get_run", {"run_id": "0" * 32}, 404, "NotFoundError"),
        ("/api/v1/tracking/create_experiment", {"name": ""}, 400, "InvalidInputError"),
        ("/api/v1/tracking/get_run", {"run": "x"}, 422, "InvalidInputError"),
        ("/api/v1/tracking/search_runs", {"filter": "metrics.x >>> 1"}, 400, "FilterError"),
        ("/api/v1/nothing/here", {}, 404, "NotFoundError"),
    ]
    for path, body, status, error in cases:
        answer = httpx.post(f"{server.url}{path}", json=body)
        assert (answer.status_code, answer.json()["error"]) == (status, error), answer.text
        assert answer.json()["detail"]
    broken = httpx.post(
        f"{server.url}/api/v1/tracking/get_run",
        content=b"{not json",
        headers={"content-type": "application/json"},
    )
    assert broken.status_code == 422 and broken.json()["error"] == "InvalidInputError"


def test_a_client_waits_for_a_restarted_server_and_loses_nothing(
    server: ServerProcess, tmp_path: Path
) -> None:
    client = TrackingClient(Store(client_settings(server.url, tmp_path)))
    try:
        run = client.create_run("restarts")
        server.kill()
        logged = threading.Event()

        def log_while_down() -> None:
            client.store.tracking.log_batch(run.id, [("loss", 0.5, 1)], params={"lr": 0.1})
            logged.set()

        writer = threading.Thread(target=log_while_down)
        writer.start()
        time.sleep(1.0)
        assert not logged.is_set()  # it waits for the server, it does not fail
        server.start()
        writer.join(timeout=60)
        assert logged.is_set()
        stored = client.get_run(run.id)
        assert stored.params == {"lr": "0.1"}
        assert [(p.step, p.value) for p in client.get_metric_history(run.id, "loss")] == [(1, 0.5)]
        run.end()
    finally:
        client.store.close()


def test_the_server_listens_on_loopback_only_and_serves_a_database(tmp_path: Path) -> None:
    for host in ("0.0.0.0", "::"):
        refused = subprocess.run(
            [MLPILOT, "--home", str(tmp_path), "server", "--host", host],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert refused.returncode == 2
        assert "can be reached from other machines" in refused.stderr
        assert "Traceback" not in refused.stderr
    itself = subprocess.run(
        [MLPILOT, "--store-uri", "http://127.0.0.1:1", "server"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert itself.returncode == 2 and "is itself a server" in itself.stderr


def test_the_openapi_document_states_every_operation(server: ServerProcess) -> None:
    from mlpilot.store.http._wire import operations

    document = httpx.get(f"{server.url}/openapi.json").json()
    for operation in operations().values():
        route = document["paths"][operation.path]["post"]
        assert route["operationId"] == f"{operation.domain}.{operation.name}"
        assert {"200", "400", "404", "409", "422"} <= set(route["responses"])
    assert {"get", "head"} <= set(document["paths"]["/api/v1/artifacts/{digest}"])


def test_bad_arguments_fail_on_the_client_as_they_would_locally(
    server: ServerProcess, tmp_path: Path
) -> None:
    store = Store(client_settings(server.url, tmp_path))
    try:
        with pytest.raises(InvalidInputError, match="JSON's types"):
            store.events.record("x.y", "model", "m", when=object())
        with pytest.raises(TypeError, match="get_run"):
            store.tracking.get_run()  # type: ignore[call-arg]
    finally:
        store.close()


def test_two_servers_on_one_store_answer_as_one(
    spawner: Spawner, server_settings: Settings, tmp_path: Path
) -> None:
    started = [
        spawner.start(
            home=str(server_settings.home),
            store_uri=server_settings.store_uri,
            artifacts_uri=server_settings.artifacts_uri,
        )
        for _ in range(2)
    ]
    stores = [
        Store(client_settings(f"http://127.0.0.1:{port}", tmp_path / str(port), user=user))
        for (_, port), user in zip(started, ["ana", "bo"], strict=True)
    ]
    try:
        first, second = (TrackingClient(store) for store in stores)
        run = first.create_run("shared")
        second.store.tracking.log_batch(run.id, [("loss", 0.25, 1)], params={"lr": 0.1})
        assert first.get_run(run.id).params == {"lr": "0.1"}
        blob = second.store.artifacts.put_bytes(b"weights")
        assert first.store.artifacts.get_bytes(blob.digest) == b"weights"

        # Versions registered through both servers at once are numbered once each.
        registries = [store.registry for store in stores]
        registries[0].create_model("shared-model", scoring=SCORING, gate=GATE)
        with ThreadPoolExecutor(8) as pool:
            numbers = list(
                pool.map(
                    lambda i: add_version(registries[i % 2], run.id, "shared-model").version,
                    range(16),
                )
            )
        assert sorted(numbers) == list(range(1, 17))
        actors = {e.actor for e in stores[0].events.read("model.version_registered")}
        assert actors == {"ana", "bo"}
        run.end()
    finally:
        for store in stores:
            store.close()
        for pid, _ in started:
            stop(pid)
