"""`ticketclock team join URL [--invite CODE | --email E]`, `ticketclock team status`, `ticketclock team leave`.

Joining enrolls this machine as a device of the team server: with an admin's one-time invite code it is active at
once; with the technician's e-mail and password (read from the terminal, or the first line of stdin) it waits for an
admin's approval. The device token is kept like PSA credentials (OS keyring or a user-only file) and never printed;
the server's address goes in the config file as `[team] server = "…"` (https, or http to this machine only). The
daemon syncs from its next start. Imports stay inside the functions: the CLI's start-up does not pay for them.
"""

from __future__ import annotations

import argparse
import re
import sys
from typing import Any

from daemon.cli.common import Command
from daemon.settings import Settings

__all__ = ["COMMANDS", "edit_team_server"]

_TABLE = re.compile(r"^\s*\[")
_TEAM = re.compile(r"^\s*\[team\]\s*(#.*)?$")
_SERVER = re.compile(r"^\s*server\s*=")


def edit_team_server(text: str, server: str | None) -> str:
    """`text` with `[team] server` set to `server` (None: the `server` line removed), every other line kept."""
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if _TEAM.match(line)), None)
    if start is None:
        if server is None:
            return text
        while lines and not lines[-1].strip():
            lines.pop()
        lines += ["", "[team]", f"server = {_toml_string(server)}"]
        return "\n".join(lines) + "\n"
    end = next((i for i in range(start + 1, len(lines)) if _TABLE.match(lines[i])), len(lines))
    at = next((i for i in range(start + 1, end) if _SERVER.match(lines[i])), None)
    if server is None:
        if at is not None:
            del lines[at]
    elif at is not None:
        lines[at] = f"server = {_toml_string(server)}"
    else:
        lines.insert(start + 1, f"server = {_toml_string(server)}")
    return "\n".join(lines).rstrip("\n") + "\n"


def _toml_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _credentials(settings: Settings) -> Any:
    from daemon.connectors.credentials import CredentialStore

    return CredentialStore(settings.data_dir, settings.config.credentials)


def _stored(settings: Settings) -> dict[str, Any] | None:
    import asyncio

    from daemon.sync import CREDENTIAL_KEY

    found: dict[str, Any] | None = asyncio.run(_credentials(settings).get(CREDENTIAL_KEY))
    return found


def _password() -> str:
    if sys.stdin is not None and sys.stdin.isatty():
        import getpass

        return getpass.getpass("password: ")
    return sys.stdin.readline().rstrip("\r\n") if sys.stdin is not None else ""


def _error_text(response: Any) -> str:
    try:
        error = response.json()["error"]
        return f"{error['message']} ({error['code']})"
    except (ValueError, KeyError, TypeError):
        return f"HTTP {response.status_code}"


def cmd_join(settings: Settings, args: argparse.Namespace) -> int:
    import asyncio
    import socket

    import httpx

    from daemon.cli.common import CliError
    from daemon.cli.init import _write_config
    from daemon.cli.output import say
    from daemon.settings import team_server_problem
    from daemon.sync import CREDENTIAL_KEY

    if not args.url:
        raise CliError("team join needs the team server's address: ticketclock team join https://time.example.com")
    url = args.url.rstrip("/")
    problem = team_server_problem(url)
    if problem is not None:
        raise CliError(f"{url}: {problem}")
    joined = settings.config.team.server.rstrip("/")
    if joined and joined != url:
        raise CliError(f"this daemon has joined {joined}: run `ticketclock team leave` first")
    if (args.invite is None) == (args.email is None):
        raise CliError("give --invite CODE (from an admin) or --email E (an admin then approves the device)")
    name = (args.name or socket.gethostname() or "device").strip()[:100]
    body: dict[str, str] = {"name": name}
    if args.invite is not None:
        body["invite_code"] = args.invite.strip()
    else:
        body |= {"email": args.email.strip(), "password": _password()}
    try:
        response = httpx.post(url + "/api/team/v1/devices/enroll", json=body, timeout=30.0, follow_redirects=False)
    except httpx.HTTPError as exc:
        raise CliError(f"cannot reach {url}: {type(exc).__name__} {exc}") from None
    if response.status_code != 201:
        say(f"{url} did not enroll this device: {_error_text(response)}")
        return 1
    enrolled = response.json()
    device = enrolled["device"]
    creds = {"token": enrolled["token"], "device_id": device["id"], "server": url}
    asyncio.run(_credentials(settings).put(CREDENTIAL_KEY, creds))
    path = settings.config_file
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    _write_config(path, edit_team_server(text, url))
    say(f"joined {url} as device {device['name']!r} of {device['person_name']} ({device['status']})")
    if device["status"] == "pending":
        say("an admin of the team server must approve this device before its entries sync")
    say(f"device token kept in the {_credentials(settings).describe()}; {path} names the server")
    say("the daemon syncs from its next start: restart `ticketclock serve` if it is running")
    return 0


