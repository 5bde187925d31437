"""The global options of a command line call, and the store they open."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from typer import _click as click  # the click that typer ships with, and whose types it uses

from mlpilot.config import Settings, load_settings

if TYPE_CHECKING:
    from mlpilot.store import Store
    from mlpilot.tracking import TrackingClient

#: The commands that may create the store: each records something that needs nothing
#: recorded before it. Every other command opens an existing store only, so that a
#: mistyped ``--store-uri`` or ``--home`` is reported instead of being answered from a
#: new, empty store (or, for ``gc``, of finding every blob unreferenced).
CREATING_COMMANDS = frozenset(
    {"datasets register", "pipelines run", "tune run", "triggers create", "users add"}
)


@dataclasses.dataclass
class CliState:
    """``--home``, ``--store-uri`` and ``--artifacts-uri``; the store opens on first use.

    ``command`` is the running command's name under ``mlpilot`` (``"runs list"``); the
    store may be created only for one of :data:`CREATING_COMMANDS`.
    """

    home: Path | None = None
    store_uri: str | None = None
    artifacts_uri: str | None = None
    command: str = ""
    _store: Store | None = None

    @property
    def may_create_store(self) -> bool:
        return self.command in CREATING_COMMANDS

    def settings(self) -> Settings:
        return load_settings(
            home=self.home, store_uri=self.store_uri, artifacts_uri=self.artifacts_uri
        )

    def store(self) -> Store:
        """The store of the settings.

        Raises:
            NotFoundError: There is no store there, and the command may not create one.
        """
        from mlpilot.store import open_store

        if self._store is None:
            self._store = open_store(self.settings(), create=self.may_create_store)
        return self._store

    def client(self) -> TrackingClient:
        from mlpilot.tracking import TrackingClient

        return TrackingClient(store=self.store())

    def close(self) -> None:
        """Release the database connections this call opened."""
        if self._store is not None:
            self._store.close()


def state(ctx: typer.Context) -> CliState:
    """The :class:`CliState` of the running command line call, naming ``ctx``'s command."""
    found = ctx.find_object(CliState)
    if found is None:
        found = ctx.ensure_object(CliState)
    found.command = command_name(ctx)
    return found


def command_name(ctx: typer.Context) -> str:
    """The command's words after the program's name: ``"runs list"``, ``"gc"``."""
    words: list[str] = []
    current: click.Context = ctx
    while current.parent is not None:
        words.append(current.info_name or "")
        current = current.parent
    return " ".join(reversed(words))
