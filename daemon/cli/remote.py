"""The commands that ask the running daemon, over its API: status, pairing, timers, entries, PSA connections."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import msgspec

from daemon.cli.common import CliError, Command, api, read_token
from daemon.cli.output import row, say
from daemon.client import ApiClient, DaemonNotRunning
from daemon.settings import Settings

__all__ = ["COMMANDS"]


def cmd_status(settings: Settings, args: argparse.Namespace) -> int:
    client = api(settings)
    health = client.get("/api/v1/health")
    say(f"daemon: {health['status']} (version {health['version']}) on {client.base}")
    return 0


def cmd_pair(settings: Settings, args: argparse.Namespace) -> int:
    code = api(settings).post("/api/v1/pair/codes")
    say(f"Pairing code: {code['code']}")
    say("Enter it in the TicketClock extension's options page within 5 minutes. It works once.")
    return 0


def cmd_open(settings: Settings, args: argparse.Namespace) -> int:
    """Sign in to the web pages: a one-time link (60 s), printed and opened in the default browser."""
    import webbrowser

    page = "/" if args.page == "today" else f"/{args.page}"
    link = api(settings).post("/api/v1/web/login-code", {"next": page})
    say(f"Sign-in link (works once, for {int(link['expires_in'])} s): {link['url']}")
    if not args.no_browser:
        webbrowser.open(link["url"])
    return 0


def _args_open(p: argparse.ArgumentParser) -> None:
    pages = ["today", "timesheet", "summary", "approvals", "outbox", "automations"]
    p.add_argument("page", nargs="?", default="today", choices=pages)
    p.add_argument("--no-browser", action="store_true", help="only print the link")


def cmd_clients(settings: Settings, args: argparse.Namespace) -> int:
    client = api(settings)
    if args.revoke:
        client.delete(f"/api/v1/clients/{args.revoke}")
        say(f"revoked {args.revoke}: that browser is unpaired now")
        return 0
    clients = client.get("/api/v1/clients")["clients"]
    if not clients:
        say("no paired clients (pair a browser with `ticketclock pair`)")
    for c in clients:
        row("{}  {:<20} {}", c["id"], c["name"], c["origin"] or "-")
    return 0


def _args_clients(p: argparse.ArgumentParser) -> None:
    p.add_argument("--revoke", metavar="ID", help="revoke this pairing (the browser shows 'unpaired' at once)")


def cmd_token(settings: Settings, args: argparse.Namespace) -> int:
    token = read_token(settings)
    if token is None:
        raise CliError(f"no token yet at {settings.token_file}: start the daemon once with `ticketclock serve`")
    say(token)
    return 0


def _fmt_elapsed(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _print_timers(state: dict[str, object]) -> None:
    timers = state.get("timers") or []
    assert isinstance(timers, list)
    if not timers:
        say("no live timers")
    for t in timers:
        what = t["label"] + (f"  {t['summary']}" if t.get("summary") else "")
        paused = f" ({t['paused_by']})" if t.get("paused_by") else ""
        row(
            "{:>5}  {}  {:<8}{:<12} {}  {}",
            t["id"],
            t["colour"],
            t["state"],
            paused,
            _fmt_elapsed(t["elapsed_s"]),
            what,
        )
    pending = state.get("idle_pending")
    if isinstance(pending, dict):
        say(f"away time waiting for a decision since {pending['since']}: ticketclock keep-away / drop-away")


def _pick_timer(client: ApiClient, given: str | None) -> str:
    """The timer named, or the only/attended running one."""
    if given:
        return given
    timers = client.get("/api/v1/timers")["timers"]
    running = [t for t in timers if t["running"]] or timers
    if not running:
        raise CliError("no live timer")
    if len(running) > 1:
        running.sort(key=lambda t: t["last_attended"], reverse=True)
    return str(running[0]["id"])


def cmd_start(settings: Settings, args: argparse.Namespace) -> int:
    if bool(args.ticket) == bool(args.task):
        raise CliError("give a ticket number or --task NAME")
    body: dict[str, object] = {"ticket": args.ticket} if args.ticket else {"task": args.task}
    if args.instance:
        body["instance"] = args.instance
    if args.notes:
        body["notes"] = args.notes
    timer = api(settings).post("/api/v1/timers", body)
    say(f"started {timer['id']}: {timer['label']}")
    return 0


def _timer_action(action: str) -> Callable[[Settings, argparse.Namespace], int]:
    def run(settings: Settings, args: argparse.Namespace) -> int:
        client = api(settings)
        timer_id = _pick_timer(client, args.timer)
        result = client.post(f"/api/v1/timers/{timer_id}/{action}")
        if action == "stop":
            for entry in result["entries"]:
                say(
                    f"{timer_id} stopped: entry {entry['id']} {_fmt_elapsed(entry['actual_seconds'])} {entry['status']}"
                )
        else:
            say(f"{timer_id} {result['state']}")
        return 0

    return run


def cmd_timers(settings: Settings, args: argparse.Namespace) -> int:
    _print_timers(api(settings).get("/api/v1/timers"))
    return 0


def cmd_entries(settings: Settings, args: argparse.Namespace) -> int:
    params = {k: v for k, v in (("from", args.since), ("to", args.until), ("status", args.status)) if v}
    client = api(settings)
    if args.csv:
        _entries_csv(client, params, settings)
        return 0
    entries = client.get("/api/v1/entries", params)["entries"]
    if not entries:
        say("no entries")
    for e in entries:
        what = (e["task"] or "") if e.get("kind") == "task" else f"#{e['ticket_id'] or e['ticket_number']}"
        if e.get("automation"):
            what += f" [automation: {e['automation']}]"
        why = _entry_why(e)
        row(
            "{}  {:<9} {} billed {}  {}  {}{}",
            e["id"][:8],
            e["status"],
            _fmt_elapsed(e["actual_seconds"]),
            _fmt_elapsed(e["billed_seconds"]),
            what,
            e["notes"][:40],
            f"  ({why})" if why else "",
        )
    return 0


CSV_PAGE = 5000


def _entries_csv(client: ApiClient, params: dict[str, str], settings: Settings) -> None:
    """Every entry the filter selects, page by page (no cap), through the writer of the API's CSV export."""
    from daemon.entries.export import ENTRY_COLUMNS, CsvWriter, entry_cells
    from daemon.entries.model import Entry
    from daemon.entries.periods import LocalZone

    tz = LocalZone(settings.config.timezone).info
    writer = CsvWriter()
    sys.stdout.write(writer.rows([ENTRY_COLUMNS]))
    offset = 0
    while True:
        page = client.get("/api/v1/entries", {**params, "limit": str(CSV_PAGE), "offset": str(offset)})["entries"]
        stored = [e for e in page if e.get("status") != "open"]  # open entries ride along on the first page
        entries = msgspec.convert(page, list[Entry])
        sys.stdout.write(writer.rows(entry_cells(e, tz) for e in entries))
        if len(stored) < CSV_PAGE:
            return
        offset += len(stored)


