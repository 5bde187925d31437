"""Artifacts through the server: clients upload and download blobs, the server holds the
object store and its credentials.

``POST /api/v1/artifacts`` streams a blob in and answers its digest and size (with the
``x-mlpilot-sha256`` header, a blob whose bytes hash otherwise is refused);
``GET /api/v1/artifacts/{digest}`` streams it out, or the byte range a ``Range`` header
asks for (the dataset reader fetches row groups so); ``HEAD`` says whether it is there.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

from fastapi import FastAPI, Header, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from mlpilot.errors import InvalidInputError, NotFoundError
from mlpilot.store._artifacts import ArtifactStore
from mlpilot.store.http._wire import PREFIX, ErrorBody

DIGEST_HEADER = "x-mlpilot-sha256"
_DIGEST = re.compile(r"[0-9a-f]{64}")
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")
_CHUNK = 1 << 20


class BlobBody(BaseModel):
    digest: str
    size: int


def add_artifact_routes(app: FastAPI, artifacts: Callable[[Request], ArtifactStore]) -> None:
    """Add the blob routes; ``artifacts(request)`` is the caller's artifact store."""
    errors: dict[int | str, dict[str, Any]] = {
        400: {"model": ErrorBody, "description": "A malformed digest or range."},
        404: {"model": ErrorBody, "description": "No blob has this digest."},
    }

    @app.post(
        f"{PREFIX}/artifacts",
        operation_id="artifacts.put",
        tags=["artifacts"],
        summary="Store a blob, streamed in the body; answers its digest and size",
        response_model=BlobBody,
        responses={
            400: {"model": ErrorBody, "description": "The bytes do not hash to the digest."}
        },
    )
    async def upload(
        request: Request,
        expected: str | None = Header(default=None, alias=DIGEST_HEADER),
    ) -> BlobBody:
        if expected is not None:
            _check(expected)
        store = artifacts(request)
        with store.writer() as out:
            async for chunk in request.stream():
                await run_in_threadpool(out.write, chunk)
        if expected is not None and out.blob.digest != expected:
            raise InvalidInputError(
                f"the uploaded bytes hash to {out.blob.digest}, not {expected}: they changed "
                "on the way; send them again"
            )
        return BlobBody(digest=out.blob.digest, size=out.blob.size)

    read: dict[str, Any] = {
        "tags": ["artifacts"],
        "response_class": Response,
        "responses": {
            200: {"content": {"application/octet-stream": {}}, "description": "The blob."},
            206: {"content": {"application/octet-stream": {}}, "description": "A range."},
            416: {"model": ErrorBody, "description": "A range outside the blob."},
            **errors,
        },
    }

    @app.head(
        f"{PREFIX}/artifacts/{{digest}}",
        summary="Whether a blob is stored, and its size (content-length)",
        operation_id="artifacts.head",
        **read,
    )
    @app.get(
        f"{PREFIX}/artifacts/{{digest}}",
        summary="Read a blob, whole or the byte range a Range header asks for",
        operation_id="artifacts.get",
        **read,
    )
    def download(digest: str, request: Request, range: str | None = Header(default=None)) -> Any:
        _check(digest)
        store = artifacts(request)
        path = store.blob_path(digest)
        try:
            size = int(store.fs.size(path))
        except FileNotFoundError:
            raise NotFoundError(f"no artifact blob has the digest {digest}") from None
        start, end, status = 0, size, 200
        if range:
            start, end = _parse_range(range, size)
            status = 206
        headers = {"accept-ranges": "bytes", "content-length": str(end - start)}
        if status == 206:
            headers["content-range"] = f"bytes {start}-{end - 1}/{size}"
        if request.method == "HEAD":
            return Response(status_code=status, headers=headers)
        return StreamingResponse(
            _read(store, path, start, end),
            status_code=status,
            headers=headers,
            media_type="application/octet-stream",
        )


def _read(store: ArtifactStore, path: str, start: int, end: int) -> Iterator[bytes]:
    with store.fs.open(path, "rb") as source:
        source.seek(start)
        left = end - start
        while left > 0:
            chunk = source.read(min(_CHUNK, left))
            if not chunk:
                break
            left -= len(chunk)
            yield chunk


def _check(digest: str) -> None:
    if not _DIGEST.fullmatch(digest):
        raise InvalidInputError(f"{digest!r} is not a sha256 digest (64 lowercase hex digits)")


def _parse_range(header: str, size: int) -> tuple[int, int]:
    """``[start, end)`` of a single ``bytes=`` range; a suffix ``-N`` is the last N bytes."""
    match = _RANGE.fullmatch(header.strip())
    if match is None or match.group(1) == match.group(2) == "":
        raise InvalidInputError(f"unsupported range {header!r}: give one 'bytes=START-END'")
    first, last = match.groups()
    if first == "":
        start, end = max(size - int(last), 0), size
    else:
        start = int(first)
        end = min(int(last) + 1, size) if last else size
    if start >= size or start >= end:
        raise _Unsatisfiable(f"the range {header!r} lies outside the blob's {size} bytes")
    return start, end


class _Unsatisfiable(InvalidInputError):
    """A range outside the blob."""

    http_status = 416
