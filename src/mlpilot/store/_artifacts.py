"""Content-addressed artifact storage over any fsspec filesystem.

Blobs live at ``<root>/sha256/<d[:2]>/<digest>``. A write streams into
``<root>/tmp/<random>`` while hashing, then renames into place, so a reader never sees
a half-written blob and the same bytes are stored once. Every read re-hashes and
raises :class:`ArtifactCorruptedError` on a mismatch.

Backends are fsspec filesystems, picked by the URL's protocol (``file://``,
``memory://``, ``s3://``, ...). fsspec's own registry, and the ``fsspec.specs`` entry
points a package declares, make them pluggable: a new backend needs no change here.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import os
import re
import uuid
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

from mlpilot.errors import ArtifactCorruptedError, ConfigError, InvalidInputError, NotFoundError
from mlpilot.store._schema import MAX_PATH_LENGTH

_CHUNK = 1 << 20
_WRITE_BUFFER = 8 << 20
_DIGEST = re.compile(r"[0-9a-f]{64}")
_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:")


@dataclasses.dataclass(frozen=True)
class Blob:
    """A stored blob: its sha256 hex digest, its size in bytes, and (if known) its age."""

    digest: str
    size: int
    modified_s: float | None = None


def write_verified(
    chunks: Iterable[bytes],
    digest: str,
    dest: str | os.PathLike[str],
    corrupted: Callable[[str], str],
) -> Path:
    """Write ``chunks`` to ``dest`` if together they hash to ``digest``, else raise
    :class:`ArtifactCorruptedError` with ``corrupted(actual digest)``; ``dest`` appears
    only whole and intact."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.partial")
    hasher = hashlib.sha256()
    try:
        with open(partial, "wb") as target:
            for chunk in chunks:
                hasher.update(chunk)
                target.write(chunk)
        if hasher.hexdigest() != digest:
            raise ArtifactCorruptedError(corrupted(hasher.hexdigest()))
        os.replace(partial, dest)
    finally:
        partial.unlink(missing_ok=True)
    return dest


class BlobWriter(io.RawIOBase):
    """A write-only stream that hashes what it is given; see :meth:`ArtifactStore.writer`.

    Small writes are gathered into large ones: encoders write many small pieces, and each
    call into a remote filesystem has a cost of its own.
    """

    def __init__(self, target: IO[bytes]) -> None:
        self.hasher = hashlib.sha256()
        self.size = 0
        self.blob = Blob("", 0)
        self._target = target
        self._pending = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        self._pending += view
        if len(self._pending) >= _WRITE_BUFFER:
            self.drain()
        return len(view)

    def drain(self) -> None:
        """Hash and write what is gathered."""
        if self._pending:
            self.hasher.update(self._pending)
            self._target.write(self._pending)
            self.size += len(self._pending)
            self._pending = bytearray()


