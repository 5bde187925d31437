"""The storage interfaces over HTTP: a store whose records live on an ``mlpilot server``.

Each domain's records are a class built from its protocol: a method sends its arguments
to the operation of the same name and returns the server's answer as the same frozen
records a local store returns, or raises the same error. One HTTP client per store
keeps its connections alive; a call that could not reach the server (it is restarting,
say), or that it answered 503, is sent again with backoff for up to half a minute.
"""

from __future__ import annotations

import inspect
import os
import random
import socket
import time
import warnings
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import httpx

from mlpilot import errors
from mlpilot.config import Settings
from mlpilot.store.base._tracking import OrderKeyWarning
from mlpilot.store.http import _wire
from mlpilot.store.http._credentials import load_token

if TYPE_CHECKING:
    from mlpilot.store.http._artifacts import RemoteArtifacts

#: The environment variable holding the API token the client sends.
TOKEN_VARIABLE = "MLPILOT_TOKEN"
#: Warnings a server relays, by name; any other arrives as a UserWarning.
_WARNINGS: dict[str, type[Warning]] = {"OrderKeyWarning": OrderKeyWarning}


class Remote:
    """The connection of one :class:`~mlpilot.store.Store` to a server."""

    def __init__(self, settings: Settings, *, retry_for_s: float = 30.0) -> None:
        self.url = settings.store_uri.rstrip("/")
        headers = {_wire.USER_HEADER: settings.user}
        token = os.environ.get(TOKEN_VARIABLE) or load_token(self.url)
        if token:
            headers["authorization"] = f"Bearer {token}"
        self.retry_for_s = retry_for_s
        self._headers = headers
        self._http = self._connect()

    def _connect(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.url,
            headers=self._headers,
            timeout=httpx.Timeout(60.0, connect=10.0),
            limits=httpx.Limits(max_keepalive_connections=8),
        )

    @property
    def http(self) -> httpx.Client:
        """The kept-alive connections; opened again after :meth:`close`, as a database
        engine reconnects after it was disposed (a run ended at exit, say)."""
        if self._http.is_closed:
            self._http = self._connect()
        return self._http

    def records(self, domain: str) -> Any:
        return _records_class(domain)(self)

    def artifacts(self) -> RemoteArtifacts:
        from mlpilot.store.http._artifacts import RemoteArtifacts

        return RemoteArtifacts(self)

    def close(self) -> None:
        self._http.close()

    def send(
        self, method: str, path: str, *, content: Any = None, **request: Any
    ) -> httpx.Response:
        """Send a request, again with backoff while the server cannot take it; raise the
        error a failed answer names. ``content`` may be a function that makes the body
        anew for each try (a stream is read once)."""
        deadline = time.monotonic() + self.retry_for_s
        pause = 0.05
        while True:
            body = content() if callable(content) else content
            try:
                response = self.http.request(method, path, content=body, **request)
                if response.status_code != 503:
                    break
                failure = "the server answered 503"
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                failure = f"{type(exc).__name__}: {exc}"  # the request never left
            except httpx.TransportError as exc:
                # It may have been carried out: sending it again could record it twice.
                raise errors.StoreError(
                    f"the connection to the mlpilot server at {self.url} broke during "
                    f"{method} {path} ({type(exc).__name__}: {exc}); what it asked may or "
                    "may not have been done"
                ) from None
            if time.monotonic() + pause > deadline:
                raise errors.StoreError(
                    f"cannot reach the mlpilot server at {self.url} ({failure}); is "
                    "`mlpilot server` running there?"
                )
            time.sleep(pause * (1 + random.random()))
            pause = min(pause * 2, 2.0)
        self.raise_for(response)
        return response

    def raise_for(self, response: httpx.Response) -> None:
        """Raise the error a failed answer names, as a local store would raise it."""
        if response.status_code >= 400:
            raise _error(response)

    def call(self, operation: _wire.Operation, arguments: Mapping[str, Any]) -> Any:
        response = self.send(
            "POST",
            operation.path,
            content=operation.encode_request(arguments),
            headers={"content-type": "application/json"},
        )
        for category, message in _relayed_warnings(response):
            warnings.warn(message, _WARNINGS.get(category, UserWarning), stacklevel=3)
        return operation.decode_answer(response.content)


def _error(response: httpx.Response) -> errors.MlpilotError:
    try:
        body = response.json()
        name, detail = body["error"], body["detail"]
    except (ValueError, KeyError, TypeError):
        name, detail = "", response.text[:500] or response.reason_phrase
    if response.status_code == 401:
        return errors.ConfigError(
            f"the server refused the request: {detail}. Set {TOKEN_VARIABLE}, or run mlpilot login"
        )
    cls = _wire.ERRORS.get(name)
    if cls is None:
        cls = {404: errors.NotFoundError, 409: errors.ConflictError}.get(
            response.status_code,
            errors.InvalidInputError if response.status_code < 500 else errors.StoreError,
        )
    return cls(detail)


def _relayed_warnings(response: httpx.Response) -> list[tuple[str, str]]:
    raw = response.headers.get(_wire.WARNINGS_HEADER)
    if not raw:
        return []
    import json

    return [(str(category), str(message)) for category, message in json.loads(raw)]


# -- records classes built from the protocols --------------------------------------------


_classes: dict[str, type] = {}


def _records_class(domain: str) -> type:
    """The HTTP implementation of ``domain``'s protocol (built once per process)."""
    if domain not in _classes:
        protocol = _wire.protocol_of(domain)
        namespace: dict[str, Any] = {
            "__doc__": f"{protocol.__name__} of an mlpilot server, over HTTP.",
            "__init__": _init,
        }
        for name, operation in _wire.domain_operations(domain).items():
            namespace[name] = _method(operation, getattr(protocol, name))
        _classes[domain] = type(f"Http{protocol.__name__}", (), namespace)
    return _classes[domain]


def _init(self: Any, remote: Remote) -> None:
    self._remote = remote


def _method(operation: _wire.Operation, declared: Any) -> Any:
    signature = inspect.signature(declared)
    fills = _wire.PROCESS_PARAMETERS & operation.parameters.keys()

    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            bound = signature.bind(self, *args, **kwargs)
        except TypeError as exc:
            raise TypeError(f"{operation.name}(): {exc}") from None
        bound.apply_defaults()
        arguments = {
            name: list(value) if isinstance(value, Iterator) else value  # read once, sent
            for name, value in bound.arguments.items()
            if name != "self"
        }
        # The process that works on a run is the caller, not the server.
        if "host" in fills and arguments.get("host") is None:
            arguments["host"] = socket.gethostname()
        if "pid" in fills and arguments.get("pid") is None:
            arguments["pid"] = os.getpid()
        return self._remote.call(operation, arguments)

    method.__name__ = method.__qualname__ = operation.name
    method.__doc__ = declared.__doc__
    method.__signature__ = signature  # type: ignore[attr-defined]
    return method
