"""CLI: `ductwork server`, `ui`, `users add|list|set-role`, `keys create|list|revoke`.

These work on the store directly (`$DUCTWORK_DB_URL` / `$DUCTWORK_HOME`), as an admin on
the server's machine would. `register(main)` adds them to the `ductwork` command group.
"""

from __future__ import annotations

import ipaddress
import secrets
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING

import click

from ductwork.core import settings
from ductwork.core.display import mask_secrets, printable
from ductwork.core.errors import DuctworkError
from ductwork.terminal import json_option, print_json

if TYPE_CHECKING:
    from ductwork.store.store import Store

DEFAULT_SERVER_PORT = 8008
DEFAULT_UI_PORT = settings.DEFAULT_UI_PORT


def _store(db_url: str | None) -> Store:
    from ductwork.store import Store

    return Store(db_url or settings.db_url())


def _fail(exc: Exception) -> click.ClickException:
    # One printable line, and no password: a store error may quote the database URL.
    return click.ClickException(printable(mask_secrets(exc)))


@click.command("server")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind (0.0.0.0: all).")
@click.option("--port", default=DEFAULT_SERVER_PORT, show_default=True, type=int)
@click.option("--db-url", default=None, help="Store URL (default: $DUCTWORK_DB_URL or $DUCTWORK_HOME).")
@click.option("--artifacts-uri", default=None, help="Artifact root (default: $DUCTWORK_HOME/artifacts).")
@click.option(
    "--allow-storage",
    "allow_storage",
    multiple=True,
    metavar="PREFIX",
    help="Also read artifacts and models stored under PREFIX (e.g. s3://bucket/team/); repeatable "
    "(default: $DUCTWORK_ALLOWED_STORAGE, comma-separated). The artifact root is always allowed.",
)
def server_command(
    host: str, port: int, db_url: str | None, artifacts_uri: str | None, allow_storage: tuple[str, ...]
) -> None:
    """Serve the REST API, live events and the web UI; every call needs an API key."""
    from ductwork.server import serving
    from ductwork.server.app import create_app

    try:
        store = _store(db_url)
    except DuctworkError as exc:
        raise _fail(exc) from exc
    # The port first: the first admin's secrets are printed only once it is ours, so a busy
    # port fails before anything secret was shown (and the admin is created on the next start).
    listener = serving.listen(host, port)
    try:
        bootstrap_admin(store, echo=click.echo)
    except DuctworkError as exc:
        listener.close()
        raise _fail(exc) from exc
    try:
        app = create_app(
            store=store,
            auth=True,
            artifacts_uri=artifacts_uri,
            allowed_storage=allow_storage or settings.allowed_storage(),
        )
    except DuctworkError as exc:
        listener.close()
        # masked: a refused location may carry a password the admin typed into it
        raise click.BadParameter(mask_secrets(exc), param_hint="--allow-storage / --artifacts-uri") from exc
    click.echo(f"ductwork server on {serving.address(listener)} (store: {mask_secrets(repr(store))})")
    serving.serve(app, listener)


def bootstrap_admin(store: Store, *, echo: Callable[[str], object]) -> str | None:
    """On a store without users, create `admin` with a password and an API key; print both once."""
    if store.list_users():
        return None
    password = secrets.token_urlsafe(12)
    store.create_user("admin", password=password, admin=True)
    token = str(store.create_api_key("admin", name="first admin key").token)
    echo("First start: created user 'admin'. These are shown once; keep them safe.")
    echo(f"  web login:  admin / {password}")
    echo(f"  API key:    {token}")
    echo(f"  export DUCTWORK_API_KEY={token}")
    return token


@click.command("ui")
@click.option("--host", default=settings.DEFAULT_UI_HOST, show_default=True, help="A loopback address only.")
@click.option("--port", default=DEFAULT_UI_PORT, show_default=True, type=int)
@click.option("--db-url", default=None, help="Store URL (default: $DUCTWORK_DB_URL or $DUCTWORK_HOME).")
def ui_command(host: str, port: int, db_url: str | None) -> None:
    """The web UI over the embedded store for you alone: no login, bound to loopback."""
    if not is_loopback(host):
        raise click.BadParameter(
            f"{host} is not a loopback address; `ductwork ui` runs without authentication and only "
            "binds to 127.0.0.1 or ::1. To share the UI, run `ductwork server` (it requires API keys).",
            param_hint="--host",
        )
    from ductwork.server import serving
    from ductwork.server.app import create_app

    try:
        app = create_app(db_url, auth=False)
    except DuctworkError as exc:
        raise _fail(exc) from exc
    listener = serving.listen(host, port)  # the address is printed only once the port is ours
    click.echo(f"ductwork ui on {serving.address(listener)}")
    serving.serve(app, listener)