class ArtifactStore:
    """Stores and returns bytes by their sha256 digest under ``url``.

    Args:
        url: Any fsspec URL: ``file:///abs/path`` (default), ``memory://name``,
            ``s3://bucket/prefix``, ...
    """

    def __init__(self, url: str) -> None:
        # Imported here: a process that validates artifact paths but stores nothing
        # (listing runs, say) need not load fsspec.
        from fsspec.core import url_to_fs

        self.url = url
        try:
            self._fs, self._root = url_to_fs(url)
        except (ValueError, ImportError) as exc:
            raise ConfigError(f"artifact store URL {url!r} is not usable: {exc}") from exc
        self._root = self._root.rstrip("/")
        try:
            self._fs.makedirs(f"{self._root}/tmp", exist_ok=True)
        except OSError as exc:
            raise ConfigError(
                f"cannot use {url!r} as the artifact store: {exc}. "
                "Point MLPILOT_ARTIFACTS_URI at a folder or bucket mlpilot can write to"
            ) from exc

    @property
    def fs(self) -> AbstractFileSystem:
        return self._fs

    def put_file(self, path: str | os.PathLike[str]) -> Blob:
        """Store the file at local ``path``; returns its blob."""
        try:
            with open(path, "rb") as source:
                return self._put_stream(source)
        except FileNotFoundError as exc:
            raise NotFoundError(f"no such file to log as an artifact: {path}") from exc
        except IsADirectoryError as exc:
            raise InvalidInputError(f"{path} is a folder; log its files instead") from exc

    def put_bytes(self, data: bytes) -> Blob:
        """Store ``data``; returns its blob."""
        digest = hashlib.sha256(data).hexdigest()
        if self._fs.exists(self._blob_path(digest)):
            self._refresh(digest)
            return Blob(digest, len(data))
        tmp = self._tmp_path()
        self._fs.pipe_file(tmp, data)
        self._commit(tmp, digest)
        return Blob(digest, len(data))

    def get_bytes(self, digest: str) -> bytes:
        """Return the bytes of ``digest``, verified."""
        data = self._read(digest)
        actual = hashlib.sha256(data).hexdigest()
        if actual != digest:
            raise ArtifactCorruptedError(self._corruption_message(digest, actual))
        return data

    def get_file(self, digest: str, dest: str | os.PathLike[str]) -> Path:
        """Copy the blob to local ``dest``, verified; ``dest`` appears only if it is intact."""
        with self._open(digest) as source:
            return write_verified(
                iter(lambda: source.read(_CHUNK), b""),
                digest,
                dest,
                lambda actual: self._corruption_message(digest, actual),
            )

    def exists(self, digest: str) -> bool:
        return bool(self._fs.exists(self._blob_path(digest)))

    def delete(self, digest: str) -> None:
        self._fs.rm_file(self._blob_path(digest))

    def blobs(self) -> Iterator[Blob]:
        """Every stored blob, for garbage collection and checks."""
        for path, info in self._fs.find(f"{self._root}/sha256", detail=True).items():
            name = path.rsplit("/", 1)[-1]
            if _DIGEST.fullmatch(name):
                yield Blob(name, int(info.get("size") or 0), _modified_s(info))

    def stale_temporaries(self, older_than_s: float) -> list[str]:
        """Temporary files left by writers that died, older than ``older_than_s`` seconds."""
        cutoff = datetime.now().timestamp() - older_than_s
        found = self._fs.find(f"{self._root}/tmp", detail=True)
        return [path for path, info in found.items() if (_modified_s(info) or 0) < cutoff]

    def remove(self, path: str) -> None:
        self._fs.rm_file(path)

    @contextlib.contextmanager
    def writer(self) -> Iterator[BlobWriter]:
        """Write a blob as a stream: ``with store.writer() as out: out.write(...)``.

        The bytes are hashed as they go to a temporary name; when the block ends they are
        renamed to their digest (``out.blob``), or dropped if the block raised.
        """
        tmp = self._tmp_path()
        try:
            with self._fs.open(tmp, "wb") as target:
                out = BlobWriter(target)
                yield out
                out.drain()
            digest = out.hasher.hexdigest()
            if self._fs.exists(self._blob_path(digest)):
                self._refresh(digest)
                self._fs.rm_file(tmp)
            else:
                self._commit(tmp, digest)
            out.blob = Blob(digest, out.size)
        except BaseException:
            if self._fs.exists(tmp):
                self._fs.rm_file(tmp)
            raise

    def blob_path(self, digest: str) -> str:
        """Where ``digest`` lives inside :attr:`fs`, for ranged reads that verify later."""
        return self._blob_path(digest)

    def _put_stream(self, source: IO[bytes]) -> Blob:
        with self.writer() as out:
            while chunk := source.read(_CHUNK):
                out.write(chunk)
        return out.blob

    def _commit(self, tmp: str, digest: str) -> None:
        final = self._blob_path(digest)
        self._fs.makedirs(final.rsplit("/", 1)[0], exist_ok=True)
        self._fs.mv(tmp, final)

    def _refresh(self, digest: str) -> None:
        # A blob written again is in use again: restart its garbage-collection grace period.
        try:
            self._fs.touch(self._blob_path(digest), truncate=False)
        except (NotImplementedError, ValueError, OSError):
            pass

    def _open(self, digest: str) -> Any:
        try:
            return self._fs.open(self._blob_path(digest), "rb")
        except FileNotFoundError as exc:
            raise NotFoundError(
                f"artifact blob {digest} is missing from {self.url}; it was deleted or "
                "the store points at another location"
            ) from exc

    def _read(self, digest: str) -> bytes:
        with self._open(digest) as source:
            data: bytes = source.read()
        return data

    def _blob_path(self, digest: str) -> str:
        if not isinstance(digest, str) or not _DIGEST.fullmatch(digest):
            raise InvalidInputError(
                f"{digest!r} is not an artifact digest (64 lowercase hex characters)"
            )
        return f"{self._root}/sha256/{digest[:2]}/{digest}"

    def _tmp_path(self) -> str:
        return f"{self._root}/tmp/{uuid.uuid4().hex}"

    def _corruption_message(self, digest: str, actual: str) -> str:
        return (
            f"artifact {digest} in {self.url} is corrupted: its bytes hash to {actual}. "
            "Log the artifact again, or restore the blob from a backup."
        )


def validate_artifact_path(path: str) -> str:
    """Check a user-given artifact path and return it in canonical form.

    A path is relative, uses ``/`` between parts, and has no empty, ``.`` or ``..`` part,
    so it can never name anything outside its run.

    Raises:
        InvalidInputError: naming what is wrong with ``path``.
    """
    if not isinstance(path, str):
        raise InvalidInputError(f"artifact path must be a string, got {type(path).__name__}")
    problem = None
    if not path:
        problem = "is empty"
    elif len(path) > MAX_PATH_LENGTH:
        problem = f"is longer than {MAX_PATH_LENGTH} characters"
    elif "\x00" in path or "\\" in path:
        problem = "contains a NUL or backslash character"
    elif path.startswith("/") or _WINDOWS_DRIVE.match(path):
        problem = "is absolute; give a path relative to the run, e.g. 'plots/roc.png'"
    elif any(part in ("", ".", "..") for part in path.split("/")):
        problem = "has an empty, '.' or '..' part; artifact paths cannot leave their run"
    else:
        try:
            path.encode("utf-8")
        except UnicodeEncodeError:
            problem = "is not valid UTF-8"
    if problem:
        raise InvalidInputError(f"artifact path {path!r} {problem}")
    return path


def _modified_s(info: dict[str, Any]) -> float | None:
    for key in ("mtime", "created", "LastModified", "last_modified"):
        value = info.get(key)
        if isinstance(value, int | float):
            return float(value)
        if isinstance(value, datetime):
            return value.timestamp()
    return None
