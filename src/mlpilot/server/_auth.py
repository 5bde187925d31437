"""Who may do what on a server started with ``--auth``.

Every request but the health check carries ``Authorization: Bearer <token>``; a
missing, unknown or revoked token is answered 401 before anything else runs. A user's
role then decides: ``read`` may call the operations that only read, ``edit`` every
operation of the records and the artifacts, ``admin`` also the accounts. A refusal is
403, naming the role it needs. The caller is the actor of every write's event.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.concurrency import run_in_threadpool

from mlpilot.errors import AccessDeniedError
from mlpilot.store.base._accounts import ROLES, User
from mlpilot.store.http._wire import DOMAINS, PREFIX

#: The operations that only read: a ``read`` user may call these and no others. Any
#: other operation, a new one included, needs ``edit`` until it is listed here.
READS = frozenset(
    {
        "list_experiments", "resolve_run_id", "get_run", "search_runs", "metric_history",
        "list_artifacts", "find_artifacts", "find_version", "get_version",
        "get_version_by_id", "list_versions", "list_datasets", "lineage",
        "cancel_requested", "cached", "history", "get", "list_runs", "tasks", "counts",
        "rung_values", "finished_values_at", "finished_count", "recent", "trials",
        "reports", "get_model", "list_models", "versions", "moves", "decisions", "read",
        "exists", "list_monitors", "model_task", "windows", "window", "rule_alerts",
        "alert", "alerts", "running_retrains", "retrain", "retrain_effect",
        "list_triggers",
        # Marks runs whose process is gone as failed: what any reader's client does
        # before it lists runs, so that none shows "running" forever.
        "mark_dead_runs",
    }
)  # fmt: skip
#: Paths anyone may ask without a token.
OPEN_PATHS = frozenset({"/api/v1/health"})

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


def needed_role(method: str, path: str) -> str:
    """The least role that may send ``method`` to ``path``."""
    if path == f"{PREFIX}/artifacts":
        return "edit"  # an upload; reading blobs is under /artifacts/<digest>
    domain, _, name = path.removeprefix(f"{PREFIX}/").partition("/")
    if domain == "accounts":
        return "admin"
    if domain in DOMAINS and method == "POST":
        return "read" if name in READS else "edit"
    return "read"  # the health check, who am I, blobs, the document and its pages


def require(user: User, role: str, what: str) -> None:
    """Refuse ``user`` unless their role reaches ``role``."""
    if ROLES.index(user.role) < ROLES.index(role):
        raise AccessDeniedError(
            f"{what} needs the role {role}; user {user.name!r} has {user.role} (an admin "
            f"gives more with: mlpilot users role {user.name} {role})"
        )


class Authentication:
    """ASGI middleware that lets a request through only with a token whose user's role
    reaches what the request needs, and puts that user in ``scope["state"]["user"]``;
    it answers 401 for no token or an unknown one, 403 for too little a role, before
    the body is read."""

    def __init__(self, app: Any, authenticate: Callable[[str], User | None]) -> None:
        self.app = app
        self.authenticate = authenticate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        scheme, _, secret = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
        user = None
        if scheme.lower() == "bearer" and secret:
            user = await run_in_threadpool(self.authenticate, secret.strip())
        if user is None:
            await _answer(send, 401, "AuthenticationError", _NO_TOKEN)
            return
        try:
            require(user, needed_role(scope["method"], scope["path"]), scope["path"])
        except AccessDeniedError as exc:
            await _answer(send, 403, "AccessDeniedError", str(exc))
            return
        scope.setdefault("state", {})["user"] = user
        await self.app(scope, receive, send)


_NO_TOKEN = (
    "this server needs an API token: send 'Authorization: Bearer <token>' (the client "
    "sends MLPILOT_TOKEN, or the token of mlpilot login)"
)


async def _answer(send: Send, status: int, error: str, detail: str) -> None:
    body = json.dumps({"error": error, "detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
