"""``mlpilot users``, ``mlpilot tokens`` and ``mlpilot login``: the accounts of a team
server (``mlpilot server --auth``).

On the server's machine these work on its database directly, which is how the first
admin is made; elsewhere they go through the server, as an admin.
"""

from __future__ import annotations

import getpass
from typing import Annotated

import typer
from rich.table import Table

from mlpilot.cli import _output
from mlpilot.cli._state import state
from mlpilot.errors import ConfigError
from mlpilot.store.base._accounts import ROLES, NewToken

users_app = typer.Typer(no_args_is_help=True, help="Users of a team server and their roles.")
tokens_app = typer.Typer(no_args_is_help=True, help="API tokens of a team server's users.")

UserArgument = Annotated[str, typer.Argument(metavar="USER", help="A user's name.")]
RoleArgument = Annotated[str, typer.Argument(metavar="ROLE", help=f"One of: {', '.join(ROLES)}.")]


@users_app.command("add")
def add_user(
    ctx: typer.Context,
    name: UserArgument,
    role: Annotated[str, typer.Option("--role", help=f"One of: {', '.join(ROLES)}.")] = "read",
) -> None:
    """Add a user and make their first token (shown once).

    mlpilot users add ana --role admin
    """
    accounts = state(ctx).store().accounts
    user = accounts.add_user(name, role)
    _show_secret(accounts.create_token(user.name, "first"), f"user {user.name} ({user.role})")


@users_app.command("list")
def list_users(ctx: typer.Context, as_json: _output.JsonOption = False) -> None:
    """List users and their roles."""
    found = state(ctx).store().accounts.list_users()
    if as_json:
        _output.print_json([u.to_dict() for u in found])
        return
    table = Table("user", "role", "added", "by")
    for user in found:
        table.add_row(user.name, user.role, _output.human_time(user.created_ms), user.created_by)
    _output.stdout().print(table)


@users_app.command("role")
def set_role(ctx: typer.Context, name: UserArgument, role: RoleArgument) -> None:
    """Give a user another role."""
    user = state(ctx).store().accounts.set_role(name, role)
    _output.stderr().print(f"{user.name} is now {user.role}")


@users_app.command("remove")
def remove_user(ctx: typer.Context, name: UserArgument) -> None:
    """Remove a user; their tokens stop working at once."""
    state(ctx).store().accounts.remove_user(name)
    _output.stderr().print(f"removed {name} and revoked their tokens")


@tokens_app.command("create")
def create_token(
    ctx: typer.Context,
    user: UserArgument,
    label: Annotated[str, typer.Option("--label", help="What the token is for.")] = "",
) -> None:
    """Make another token for a user (shown once)."""
    _show_secret(state(ctx).store().accounts.create_token(user, label), f"user {user}")


@tokens_app.command("list")
def list_tokens(
    ctx: typer.Context,
    user: Annotated[str | None, typer.Argument(metavar="[USER]", help="Only theirs.")] = None,
    as_json: _output.JsonOption = False,
) -> None:
    """List tokens (never their secrets), revoked ones too."""
    found = state(ctx).store().accounts.list_tokens(user)
    if as_json:
        _output.print_json([t.to_dict() for t in found])
        return
    table = Table("id", "user", "label", "made", "revoked")
    for token in found:
        revoked = _output.human_time(token.revoked_ms) if token.revoked_ms else ""
        table.add_row(
            token.id, token.user, token.label, _output.human_time(token.created_ms), revoked
        )
    _output.stdout().print(table)


@tokens_app.command("revoke")
def revoke_token(
    ctx: typer.Context,
    token_id: Annotated[str, typer.Argument(metavar="ID", help="As tokens list shows it.")],
) -> None:
    """Revoke a token: the next request with it is refused."""
    token = state(ctx).store().accounts.revoke_token(token_id)
    _output.stderr().print(f"revoked token {token.id} of {token.user}")


def login_command(
    ctx: typer.Context,
    url: Annotated[
        str | None,
        typer.Argument(metavar="[URL]", help="The server (default: the store URI, if a server)."),
    ] = None,
) -> None:
    """Store an API token for a server, for this user's commands and scripts.

    mlpilot login http://mlpilot.internal:5050

    The token is read from the terminal (never from the command line), checked with the
    server, and kept in a file only this user can read. MLPILOT_TOKEN, when set, wins.
    """
    from mlpilot.store._store import is_remote
    from mlpilot.store.http._credentials import check_token, save_token

    target = url or state(ctx).settings().store_uri
    if not is_remote(target):
        raise ConfigError(
            f"{target} is not a server; give its URL (mlpilot login http://HOST:PORT)"
        )
    secret = getpass.getpass(f"API token for {target}: ").strip()
    if not secret:
        raise ConfigError("no token given; an admin makes one with: mlpilot tokens create USER")
    who = check_token(target, secret)
    path = save_token(target, secret)
    _output.stderr().print(f"logged in to {target} as {who['user']} ({who['role']}); {path}")


def _show_secret(token: NewToken, whose: str) -> None:
    _output.stderr().print(
        f"token {token.record.id} for {whose}; it is shown this once, keep it secret:"
    )
    _output.stdout().print(token.secret, markup=False, highlight=False, soft_wrap=True)
