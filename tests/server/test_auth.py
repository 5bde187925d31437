"""A server started with --auth: who may call what, tokens that stop working at once,
and secrets that never show up where they do not belong."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from mlpilot.cli import app as cli_app
from mlpilot.config import Settings, load_settings
from mlpilot.errors import AccessDeniedError, ConfigError
from mlpilot.server._auth import READS
from mlpilot.store import Store
from mlpilot.store.http._wire import operations
from mlpilot.tracking import TrackingClient

from .conftest import Spawner, stop

pytestmark = pytest.mark.parametrize("store_uri", ["sqlite"], indirect=True)
MLPILOT = str(Path(sys.executable).parent / "mlpilot")


class Team:
    """A server with auth, an admin, an editor and a reader, and their tokens."""

    def __init__(self, url: str, tokens: dict[str, str], server_store: Store) -> None:
        self.url, self.tokens, self.server_store = url, tokens, server_store
        self.http = httpx.Client(base_url=url)

    def post(self, path: str, who: str | None, body: Any = None, **headers: str) -> httpx.Response:
        if who is not None:
            headers["authorization"] = f"Bearer {self.tokens.get(who, who)}"
        return self.http.post(path, json={} if body is None else body, headers=headers)


@pytest.fixture
def team(spawner: Spawner, server_settings: Settings) -> Iterator[Team]:
    server_store = Store(server_settings)
    accounts = server_store.accounts
    tokens = {}
    for name, role in [("ana", "admin"), ("bo", "edit"), ("cy", "read")]:
        accounts.add_user(name, role)
        tokens[name] = accounts.create_token(name, "test").secret
    pid, port = spawner.start(
        home=str(server_settings.home),
        store_uri=server_settings.store_uri,
        artifacts_uri=server_settings.artifacts_uri,
        auth=True,
    )
    running = Team(f"http://127.0.0.1:{port}", tokens, server_store)
    yield running
    running.http.close()
    stop(pid)
    server_store.close()


def test_every_route_answers_each_role_as_its_rules_say(team: Team) -> None:
    revoked = team.server_store.accounts.create_token("bo")
    team.server_store.accounts.revoke_token(revoked.record.id)
    outcomes: list[str] = []
    for operation in operations().values():
        for who in ("ana", "bo", "cy", None, "mlp_0000000000000000_" + "x" * 43, revoked.secret):
            status = team.post(operation.path, who).status_code
            if who not in team.tokens:
                expected = {401}
            elif operation.domain == "accounts":
                expected = set() if who == "ana" else {403}
            elif operation.name in READS:
                expected = set()
            else:
                expected = {403} if who == "cy" else set()
            if expected and status not in expected or not expected and status in (401, 403):
                outcomes.append(f"{operation.path} as {who}: {status}")
    assert not outcomes, "\n".join(outcomes)

    # The artifact routes, the document and its pages are no more open.
    for path in ("/openapi.json", "/docs", f"/api/v1/artifacts/{'0' * 64}", "/api/v1/whoami"):
        assert httpx.get(f"{team.url}{path}").status_code == 401
        assert httpx.get(
            f"{team.url}{path}", headers={"authorization": f"Bearer {team.tokens['cy']}"}
        ).status_code in (200, 404)
    upload = httpx.post(
        f"{team.url}/api/v1/artifacts",
        content=b"x",
        headers={"authorization": f"Bearer {team.tokens['cy']}"},
    )
    assert upload.status_code == 403 and "needs the role edit" in upload.json()["detail"]
    assert httpx.get(f"{team.url}/api/v1/health").status_code == 200


def test_the_caller_is_the_token_not_what_the_request_claims(team: Team) -> None:
    answer = team.post(
        "/api/v1/tracking/create_experiment",
        "bo",
        {"name": "churn"},
        **{"x-mlpilot-user": "mallory"},
    )
    assert answer.status_code == 200
    events = team.server_store.events.read("experiment.")
    assert [e.actor for e in events] == ["bo"]
    who = httpx.get(
        f"{team.url}/api/v1/whoami", headers={"authorization": f"Bearer {team.tokens['cy']}"}
    )
    assert who.json() == {"user": "cy", "role": "read"}


def test_clients_use_their_token_and_lose_it_at_once(
    team: Team, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def store(who: str | None) -> Store:
        if who is None:
            monkeypatch.delenv("MLPILOT_TOKEN", raising=False)
        else:
            monkeypatch.setenv("MLPILOT_TOKEN", team.tokens[who])
        return Store(load_settings(home=str(tmp_path / str(who)), store_uri=team.url))

    editor, reader, admin = (TrackingClient(store(who)) for who in ("bo", "cy", "ana"))
    nobody = store(None)
    try:
        run = editor.create_run("shared")
        run.log_metric("loss", 0.5)
        run.end()
        assert reader.get_run(run.id).status == "finished"
        with pytest.raises(AccessDeniedError, match="needs the role edit; user 'cy' has read"):
            reader.create_run("shared")
        with pytest.raises(ConfigError, match="needs an API token"):
            nobody.tracking.get_run(run.id)

        # An admin manages the accounts through the server; a revoked token is refused
        # at the next call, with no restart.
        [token] = admin.store.accounts.list_tokens("bo")
        admin.store.accounts.revoke_token(token.id)
        with pytest.raises(ConfigError, match="needs an API token"):
            editor.get_run(run.id)
        with pytest.raises(AccessDeniedError):
            reader.store.accounts.list_users()
    finally:
        for each in (editor.store, reader.store, admin.store, nobody):
            each.close()

    # No secret in any event, and none echoed in an error.
    for event in team.server_store.events.read():
        assert all(secret not in repr(event.payload) for secret in team.tokens.values())
    refused = team.post("/api/v1/tracking/get_run", "mlp_secretsecret", {"run_id": "x" * 32})
    assert "mlp_secretsecret" not in refused.text


def test_the_command_line_makes_users_and_logs_in(
    team: Team, server_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = CliRunner(env={"COLUMNS": "200"})
    on_server = ["--store-uri", server_settings.store_uri, "--home", str(server_settings.home)]
    added = runner.invoke(cli_app, [*on_server, "users", "add", "dee", "--role", "edit"])
    assert added.exit_code == 0, added.output
    secret = added.stdout.strip()
    assert secret.startswith("mlp_")

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("MLPILOT_TOKEN", raising=False)
    monkeypatch.setattr("getpass.getpass", lambda prompt: secret)
    logged = runner.invoke(cli_app, ["login", team.url])
    assert logged.exit_code == 0, logged.output
    assert "as dee (edit)" in logged.output
    stored = tmp_path / "config" / "mlpilot" / "credentials.json"
    assert oct(stored.stat().st_mode & 0o777) == "0o600"
    listed = runner.invoke(cli_app, ["--store-uri", team.url, "experiments", "list"])
    assert listed.exit_code == 0, listed.output

    # Without an admin a server with --auth would let no one in: it says so and stops.
    monkeypatch.setattr("getpass.getpass", lambda prompt: "mlp_wrong")
    wrong = runner.invoke(cli_app, ["login", team.url])
    assert wrong.exit_code == 2 and "does not know this token" in wrong.output
    empty = tmp_path / "empty"
    refused = subprocess.run(
        [MLPILOT, "--home", str(empty), "server", "--auth", "--port", "1"],
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("MLPILOT_")},
        timeout=60,
    )
    assert refused.returncode == 2 and "needs an admin" in refused.stderr
