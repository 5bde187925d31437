"""The team server: ``mlpilot server`` serves one store to many clients over HTTP.

A client reaches it by setting its store to the server's address
(``MLPILOT_STORE_URI=http://host:port``); its records and artifacts then live on the
server, which alone holds the database and the object store.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlpilot._lazy import exports

if TYPE_CHECKING:
    from mlpilot.server._app import create_app

__getattr__, __dir__ = exports(__name__, globals(), {"create_app": "mlpilot.server._app"})

__all__ = ["create_app"]