def cmd_status(settings: Settings, args: argparse.Namespace) -> int:
    import httpx

    from daemon.cli.common import api
    from daemon.cli.output import say
    from daemon.client import DaemonNotRunning

    server = settings.config.team.server.rstrip("/")
    if not server:
        say("not joined to a team server (ticketclock team join URL)")
        return 1
    say(f"server:  {server}")
    stored = _stored(settings)
    if not stored or not stored.get("token"):
        say("device:  no device token here: run `ticketclock team join` again")
        return 1
    try:
        response = httpx.get(
            server + "/api/team/v1/device", headers={"Authorization": f"Bearer {stored['token']}"}, timeout=15.0
        )
        if response.status_code == 200:
            info = response.json()
            device = info["device"]
            team = info["team"] or "none: an admin must make you a technician of one team"
            say(f"device:  {device['name']} ({device['status']}), {device['person_name']}, team {team}")
        elif response.status_code == 401:
            say(f"device:  {stored.get('device_id', '?')}: revoked (the server refuses its token)")
        else:
            say(f"device:  {stored.get('device_id', '?')}: {_error_text(response)}")
    except httpx.HTTPError as exc:
        say(f"device:  {stored.get('device_id', '?')}: server unreachable ({type(exc).__name__})")
    try:
        view = api(settings).get("/api/v1/team")
    except DaemonNotRunning:
        say("daemon:  not running (entries sync while `ticketclock serve` runs)")
        return 0
    state = view.get("state")
    if not view.get("joined") or state is None:
        say("daemon:  running without team sync: restart it to start syncing")
        return 0
    last = _when(state.get("last_sync_at"))
    say(f"last sync: {last}; entries waiting: {state['waiting']}")
    if state.get("last_error"):
        say(f"last attempt failed: {state['last_error']}")
    return 0


def _when(ts: float | None) -> str:
    if ts is None:
        return "never"
    from datetime import datetime

    return datetime.fromtimestamp(ts).astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")


def cmd_leave(settings: Settings, args: argparse.Namespace) -> int:
    import asyncio

    import httpx

    from daemon.cli.init import _write_config
    from daemon.cli.output import say
    from daemon.sync import CREDENTIAL_KEY

    server = settings.config.team.server.rstrip("/")
    stored = _stored(settings)
    if stored and stored.get("token") and server:
        try:
            response = httpx.delete(
                server + "/api/team/v1/device", headers={"Authorization": f"Bearer {stored['token']}"}, timeout=15.0
            )
            said = "revoked its token" if response.status_code == 200 else _error_text(response)
        except httpx.HTTPError as exc:
            said = f"unreachable ({type(exc).__name__}): ask an admin to revoke device {stored.get('device_id')}"
        say(f"{server}: {said}")
    asyncio.run(_credentials(settings).delete(CREDENTIAL_KEY))
    path = settings.config_file
    if path.exists():
        _write_config(path, edit_team_server(path.read_text(encoding="utf-8"), None))
    say("left the team: restart `ticketclock serve`; entries are approved and posted by this machine again")
    return 0


def cmd_team(settings: Settings, args: argparse.Namespace) -> int:
    return {"join": cmd_join, "status": cmd_status, "leave": cmd_leave}[args.action](settings, args)


def _args(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", nargs="?", default="status", choices=("join", "status", "leave"), help="default: status")
    p.add_argument("url", nargs="?", help="join: the team server's address (https://…)")
    p.add_argument("--invite", help="join: a one-time invite code from an admin (active at once)")
    p.add_argument("--email", help="join: your e-mail on the team server (password asked; an admin approves)")
    p.add_argument("--name", help="join: this device's name as admins see it (default: the host name)")


COMMANDS = {
    "team": Command(cmd_team, "join a team server, show the team sync's state, or leave", _args),
}
