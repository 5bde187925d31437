"""The team server's application: every storage operation over HTTP, on one store.

The server holds the database and the artifact store; clients hold neither and reach
both through it. It keeps no state of its own between requests, so several server
processes, on one machine or many, on one PostgreSQL database and one object store,
answer as one.
"""

from __future__ import annotations

import inspect
import json
import os
import threading
import warnings
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

from mlpilot import __version__
from mlpilot.config import Settings
from mlpilot.errors import InvalidInputError, MlpilotError
from mlpilot.server._auth import Authentication
from mlpilot.store._store import Store
from mlpilot.store.base._accounts import User
from mlpilot.store.http import _wire

#: Set to 1 in the environment of ``mlpilot server --auth``'s worker processes.
AUTH_VARIABLE = "MLPILOT_SERVER_AUTH"

_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": _wire.ErrorBody, "description": description}
    for status, description in [
        (400, "A value breaks a rule of the store (InvalidInputError, FilterError)."),
        (401, "No token, or one the server does not know (with --auth)."),
        (403, "The caller's role does not allow the call (AccessDeniedError)."),
        (404, "What the call names does not exist (NotFoundError)."),
        (409, "The call contradicts what is stored (ConflictError)."),
        (422, "The body does not match the operation's schema."),
        (503, "The store cannot be reached or written (StoreError)."),
    ]
}


_POSITIONAL = inspect.Parameter.POSITIONAL_OR_KEYWORD


def create_app(settings: Settings, *, auth: bool = False) -> FastAPI:
    """The server's application over the store ``settings`` name (a database, not
    another server). The store opens on the first request, from ``app.state.settings``.
    With ``auth``, every request needs a user's token (see :mod:`mlpilot.server._auth`).
    """
    views: dict[str, Store] = {}
    lock = threading.Lock()

    def base() -> Store:
        with lock:
            if "" not in views:
                views[""] = Store(app.state.settings)
            return views[""]

    def store_for(request: Request) -> Store:
        """The store as the caller: its writes' events name them."""
        user = _caller(request)
        name = user.name if user else request.headers.get(_wire.USER_HEADER)
        name = name or request.app.state.settings.user
        store = base()
        with lock:
            if name not in views:
                views[name] = store.as_user(name)
            return views[name]

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        if "" in views:
            views[""].close()

    app = FastAPI(
        title="mlpilot",
        version=__version__,
        description=(
            "The storage interfaces of mlpilot over HTTP: one operation per method of "
            "each domain's records (tracking, datasets, pipelines, studies, registry, "
            "predictions, monitors, events, leases, triggers), as the Python client "
            "calls them. Every failure answers a JSON body with `error` and `detail`."
        ),
        lifespan=lifespan,
    )
    app.state.settings = settings
    _install_error_handlers(app)
    _capture_warnings()
    if auth:
        app.add_middleware(Authentication, authenticate=lambda s: base().accounts.authenticate(s))

    @app.get(f"{_wire.PREFIX}/health", tags=["server"], summary="Whether the server is up")
    def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    @app.get(f"{_wire.PREFIX}/whoami", tags=["server"], summary="Who the caller is")
    def whoami(request: Request) -> dict[str, str | None]:
        user = _caller(request)
        if user is None:
            return {"user": store_for(request).settings.user, "role": None}
        return {"user": user.name, "role": user.role}

    for operation in _wire.operations().values():
        app.add_api_route(
            operation.path,
            _endpoint(operation, store_for),
            methods=["POST"],
            response_model=operation.answer,
            responses=_ERROR_RESPONSES,
            summary=operation.doc.split("\n\n")[0].replace("\n", " ") or operation.name,
            description=operation.doc,
            tags=[operation.domain],
            operation_id=f"{operation.domain}.{operation.name}",
        )
    from mlpilot.server._artifacts import add_artifact_routes

    add_artifact_routes(app, lambda request: store_for(request).artifacts)
    return app


def app_from_environment() -> FastAPI:
    """The application over the store the environment names: what each of
    ``mlpilot server``'s worker processes serves."""
    from mlpilot.config import load_settings

    return create_app(load_settings(), auth=os.environ.get(AUTH_VARIABLE) == "1")


def _endpoint(operation: _wire.Operation, store_for: Callable[[Request], Store]) -> Any:
    """The route function of ``operation``: FastAPI reads the body's model from its
    signature and runs it in its thread pool (the stores block)."""

    def endpoint(request: Request, body: Any) -> Response:
        records = getattr(store_for(request), operation.domain)
        arguments = {name: getattr(body, name) for name in operation.parameters}
        if operation.spread is not None:
            arguments.update(arguments.pop(operation.spread) or {})
        caught: list[tuple[str, str]] = []
        _caught.list = caught
        try:
            result = getattr(records, operation.name)(**arguments)
        except MlpilotError:
            raise
        except Exception:
            # Arguments that do not fit the schema reach the store as sent, so that it
            # names what is wrong; where it failed on them otherwise, say which they are.
            misfits = operation.misfits(arguments)
            if misfits:
                raise InvalidInputError("; ".join(misfits)) from None
            raise
        finally:
            _caught.list = None
        headers = {_wire.WARNINGS_HEADER: json.dumps(caught)} if caught else None
        return Response(
            operation.encode_answer(result), media_type="application/json", headers=headers
        )

    endpoint.__name__ = f"{operation.domain}_{operation.name}"
    endpoint.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            inspect.Parameter(
                "request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Request
            ),
            inspect.Parameter(
                "body", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=operation.request
            ),
        ]
    )
    return endpoint


def _caller(request: Request) -> User | None:
    """The user whose token the request carries; None on a server without auth."""
    user: User | None = request.scope.get("state", {}).get("user")
    return user


# -- errors ------------------------------------------------------------------------------


def _error(status: int, name: str, detail: str) -> JSONResponse:
    return JSONResponse({"error": name, "detail": detail}, status_code=status)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(MlpilotError)
    async def store_error(request: Request, exc: MlpilotError) -> JSONResponse:
        return _error(_wire.status_of(exc), type(exc).__name__, str(exc))

    @app.exception_handler(RequestValidationError)
    async def bad_body(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'][1:]) or 'body'}: {e['msg']}" for e in exc.errors()
        )
        return _error(422, "InvalidInputError", problems or "the body is not valid JSON")

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        name = "NotFoundError" if exc.status_code == 404 else "HTTPError"
        return _error(exc.status_code, name, str(exc.detail))


# -- warnings ----------------------------------------------------------------------------


class _Caught(threading.local):
    list: list[tuple[str, str]] | None = None


#: The warnings of the call each request thread is making; the server sends them back.
_caught = _Caught()
_installed = False


def _capture_warnings() -> None:
    """Send warnings a call raises back to its caller instead of the server's log.

    ``warnings.catch_warnings`` changes process-wide state, which concurrent requests
    would trample; this hook looks at the calling thread only.
    """
    global _installed
    if _installed:
        return
    _installed = True
    shown = warnings.showwarning

    def show(message: Any, category: type[Warning], *args: Any, **kwargs: Any) -> None:
        caught = _caught.list
        if caught is None:
            shown(message, category, *args, **kwargs)
        else:
            caught.append((category.__name__, str(message)))

    warnings.showwarning = show
    # Every call's warnings are its own: none is left out as "already shown".
    from mlpilot.store.base._tracking import OrderKeyWarning

    warnings.simplefilter("always", OrderKeyWarning)
