"""The server's end of a worker's pipe, read and written from the event loop.

The event loop puts the pipe's socket in non-blocking mode, so a message larger than the
socket's buffer leaves in several writes and arrives in several reads. A
:class:`~multiprocessing.connection.Connection` takes either for a broken pipe; this
channel instead sends what the socket takes now and the rest when it is writable, and
collects what arrives until a whole message is there. It speaks ``Connection``'s framing
(a 4-byte big-endian length, or -1 and an 8-byte one, then the pickle), so the worker
keeps its plain blocking ``Connection``.
"""

from __future__ import annotations

import asyncio
import os
import pickle
import socket
import struct
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

_SHORT = struct.Struct("!i")
_LONG = struct.Struct("!Q")
_READ_SIZE = 1 << 16


class Channel:
    """Messages to and from one worker process.

    Args:
        conn: The server's end of the pipe; the channel takes it over (and closes it).
        on_message: Called with each message the worker sends, in order.
        on_closed: Called once when the pipe breaks or the worker closes its end.
    """

    def __init__(
        self,
        conn: Connection,
        on_message: Callable[[Any], None],
        on_closed: Callable[[], None],
    ) -> None:
        self._sock = socket.socket(fileno=os.dup(conn.fileno()))
        conn.close()
        self._sock.setblocking(False)
        self._on_message = on_message
        self._on_closed = on_closed
        self._received = bytearray()
        self._unsent = bytearray()
        self._closed = False
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self._sock.fileno(), self._readable)

    @property
    def sending(self) -> bool:
        """Whether part of a message still waits for the socket."""
        return bool(self._unsent)

    def send(self, message: Any) -> None:
        """Send ``message``: what the socket takes now at once, the rest as it drains."""
        if self._closed:
            raise BrokenPipeError("the channel to the worker is closed")
        payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        size = len(payload)
        header = _SHORT.pack(size) if size <= 0x7FFFFFFF else _SHORT.pack(-1) + _LONG.pack(size)
        if self._unsent:
            self._unsent += header + payload
            return
        data = header + payload
        try:
            sent = self._sock.send(data)
        except BlockingIOError:
            sent = 0
        except OSError:
            self._close()
            return
        if sent < len(data):
            self._unsent += memoryview(data)[sent:]
            self._loop.add_writer(self._sock.fileno(), self._writable)

    def close(self) -> None:
        """Stop reading and writing, and close the socket; ``on_closed`` is not called."""
        if self._closed:
            return
        self._closed = True
        for remove in (self._loop.remove_reader, self._loop.remove_writer):
            try:
                remove(self._sock.fileno())
            except (ValueError, OSError):
                pass
        self._sock.close()

    def _writable(self) -> None:
        try:
            sent = self._sock.send(self._unsent)
        except BlockingIOError:
            return
        except OSError:
            self._close()
            return
        del self._unsent[:sent]
        if not self._unsent:
            self._loop.remove_writer(self._sock.fileno())

    def _readable(self) -> None:
        try:
            chunk = self._sock.recv(_READ_SIZE)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:
            self._close()
            return
        self._received += chunk
        for message in self._complete_messages():
            if self._closed:
                return
            self._on_message(message)

    def _complete_messages(self) -> list[Any]:
        messages = []
        buffer = self._received
        while len(buffer) >= _SHORT.size:
            (size,) = _SHORT.unpack_from(buffer)
            start = _SHORT.size
            if size == -1:
                if len(buffer) < _SHORT.size + _LONG.size:
                    break
                (size,) = _LONG.unpack_from(buffer, _SHORT.size)
                start += _LONG.size
            if len(buffer) < start + size:
                break
            with memoryview(buffer) as view, view[start : start + size] as body:
                messages.append(pickle.loads(body))
            del buffer[: start + size]
        return messages

    def _close(self) -> None:
        if not self._closed:
            self.close()
            self._on_closed()
