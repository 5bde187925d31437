"""A closed-loop HTTP/1.1 load generator, cheap enough per request not to be what it measures.

It runs as a process of its own, so the client never shares the server's interpreter.
``--concurrency C`` clients each hold one keep-alive connection and send the same
prebuilt request again as soon as the previous answer has arrived. The answer is read
by hand (status line, ``Content-Length`` or chunked body) on raw asyncio streams, with
uvloop's event loop when it is installed.

Requests answered during the first ``--warmup`` seconds are not counted; then the
answers completed within ``--duration`` seconds are: the throughput is the number of
good answers (a 2xx status, whose body holds ``--expect`` when given) divided by the
duration, and the latencies (``time.perf_counter_ns`` from writing the request to
having its whole answer) are those of the good answers. Any other answer counts as an
error under its status; a broken connection counts as ``connection`` and is opened
again, and a request still unanswered ``--grace`` seconds after the end as ``timeout``.

``--cpu N`` pins this process to CPU ``N``. The result is one JSON line on stdout::

    {"requests": ..., "ok": ..., "errors": {"503": 2}, "throughput_rps": ...,
     "p50_ms": ..., "p90_ms": ..., "p99_ms": ..., "max_ms": ..., ...}

Usage: python _loadgen.py --url URL --body-file FILE --concurrency C --duration S
       [--warmup W] [--expect TEXT] [--cpu N]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import math
import os
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

_HEAD_END = b"\r\n\r\n"


class ProtocolError(Exception):
    """The server's answer is not HTTP/1.1 as this client reads it."""


@dataclass(frozen=True)
class Target:
    host: str
    port: int
    request: bytes