def _entry_why(e: dict[str, Any]) -> str:
    """Why an entry is where it is: an open one's hold, a voided (rejected, failed) one's reason."""
    if e["status"] == "open":
        until = e.get("held_until")
        held = f"held until {datetime.fromtimestamp(until).strftime('%H:%M')}" if until else "held while offline"
        short = "; too short so far" if e.get("status_reason") == "too_short" else ""
        return f"{held}, reopening the ticket continues it{short}"
    reason = str(e.get("status_reason") or "")
    if e["status"] not in ("voided", "rejected", "failed") or not reason:
        return ""
    if reason == "too_short":
        minimum = next((n["detail"] for n in e.get("explanation", []) if n.get("rule") == "minimum"), "")
        reason = f"too short, {minimum.split(':')[0]}" if minimum else "too short"  # "too short, 5s < minimum 1m"
    return f"{e['status']}: {reason}"


def cmd_watch(settings: Settings, args: argparse.Namespace) -> int:
    import asyncio  # only `watch` runs a loop: the other commands start without it

    return asyncio.run(_watch(settings, args.count))


async def _watch(settings: Settings, count: int | None) -> int:
    import json
    import secrets

    import websockets

    from daemon.auth import hash_token, key_id, new_challenge, proof_matches

    token = read_token(settings)
    url = f"ws://127.0.0.1:{settings.port}/api/v1/ws"
    try:
        async with websockets.connect(url) as ws:
            if token is None:
                raise CliError(f"no token at {settings.token_file}: was the daemon started with another data folder?")
            # The token goes only to a listener that proves it holds its digest (daemon/auth.py).
            challenge = new_challenge()
            await ws.send(json.dumps({"type": "prove", "challenge": challenge, "kid": key_id(hash_token(token))}))
            try:
                answer = json.loads(await ws.recv())
            except (websockets.ConnectionClosed, ValueError):
                answer = None
            if not isinstance(answer, dict) or not proof_matches(token, challenge, settings.port, answer.get("proof")):
                raise CliError(
                    f"the program on port {settings.port} did not prove it is your TicketClock daemon, "
                    "so your token was not sent"
                )
            hello = {"type": "hello", "install": "cli-watch", "instance": secrets.token_hex(4), "token": token}
            await ws.send(json.dumps(hello))
            seen = 0
            async for raw in ws:
                message = json.loads(raw)
                if message.get("type") == "state":
                    say(f"--- {len(message['timers'])} timer(s)", flush=True)
                    _print_timers(message)
                    seen += 1
                    if count is not None and seen >= count:
                        return 0
                elif message.get("type") == "error":
                    raise CliError(f"{message['message']} ({message['code']})")
    except OSError:
        raise DaemonNotRunning(f"no daemon answers on {url}: start it with `ticketclock serve`") from None
    return 0


