"""Starts mlpilot server processes fast, for tests that each need a server of their own.

Run as a program, it builds the server's application once, then for each line of JSON
settings it reads (with ``"auth": true`` for a server that wants tokens) forks a process
that serves a store with those settings on a free loopback port, and prints
``{"pid": ..., "port": ...}``. A fork of a process that has
already imported and built everything starts in milliseconds; a fresh one takes two
seconds, too long for each of hundreds of contract tests.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys


def main() -> None:
    import uvicorn

    from mlpilot.config import load_settings
    from mlpilot.server import create_app

    apps = {auth: create_app(load_settings(home=os.getcwd()), auth=auth) for auth in (False, True)}
    for app in apps.values():
        app.openapi()
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped as they end
    for line in sys.stdin:
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(128)
        pid = os.fork()
        if pid:
            listener.close()
            continue
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        settings = json.loads(line)
        app = apps[settings.pop("auth", False)]
        app.state.settings = load_settings(**settings)
        print(json.dumps({"pid": os.getpid(), "port": listener.getsockname()[1]}), flush=True)
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
        server.run(sockets=[listener])
        os._exit(0)


if __name__ == "__main__":
    main()
