"""`ticketclock server`: the team server on PostgreSQL (daemon/server/). Its settings come from the environment
(daemon/server/config.py); `--database` and `--bind` override them."""

from __future__ import annotations

import argparse
import os
import socket
import sys

import msgspec

from daemon import __version__
from daemon.cli.common import EXIT_USAGE, Command
from daemon.settings import Settings

__all__ = ["COMMANDS"]


def cmd_server(settings: Settings, args: argparse.Namespace) -> int:
    import asyncio

    try:
        from daemon.server.config import ConfigError, ServerConfig
    except ImportError as exc:  # asyncpg & co. are the `server` extra
        print(f"ticketclock: the team server needs `pip install 'ticketclock[server]'` ({exc.name})", file=sys.stderr)
        return EXIT_USAGE
    from daemon.server.logs import setup_server_logging

    try:
        config = ServerConfig.from_env(os.environ, database=args.database, bind=args.bind)
    except ConfigError as exc:
        print(f"ticketclock: {exc}", file=sys.stderr)
        return EXIT_USAGE
    setup_server_logging(config.log_format, verbose=args.verbose)
    return asyncio.run(_serve(config))


async def _serve(config: object) -> int:
    import asyncio

    from aiohttp import web

    from daemon.cli.serving import install_stop_handlers
    from daemon.server.app import create_server_app
    from daemon.server.config import ServerConfig
    from daemon.server.store import ServerStoreError

    assert isinstance(config, ServerConfig)
    try:  # bound first: with port 0 the app must know the port it got (its own origin)
        sock = _listen(config.host, config.port)
    except OSError as exc:
        print(f"ticketclock: cannot listen on {config.host}:{config.port}: {exc.strerror}", file=sys.stderr)
        return EXIT_USAGE
    config = msgspec.structs.replace(config, port=sock.getsockname()[1])
    app = create_server_app(config)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    try:
        await runner.setup()
    except (ServerStoreError, OSError) as exc:
        print(f"ticketclock: cannot start the team server: {exc}", file=sys.stderr)
        sock.close()
        await runner.cleanup()
        return EXIT_USAGE
    await web.SockSite(runner, sock).start()
    port = config.port
    stop = asyncio.Event()
    install_stop_handlers(stop)
    print(f"TicketClock server {__version__} listening on http://{config.host}:{port}", flush=True)
    try:
        await stop.wait()
    finally:
        print("TicketClock server stopping", flush=True)
        await runner.cleanup()
    return 0


def _listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket; with SO_REUSEPORT where there is one, so that several server processes of the same
    user may serve one port on one host."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if hasattr(socket, "SO_REUSEPORT"):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        sock.listen(1024)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--database", help="postgresql://… (default: $TICKETCLOCK_DATABASE_URL)")
    p.add_argument("--bind", help="host:port to listen on (default: $TICKETCLOCK_BIND or 127.0.0.1:8470; port 0: any)")


def cmd_server_admin(settings: Settings, args: argparse.Namespace) -> int:
    """`server-admin add-admin EMAIL --name NAME`: the first admin (or another), straight into the database. The
    password comes from stdin (asked twice, unseen, on a terminal), never from the command line."""
    import asyncio

    if args.action != "add-admin":
        print("ticketclock: say what to do: server-admin add-admin EMAIL --name NAME", file=sys.stderr)
        return EXIT_USAGE
    try:
        from daemon.server.config import ConfigError, ServerConfig
    except ImportError as exc:
        print(f"ticketclock: the team server needs `pip install 'ticketclock[server]'` ({exc.name})", file=sys.stderr)
        return EXIT_USAGE
    try:
        config = ServerConfig.from_env(os.environ, database=args.database)
    except ConfigError as exc:
        print(f"ticketclock: {exc}", file=sys.stderr)
        return EXIT_USAGE
    password = _read_password()
    if password is None:
        return EXIT_USAGE
    return asyncio.run(_add_admin(config, args.email, args.name, password))


def _read_password() -> str | None:
    if sys.stdin.isatty():
        import getpass

        first = getpass.getpass("Password for the new admin (12 characters or more): ")
        if getpass.getpass("The same password again: ") != first:
            print("ticketclock: the two passwords differ; nothing was added", file=sys.stderr)
            return None
        return first
    line = sys.stdin.readline()
    return line.removesuffix("\n").removesuffix("\r")


async def _add_admin(config: object, email: str, name: str, password: str) -> int:
    from daemon.api.errors import ApiError
    from daemon.clock import SystemClock
    from daemon.server.config import ServerConfig
    from daemon.server.people import Actor, NewPerson, add_person
    from daemon.server.services import ServerServices
    from daemon.server.store import ServerDatabase, ServerStoreError

    assert isinstance(config, ServerConfig)
    try:
        db = await ServerDatabase.open(config.database_url, max_size=2)
    except (ServerStoreError, OSError) as exc:
        print(f"ticketclock: cannot open the team server's database: {exc}", file=sys.stderr)
        return 1
    try:
        services = ServerServices(config=config, clock=SystemClock(), db=db, process_id="server-admin")
        body = NewPerson(email=email, name=name, password=password, is_admin=True)
        person = await add_person(services, Actor(None, "ticketclock server-admin", "cli"), body)
    except ApiError as exc:
        print(f"ticketclock: {exc} ({exc.code})", file=sys.stderr)
        return 1
    finally:
        await db.close()
    print(f"added admin {person.email} ({person.id})")
    return 0


def _admin_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--database", help="postgresql://… (default: $TICKETCLOCK_DATABASE_URL)")
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    add = actions.add_parser("add-admin", help="add an admin who signs in with a password read from stdin")
    add.add_argument("email")
    add.add_argument("--name", required=True, help="the admin's name as people see it")


COMMANDS = {
    "server": Command(cmd_server, "run the team server on PostgreSQL (settings from the environment)", _arguments),
    "server-admin": Command(
        cmd_server_admin, "team server administration: add-admin EMAIL --name NAME", _admin_arguments
    ),
}