def _args_start(p: argparse.ArgumentParser) -> None:
    p.add_argument("ticket", nargs="?", help="ticket number")
    p.add_argument("--task", help="a non-ticket task, e.g. 'Admin' or 'Internal meeting'")
    p.add_argument("--instance", help="PSA instance name (when several are configured)")
    p.add_argument("--notes", default="")


def _args_timer(p: argparse.ArgumentParser) -> None:
    p.add_argument("timer", nargs="?", help="timer id (default: the attended running timer)")


def _args_entries(p: argparse.ArgumentParser) -> None:
    p.add_argument("--from", dest="since", help="ISO date/time or epoch seconds")
    p.add_argument("--to", dest="until", help="ISO date/time or epoch seconds")
    p.add_argument("--status", help="comma-separated statuses")
    p.add_argument("--csv", action="store_true", help="CSV to standard output")


def _args_watch(p: argparse.ArgumentParser) -> None:
    p.add_argument("--count", type=int, help="stop after this many state updates")


def cmd_connect(settings: Settings, args: argparse.Namespace) -> int:
    """Ask for the instance's credentials (a prompt, or FIELD=VALUE lines on standard input), have the daemon test
    them, then store them. Never from argv: every user of the machine can read a command line in `ps`."""
    from daemon.connectors import CONNECTORS

    if args.set:
        raise CliError(
            "credentials are never taken from the command line (other users can read it in `ps`): "
            "type them at the prompts, or pipe FIELD=VALUE lines on standard input"
        )
    instance = next((i for i in settings.config.instances if i.name == args.instance), None)
    if instance is None:
        names = ", ".join(i.name for i in settings.config.instances) or "none configured"
        raise CliError(f"no PSA instance {args.instance!r} in {settings.config_file} ({names})")
    fields = msgspec.structs.fields(CONNECTORS[instance.kind].Credentials)
    if sys.stdin is not None and sys.stdin.isatty():
        creds = _prompt_credentials(instance.name, fields)
    else:
        creds = _read_credentials(fields, instance.kind)
    result = api(settings).request("PUT", f"/api/v1/psa/{instance.name}/credentials", json={"credentials": creds})
    say(f"{instance.name}: connected as {result['identity']}; credentials stored")
    return 0


def _prompt_credentials(name: str, fields: Sequence[msgspec.structs.FieldInfo]) -> dict[str, object]:
    import getpass

    creds: dict[str, object] = {}
    for f in fields:
        if not f.required:
            continue
        secret = any(word in f.name for word in ("secret", "private", "key", "password"))
        prompt = f"{name} {f.name}: "
        try:
            creds[f.name] = getpass.getpass(prompt) if secret else input(prompt)
        except EOFError:
            raise CliError(f"no value for {f.name}: the input ended; nothing was stored") from None
    return creds


