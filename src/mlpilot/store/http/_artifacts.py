"""Artifacts of a store that is a server: blobs go up and come down through it.

:class:`RemoteArtifacts` answers what the layers above ask of an
:class:`~mlpilot.store.ArtifactStore`; the digest is checked on both ends (the server
refuses an upload whose bytes hash otherwise, the client a download). ``fs`` is a
read-only filesystem over the server's ranged reads, for the dataset reader.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from fsspec import AbstractFileSystem

from mlpilot.errors import ArtifactCorruptedError, InvalidInputError, NotFoundError, StoreError
from mlpilot.store._artifacts import Blob, BlobWriter, write_verified

if TYPE_CHECKING:
    from mlpilot.store.http._records import Remote

DIGEST_HEADER = "x-mlpilot-sha256"
_CHUNK = 1 << 20
#: Blobs up to this size are read into memory to be sent; larger ones stream from disk.
_IN_MEMORY = 16 << 20


class RemoteArtifacts:
    """The artifact store of a server, over HTTP."""

    def __init__(self, remote: Remote) -> None:
        self._remote = remote
        self.url = f"{remote.url}/api/v1/artifacts"
        self.fs = _BlobFileSystem(remote)

    def put_bytes(self, data: bytes) -> Blob:
        return self._upload(lambda: data, hashlib.sha256(data).hexdigest())

    def put_file(self, path: str | os.PathLike[str]) -> Blob:
        source = Path(path)
        if source.is_dir():
            raise InvalidInputError(f"{path} is a folder; log its files instead")
        if not source.is_file():
            raise NotFoundError(f"no such file to log as an artifact: {path}")
        hasher = hashlib.sha256()
        with open(source, "rb") as handle:
            while chunk := handle.read(_CHUNK):
                hasher.update(chunk)
        return self._upload(lambda: _stream(source), hasher.hexdigest())

    @contextlib.contextmanager
    def writer(self) -> Iterator[BlobWriter]:
        """Write a blob as a stream; it goes to the server when the block ends."""
        with tempfile.TemporaryFile() as spool:
            out = BlobWriter(spool)
            yield out
            out.drain()
            digest = out.hasher.hexdigest()
            spool.seek(0)
            if out.size <= _IN_MEMORY:
                payload = spool.read()
                out.blob = self._upload(lambda: payload, digest)
            else:
                out.blob = self._upload(lambda: _chunks(spool), digest)

    def get_bytes(self, digest: str) -> bytes:
        data = self._remote.send("GET", f"/api/v1/artifacts/{digest}").content
        actual = hashlib.sha256(data).hexdigest()
        if actual != digest:
            raise ArtifactCorruptedError(_corrupted(digest, actual))
        return data

    def get_file(self, digest: str, dest: str | os.PathLike[str]) -> Path:
        with self._remote.http.stream("GET", f"/api/v1/artifacts/{digest}") as response:
            if response.status_code >= 400:
                response.read()
                self._remote.raise_for(response)
            return write_verified(
                response.iter_bytes(_CHUNK), digest, dest, lambda actual: _corrupted(digest, actual)
            )

    def exists(self, digest: str) -> bool:
        return bool(self.fs.exists(digest))

    def blob_path(self, digest: str) -> str:
        return digest

    def delete(self, digest: str) -> None:
        raise _server_side("deleting blobs")

    def blobs(self) -> Iterator[Blob]:
        raise _server_side("listing blobs")

    def _upload(self, content: Callable[[], Any], digest: str) -> Blob:
        answer = self._remote.send(
            "POST",
            "/api/v1/artifacts",
            content=content,
            headers={DIGEST_HEADER: digest, "content-type": "application/octet-stream"},
        ).json()
        return Blob(answer["digest"], int(answer["size"]))


class _BlobFileSystem(AbstractFileSystem):  # type: ignore[misc]
    """The server's blobs as a read-only filesystem whose paths are digests."""

    protocol = "mlpilot-server"
    cachable = False

    def __init__(self, remote: Remote) -> None:
        super().__init__()
        self._remote = remote

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        response = self._remote.http.head(f"/api/v1/artifacts/{path}")
        if response.status_code == 404:
            raise FileNotFoundError(path)
        if response.status_code >= 400:
            self._remote.raise_for(response)
        return {"name": path, "size": int(response.headers["content-length"]), "type": "file"}

    def cat_file(
        self, path: str, start: int | None = None, end: int | None = None, **kwargs: Any
    ) -> bytes:
        headers = {}
        if start is not None or end is not None:
            first = start or 0
            headers["range"] = f"bytes={first}-" + ("" if end is None else str(end - 1))
        try:
            response = self._remote.send("GET", f"/api/v1/artifacts/{path}", headers=headers)
        except NotFoundError:
            raise FileNotFoundError(path) from None
        return bytes(response.content)


def _stream(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as handle:
        yield from _chunks(handle)


def _chunks(handle: IO[bytes]) -> Iterator[bytes]:
    handle.seek(0)
    while chunk := handle.read(_CHUNK):
        yield chunk


def _corrupted(digest: str, actual: str) -> str:
    return (
        f"artifact blob {digest} arrived from the server with the digest {actual}: it is "
        "damaged in the server's store or was changed on the way"
    )


def _server_side(what: str) -> StoreError:
    return StoreError(f"{what} runs on the server's machine, against its artifact store")
