"""argv in, a command run, an exit code out: the command table, the parser and the one place errors are printed.

With `daemon.cli.config`, the only code that reads argv, the environment and config files (STYLE.md).
"""

from __future__ import annotations

import argparse
import functools
import gc
import os
import sys
from collections.abc import Mapping, Sequence

import msgspec

from daemon import __version__
from daemon.cli import serving
from daemon.cli.common import APP, EXIT_USAGE, CliError, Command
from daemon.cli.config import resolve_settings
from daemon.cli.output import silence_stdout
from daemon.client import ApiClientError, DaemonNotRunning
from daemon.errors import user_text
from daemon.textsafe import SafeStream

__all__ = ["COMMANDS", "build_parser", "main"]

ORDER = (
    "init",
    "serve",
    "status",
    "pair",
    "open",
    "clients",
    "token",
    "doctor",
    "extension",
    "autostart",
    "start",
    "stop",
    "pause",
    "resume",
    "timers",
    "keep-away",
    "drop-away",
    "entries",
    "log-run",
    "watch",
    "connect",
    "psa",
    "outbox",
    "sandbox",
    "demo",
    "server",
    "team",
    "server-admin",
)
"""The order `ticketclock --help` lists the commands in."""
COMMANDS: dict[str, Command]
"""Every command, in ORDER: built on first use (module `__getattr__`), as `ticketclock serve` does not need it."""

SERVE: dict[str, Command] = {"serve": serving.COMMANDS["serve"]}
"""The table `ticketclock serve` parses with: the daemon's cold start skips importing the other commands' modules
and building their parsers (~10 ms). Its usage, help and errors are those of the full table's `serve`."""


@functools.cache
def _commands() -> dict[str, Command]:
    from daemon.cli import automation, autostart, doctor, extension, init, remote, server, team

    everything: dict[str, Command] = {**serving.COMMANDS, **remote.COMMANDS, **doctor.COMMANDS}
    everything |= {**init.COMMANDS, **extension.COMMANDS, **autostart.COMMANDS}  # first run
    everything |= automation.COMMANDS  # log-run: automation runs (issue 11)
    everything |= server.COMMANDS  # the team server (issue 13)
    everything |= team.COMMANDS  # joining a team server (issue 13, sync)
    return {name: everything[name] for name in ORDER}


def __getattr__(name: str) -> object:
    if name == "COMMANDS":
        return _commands()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


DAEMON_COMMANDS = ("serve", "sandbox", "demo", "server")
"""Long-running servers: their output is the daemon's log, not a report of untrusted text."""


def build_parser(commands: Mapping[str, Command] | None = None) -> argparse.ArgumentParser:
    """The parser of `commands` (default: every command)."""
    parser = argparse.ArgumentParser(prog=APP, description="TicketClock: time on PSA tickets, captured.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", help="config file (TOML); default in the user config folder")
    common.add_argument("--data-dir", help="folder for the database and token")
    common.add_argument("--port", type=int, help="localhost port (default 47600)")
    common.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, command in (_commands() if commands is None else commands).items():
        p = sub.add_parser(name, help=command.help, description=command.help, parents=[common])
        if command.arguments is not None:
            command.arguments(p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    words = sys.argv[1:] if argv is None else list(argv)
    if words[:1] == ["serve"]:
        # no cyclic garbage collection while the daemon imports and starts (~6 % of its cold start: ~100 collections
        # scanning the classes and functions being created, which are all kept); `serving.cmd_serve` turns it on
        # once the daemon listens
        gc.disable()
    commands = SERVE if words[:1] == ["serve"] else _commands()
    args = build_parser(commands).parse_args(words)
    try:
        if args.command in DAEMON_COMMANDS:
            return _run(commands, args)
        out, err = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = SafeStream(out), SafeStream(err)
        try:
            code = _run(commands, args)
            sys.stdout.flush()  # here, where a closed pipe is caught, not in the interpreter's exit
            return code
        finally:
            sys.stdout, sys.stderr = out, err
    except BrokenPipeError:  # the reader went away (`ticketclock timers | head`): it has what it wanted
        silence_stdout()
        return 1


def _run(commands: Mapping[str, Command], args: argparse.Namespace) -> int:
    try:
        settings = resolve_settings(args, dict(os.environ))
        return commands[args.command].run(settings, args)
    except CliError as exc:
        print(f"ticketclock: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except DaemonNotRunning as exc:
        print(f"ticketclock: {exc}", file=sys.stderr)
        return 1
    except ApiClientError as exc:
        print(f"ticketclock: {exc.message or user_text(exc.code)} ({exc.code})", file=sys.stderr)
        return 1
    except (msgspec.ValidationError, ValueError) as exc:
        print(f"ticketclock: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