def build_target(url: str, body: bytes, content_type: str = "application/json") -> Target:
    """The address to connect to and the bytes of one ``POST`` of ``body`` to ``url``."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise ValueError(f"only http://HOST[:PORT]/PATH URLs are supported, got {url!r}")
    port = parts.port or 80
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    host_header = parts.hostname if parts.port is None else f"{parts.hostname}:{port}"
    head = (
        f"POST {path} HTTP/1.1\r\n"
        f"Host: {host_header}\r\n"
        f"Content-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Accept: */*\r\n"
        "Connection: keep-alive\r\n"
        "\r\n"
    )
    return Target(parts.hostname, port, head.encode("latin-1") + body)


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """Read one answer: its status, its body, and whether the server closes afterwards."""
    head = await reader.readuntil(_HEAD_END)
    if not head.startswith(b"HTTP/1.") or len(head) < 12:
        raise ProtocolError(f"not an HTTP/1.x status line: {head[:40]!r}")
    status = int(head[9:12])
    length = -1
    chunked = close = False
    for line in head[:-4].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding":
            chunked = b"chunked" in value.lower()
        elif name == b"connection":
            close = b"close" in value.lower()
    if head.startswith(b"HTTP/1.0") and not close:
        close = True
    if status in (204, 304) or 100 <= status < 200:
        return status, b"", close
    if chunked:
        parts = []
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";", 1)[0], 16)
            if size == 0:
                # Trailers, if any, then the empty line.
                while await reader.readuntil(b"\r\n") != b"\r\n":
                    pass
                break
            parts.append(await reader.readexactly(size + 2))
        return status, b"".join(part[:-2] for part in parts), close
    if length >= 0:
        return status, await reader.readexactly(length), close
    return status, await reader.read(), True


@dataclass
class Tally:
    """What every client records, shared (one event loop, so no locking)."""

    measure_ns: int
    stop_ns: int
    expect: bytes | None
    latencies: list[int] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    connections: int = 0
    in_flight: int = 0
    first_body: bytes | None = None


async def _connect(target: Target, tally: Tally) -> tuple[asyncio.StreamReader, Any]:
    reader, writer = await asyncio.open_connection(target.host, target.port)
    tally.connections += 1
    return reader, writer


def _close(writer: Any) -> None:
    try:
        writer.close()
    except Exception:  # a broken connection may fail to close; it is gone either way
        pass


async def client(target: Target, tally: Tally) -> None:
    """One closed-loop client: the next request leaves as soon as an answer is in."""
    clock = time.perf_counter_ns
    request = target.request
    expect = tally.expect
    latencies = tally.latencies
    errors = tally.errors
    measure_ns, stop_ns = tally.measure_ns, tally.stop_ns
    reader, writer = await _connect(target, tally)
    try:
        while True:
            start = clock()
            if start >= stop_ns:
                return
            tally.in_flight += 1
            try:
                writer.write(request)
                status, body, close = await read_response(reader)
            except (OSError, EOFError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                tally.in_flight -= 1
                if measure_ns <= clock() < stop_ns:
                    errors["connection"] += 1
                _close(writer)
                await asyncio.sleep(0.01)
                reader, writer = await _connect(target, tally)
                continue
            end = clock()
            tally.in_flight -= 1
            if tally.first_body is None:
                tally.first_body = body
            if measure_ns <= end < stop_ns:
                if 200 <= status < 300 and (expect is None or expect in body):
                    latencies.append(end - start)
                else:
                    errors[str(status)] += 1
            if close:
                _close(writer)
                reader, writer = await _connect(target, tally)
    finally:
        _close(writer)


def percentile(ordered: list[int], q: float) -> int:
    """Nearest-rank percentile ``q`` (0..1) of the sorted, non-empty ``ordered``."""
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


async def run_load(
    target: Target,
    *,
    concurrency: int,
    duration: float,
    warmup: float,
    expect: bytes | None,
    grace: float,
) -> Tally:
    now = time.perf_counter_ns()
    measure_ns = now + int(warmup * 1e9)
    tally = Tally(measure_ns, measure_ns + int(duration * 1e9), expect)
    tasks = [asyncio.create_task(client(target, tally)) for _ in range(concurrency)]
    done, pending = await asyncio.wait(tasks, timeout=warmup + duration + grace)
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending)
        tally.errors["timeout"] += max(tally.in_flight, len(pending))
    failures = [exc for task in done if (exc := task.exception()) is not None]
    if failures:
        raise failures[0]
    return tally


def _event_loop_factory() -> tuple[Callable[[], asyncio.AbstractEventLoop] | None, str]:
    try:
        import uvloop
    except ImportError:
        return None, "asyncio"
    return uvloop.new_event_loop, "uvloop"


def summarise(tally: Tally, duration: float) -> dict[str, Any]:
    ordered = sorted(tally.latencies)
    ok = len(ordered)
    errors = dict(sorted(tally.errors.items()))
    result: dict[str, Any] = {
        "requests": ok + sum(errors.values()),
        "ok": ok,
        "errors": errors,
        "throughput_rps": ok / duration,
        "p50_ms": None,
        "p90_ms": None,
        "p99_ms": None,
        "max_ms": None,
        "mean_ms": None,
        "connections": tally.connections,
    }
    if ordered:
        result.update(
            p50_ms=percentile(ordered, 0.50) / 1e6,
            p90_ms=percentile(ordered, 0.90) / 1e6,
            p99_ms=percentile(ordered, 0.99) / 1e6,
            max_ms=ordered[-1] / 1e6,
            mean_ms=sum(ordered) / ok / 1e6,
        )
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="http://HOST:PORT/PATH to POST to")
    parser.add_argument("--body-file", type=Path, required=True, help="the request body")
    parser.add_argument("--content-type", default="application/json")
    parser.add_argument("--concurrency", type=int, default=1, help="clients, one connection each")
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds before measuring")
    parser.add_argument("--expect", default=None, help="text a good answer's body holds")
    parser.add_argument("--grace", type=float, default=30.0, help="seconds to wait at the end")
    parser.add_argument("--cpu", type=int, default=None, help="pin this process to CPU N")
    args = parser.parse_args(argv)
    if args.concurrency < 1 or args.duration <= 0 or args.warmup < 0:
        parser.error("--concurrency must be ≥ 1, --duration > 0 and --warmup ≥ 0")

    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    target = build_target(args.url, args.body_file.read_bytes(), args.content_type)
    expect = args.expect.encode("utf-8") if args.expect is not None else None
    loop_factory, loop_name = _event_loop_factory()

    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            tally = runner.run(
                run_load(
                    target,
                    concurrency=args.concurrency,
                    duration=args.duration,
                    warmup=args.warmup,
                    expect=expect,
                    grace=args.grace,
                )
            )
    except (OSError, ProtocolError) as exc:
        print(f"_loadgen: {args.url}: {exc}", file=sys.stderr)
        return 2
    finally:
        gc.enable()

    result = summarise(tally, args.duration)
    first = tally.first_body or b""
    result.update(
        url=args.url,
        concurrency=args.concurrency,
        duration_s=args.duration,
        warmup_s=args.warmup,
        event_loop=loop_name,
        cpu=args.cpu,
        first_body=first[:200].decode("utf-8", "replace"),
    )
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
