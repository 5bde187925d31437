"""``mlpilot server``: serve this store to a team over HTTP."""

from __future__ import annotations

import ipaddress
import os
import socket
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from mlpilot.cli._state import state
from mlpilot.errors import ConfigError
from mlpilot.server._app import AUTH_VARIABLE
from mlpilot.store._store import is_remote

_err = Console(stderr=True)
#: The application factory each worker process imports.
_FACTORY = "mlpilot.server._app:app_from_environment"


def server_command(
    ctx: typer.Context,
    host: Annotated[
        str, typer.Option("--host", help="Address to listen on: a loopback one.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", "-p", min=0, max=65535, help="Port.")] = 5050,
    workers: Annotated[
        int, typer.Option("--workers", min=1, help="Server processes sharing the port.")
    ] = 1,
    auth: Annotated[
        bool, typer.Option("--auth", help="Require users' API tokens (mlpilot users add).")
    ] = False,
    ssl_certfile: Annotated[
        Path | None, typer.Option("--ssl-certfile", help="Serve HTTPS with this certificate.")
    ] = None,
    ssl_keyfile: Annotated[
        Path | None, typer.Option("--ssl-keyfile", help="The certificate's private key.")
    ] = None,
) -> None:
    """Serve this store (its database and artifacts) to clients over HTTP.

    mlpilot --store-uri postgresql+psycopg://mlpilot@db/mlpilot server --port 5050

    Clients point at it with MLPILOT_STORE_URI=http://HOST:PORT: the Python API and every
    command then read and write the server's records and artifacts. The API is
    documented at /docs (OpenAPI at /openapi.json). With --auth every request needs a
    user's token (mlpilot users add, mlpilot login), and it may listen beyond loopback.
    """
    settings = state(ctx).settings()
    if is_remote(settings.store_uri):
        raise ConfigError(
            f"the store is itself a server ({settings.store_uri}); give mlpilot server a "
            "database with --store-uri or MLPILOT_STORE_URI"
        )
    if not auth:
        _check_loopback(host)
    if (ssl_certfile is None) != (ssl_keyfile is None):
        raise ConfigError("give both --ssl-certfile and --ssl-keyfile, or neither")
    from mlpilot.store import open_store

    store = open_store(settings, create=True)  # created or migrated once, before workers
    try:
        if auth and not any(u.role == "admin" for u in store.accounts.list_users()):
            raise ConfigError(
                "--auth needs an admin to let anyone in; make the first one here with: "
                "mlpilot users add NAME --role admin"
            )
    finally:
        store.close()
    # The workers are fresh processes: they read the same settings from the environment.
    os.environ.update(
        {
            "MLPILOT_HOME": str(settings.home),
            "MLPILOT_STORE_URI": settings.store_uri,
            "MLPILOT_ARTIFACTS_URI": settings.artifacts_uri,
            AUTH_VARIABLE: "1" if auth else "0",
        }
    )
    import uvicorn

    scheme = "https" if ssl_certfile else "http"
    _err.print(
        f"mlpilot server on {scheme}://{_url_host(host)}:{port} ({workers} worker(s)"
        f"{', tokens required' if auth else ''}), store {settings.store_uri.split('@')[-1]}"
    )
    uvicorn.run(
        _FACTORY,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=10,
        ssl_certfile=str(ssl_certfile) if ssl_certfile else None,
        ssl_keyfile=str(ssl_keyfile) if ssl_keyfile else None,
    )


def _check_loopback(host: str) -> None:
    """Refuse an address other machines can reach, for a server without accounts."""
    try:
        addresses = {str(info[4][0]) for info in socket.getaddrinfo(host, None)}
    except socket.gaierror as exc:
        raise ConfigError(f"--host {host!r} is not an address of this machine ({exc})") from None
    if not all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addresses):
        raise ConfigError(
            f"--host {host} can be reached from other machines, and without --auth mlpilot "
            "server lets whoever reaches it read and change every record; add --auth (and "
            "make users with mlpilot users add), or listen on 127.0.0.1"
        )


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