def _read_credentials(fields: Sequence[msgspec.structs.FieldInfo], kind: str) -> dict[str, object]:
    """FIELD=VALUE lines from standard input (a pipe or a file), for scripts."""
    known = {f.name for f in fields}
    creds: dict[str, object] = {}
    for number, line in enumerate(sys.stdin.read().splitlines() if sys.stdin is not None else [], start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or key not in known:
            raise CliError(
                f"standard input line {number}: expected FIELD=VALUE with FIELD one of {', '.join(sorted(known))}"
            )
        creds[key] = value
    missing = [f.name for f in fields if f.required and f.name not in creds]
    if missing:
        raise CliError(
            f"standard input ended without {', '.join(missing)} for {kind}: give one FIELD=VALUE line each "
            "(or run the command in a terminal to be asked); nothing was stored"
        )
    return creds


def cmd_psa(settings: Settings, args: argparse.Namespace) -> int:
    client = api(settings)
    if args.test:
        result = client.post(f"/api/v1/psa/{args.test}/test")
        say(f"{args.test}: ok, acting as {result['identity']}")
        return 0
    for inst in client.get("/api/v1/psa")["instances"]:
        creds = "credentials stored" if inst["credentials"] else "no credentials"
        row("{:<20} {:<12} {:<6} {}  {}", inst["name"], inst["kind"], inst["health"], creds, inst["message"])
    return 0


def cmd_outbox(settings: Settings, args: argparse.Namespace) -> int:
    rows = api(settings).get("/api/v1/outbox")["rows"]
    if not rows:
        say("outbox empty: nothing waiting to be posted")
    for r in rows:
        row(
            "{}  {:<18} {:<7} attempts {}  {}",
            r["entry_id"][:8],
            r["instance"],
            r["status"],
            r["attempts"],
            r["last_error"],
        )
    return 0


def _args_connect(p: argparse.ArgumentParser) -> None:
    p.add_argument("instance", help="PSA instance name from the config file")
    p.add_argument("--set", action="append", help=argparse.SUPPRESS)  # refused with a clear message


def _args_psa(p: argparse.ArgumentParser) -> None:
    p.add_argument("--test", metavar="INSTANCE", help="test the stored credentials of this instance")


def _idle_decision(keep: bool) -> Callable[[Settings, argparse.Namespace], int]:
    def run(settings: Settings, args: argparse.Namespace) -> int:
        _print_timers(api(settings).post("/api/v1/idle/resolve", {"keep": keep}))
        return 0

    return run


COMMANDS = {
    "status": Command(cmd_status, "is the daemon running?"),
    "pair": Command(cmd_pair, "show a pairing code for the browser extension"),
    "open": Command(cmd_open, "open the timesheet and other web pages in the browser (signed in)", _args_open),
    "clients": Command(cmd_clients, "list paired browsers, or revoke one with --revoke ID", _args_clients),
    "token": Command(cmd_token, "print the API token for scripts"),
    "start": Command(cmd_start, "start a timer by hand for a ticket or a task", _args_start),
    "stop": Command(_timer_action("stop"), "stop a timer; its entry is created", _args_timer),
    "pause": Command(_timer_action("pause"), "pause a timer", _args_timer),
    "resume": Command(_timer_action("resume"), "resume a paused timer", _args_timer),
    "timers": Command(cmd_timers, "list live timers"),
    "keep-away": Command(_idle_decision(True), "count the time away (idle) on the timers it paused"),
    "drop-away": Command(_idle_decision(False), "leave the time away (idle) off the timers it paused"),
    "entries": Command(cmd_entries, "list entries (or export CSV)", _args_entries),
    "watch": Command(cmd_watch, "live view of the timers over the WebSocket", _args_watch),
    "connect": Command(cmd_connect, "store credentials for a PSA instance after testing them", _args_connect),
    "psa": Command(cmd_psa, "PSA instances and their health", _args_psa),
    "outbox": Command(cmd_outbox, "what is waiting to be posted, and why"),
}
