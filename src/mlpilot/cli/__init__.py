"""The ``mlpilot`` command line: a thin layer over the Python API.

Run ``mlpilot --help`` for the commands. :func:`main` is the console-script entry point;
``app`` is the Typer application, for embedding or testing.
"""

from __future__ import annotations

from mlpilot.cli._app import app, main

__all__ = ["app", "main"]