def is_loopback(host: str) -> bool:
    """Whether `host` (an address or a name) resolves only to loopback addresses."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(info[4][0]).is_loopback for info in infos)


@click.group("users")
def users_group() -> None:
    """Users of `ductwork server`."""


ROLES = ("admin", "user", "readonly", "agent")
ROLE_HELP = (
    "user: creates and changes their own tasks, runs, models and queues (default); "
    "readonly: only looks; agent: a service account for `ductwork agent`, acts on every user's "
    "tasks it runs but deletes nothing; admin: everything, on everyone's objects."
)


@users_group.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), default=None, help=ROLE_HELP)
@click.option("--admin", is_flag=True, help="The same as --role admin.")
@click.option(
    "--password",
    default=None,
    help="Web login password (asked for unless given; an agent account needs none: it uses keys).",
)
@click.option("--db-url", default=None)
def users_add(name: str, role: str | None, admin: bool, password: str | None, db_url: str | None) -> None:
    """Create user NAME with a role (asks for a password unless --password is given)."""
    if admin and role not in (None, "admin"):
        raise click.BadParameter(f"--admin contradicts --role {role}", param_hint="--admin")
    role = role or ("admin" if admin else "user")
    if password is None and role != "agent":
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    if password is not None and len(password) < 8:
        raise click.BadParameter("a password needs at least 8 characters", param_hint="--password")
    try:
        user = _store(db_url).create_user(name, password=password, role=role)
    except DuctworkError as exc:
        raise _fail(exc) from exc
    click.echo(f"created user {printable(user.name)} ({user.role})")


@users_group.command("list")
@click.option("--db-url", default=None)
@json_option
def users_list(db_url: str | None, as_json: bool) -> None:
    """List users and their roles."""
    try:
        users = _store(db_url).list_users()
    except DuctworkError as exc:
        raise _fail(exc) from exc
    if as_json:
        print_json(users)
        return
    for user in users:
        click.echo(f"{printable(user.name)}  {printable(user.role)}")


@users_group.command("set-role")
@click.argument("name")
@click.argument("role", type=click.Choice(ROLES))
@click.option("--db-url", default=None)
def users_set_role(name: str, role: str, db_url: str | None) -> None:
    """Give user NAME the role ROLE; it holds for their next request (keys and sessions alike)."""
    try:
        user = _store(db_url).set_role(name, role)
    except DuctworkError as exc:
        raise _fail(exc) from exc
    click.echo(f"{user.name} is now {user.role}")


@users_group.command("passwd")
@click.argument("name")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True, help="The new password.")
@click.option("--db-url", default=None)
def users_passwd(name: str, password: str, db_url: str | None) -> None:
    """Give user NAME a new password; every web session of theirs ends (API keys stay)."""
    if not 8 <= len(password) <= 1024:
        raise click.BadParameter("a password needs 8 to 1024 characters", param_hint="--password")
    try:
        ended = _store(db_url).set_password(name, password)
    except DuctworkError as exc:
        raise _fail(exc) from exc
    click.echo(f"new password for {name}; {ended} web session{'' if ended == 1 else 's'} ended")


@click.group("keys")
def keys_group() -> None:
    """API keys (`Authorization: Bearer <key>`, or `DUCTWORK_API_KEY` for the SDK and agents)."""


@keys_group.command("create")
@click.option("--user", "user_name", default="admin", show_default=True, help="Whose key it is.")
@click.option("--name", default="", help="A label, e.g. the machine it is for.")
@click.option("--db-url", default=None)
def keys_create(user_name: str, name: str, db_url: str | None) -> None:
    """Create an API key and print its secret (shown this once only)."""
    try:
        created = _store(db_url).create_api_key(user_name, name=name)
    except DuctworkError as exc:
        raise _fail(exc) from exc
    click.echo(created.token)
    click.echo(f"key {created.key.id} for {created.key.user}: the secret above is not shown again", err=True)


@keys_group.command("list")
@click.option("--user", "user_name", default=None, help="Only this user's keys.")
@click.option("--db-url", default=None)
@json_option
def keys_list(user_name: str | None, db_url: str | None, as_json: bool) -> None:
    """List API keys (ids and owners; never secrets)."""
    import datetime as dt

    from ductwork import terminal

    try:
        keys = _store(db_url).list_api_keys(user_name)
    except DuctworkError as exc:
        raise _fail(exc) from exc
    if as_json:
        print_json(keys)
        return

    def when(stamp: float | None) -> str:
        return dt.datetime.fromtimestamp(stamp).strftime("%Y-%m-%d %H:%M") if stamp else ""

    table = terminal.table()
    terminal.id_column(table)
    for column in ("user", "name", "created", "revoked"):
        table.add_column(column)
    for key in keys:
        shown = [terminal.shown(value) for value in (key.id, key.user, key.name)]
        table.add_row(*shown, when(key.created), when(key.revoked))
    terminal.console().print(table)


@keys_group.command("revoke")
@click.argument("key_id")
@click.option("--db-url", default=None)
def keys_revoke(key_id: str, db_url: str | None) -> None:
    """Revoke API key KEY_ID (or a unique prefix of it): every later call with it is refused."""
    try:
        store = _store(db_url)
        key_id = _key_id(store, key_id)
        store.revoke_api_key(key_id)
    except DuctworkError as exc:
        raise _fail(exc) from exc
    click.echo(f"revoked {key_id}")


def _key_id(store: Store, text: str) -> str:
    """The id of the one API key whose id is, or starts with, `text`."""
    from ductwork.core.errors import NotFound, ValidationError

    ids = [key.id for key in store.list_api_keys(None)]
    found = [key_id for key_id in ids if key_id == text] or [k for k in ids if text and k.startswith(text)]
    if len(found) == 1:
        return found[0]
    if not found:
        raise NotFound(f"no API key id starts with {printable(text)!r} (`ductwork keys list` shows them)")
    listed = ", ".join(found[:10])
    raise ValidationError(f"{printable(text)!r} starts {len(found)} API key ids ({listed}); give more of it")


def register(main: click.Group) -> None:
    """Add the server's commands to the `ductwork` group."""
    for command in (server_command, ui_command, users_group, keys_group):
        main.add_command(command)
