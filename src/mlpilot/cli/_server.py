"""``mlpilot server``: serve this store to a team over HTTP."""

from __future__ import annotations

import ipaddress
import os
import socket
from typing import Annotated

import typer
from rich.console import Console

from mlpilot.cli._state import state
from mlpilot.errors import ConfigError
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
) -> None:
    """Serve this store (its database and artifacts) to clients over HTTP.

    mlpilot --store-uri postgresql+psycopg://mlpilot@db/mlpilot server --port 5050

    Clients point at it with MLPILOT_STORE_URI=http://HOST:PORT: the Python API and every
    command then read and write the server's records and artifacts. The API is
    documented at /docs (OpenAPI at /openapi.json).
    """
    settings = state(ctx).settings()
    if is_remote(settings.store_uri):
        raise ConfigError(
            f"the store is itself a server ({settings.store_uri}); give mlpilot server a "
            "database with --store-uri or MLPILOT_STORE_URI"
        )
    _check_loopback(host)
    state(ctx).command = "server"
    from mlpilot.store import open_store

    open_store(settings, create=True).close()  # create or migrate it once, before workers
    # The workers are fresh processes: they read the same settings from the environment.
    os.environ.update(
        {
            "MLPILOT_HOME": str(settings.home),
            "MLPILOT_STORE_URI": settings.store_uri,
            "MLPILOT_ARTIFACTS_URI": settings.artifacts_uri,
        }
    )
    import uvicorn

    _err.print(
        f"mlpilot server on http://{_url_host(host)}:{port} ({workers} worker(s)), "
        f"store {settings.store_uri.split('@')[-1]}"
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
    )


def _check_loopback(host: str) -> None:
    """Refuse an address other machines can reach: the server has no accounts, so
    anyone who reaches it could read and change every record."""
    try:
        addresses = {str(info[4][0]) for info in socket.getaddrinfo(host, None)}
    except socket.gaierror as exc:
        raise ConfigError(f"--host {host!r} is not an address of this machine ({exc})") from None
    if not all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addresses):
        raise ConfigError(
            f"--host {host} can be reached from other machines, and mlpilot server lets "
            "whoever reaches it read and change every record; listen on 127.0.0.1 (or ::1) "
            "and let others in through an authenticating reverse proxy or an SSH tunnel"
        )


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
