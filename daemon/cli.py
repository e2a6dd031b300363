"""The command line: the only module that reads argv, the environment and the config file.

ticketclock serve                 run the daemon in the foreground
ticketclock status | pair | clients | token | doctor

Everything printed goes through `daemon.textsafe` (no terminal escapes from ticket text); exports escape formulas.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import os
import signal
import sqlite3
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
import platformdirs

from daemon import __version__
from daemon.client import ApiClient, ApiClientError, DaemonNotRunning
from daemon.runtime import DAEMON_FILE, DaemonFile, listen_socket, remove_daemon_file, write_daemon_file
from daemon.settings import Config, ConfigError, Settings, parse_config
from daemon.textsafe import SafeStream, csv_cell

if TYPE_CHECKING:
    from daemon.sandbox.control import FaultSwitches
    from daemon.sandbox.runner import RunningSandbox

__all__ = ["main", "resolve_settings"]

APP = "ticketclock"
EXIT_USAGE = 2
LISTENERS = ("serve", "demo")
"""The commands that run the daemon: only they take --port 0 (any free port)."""


class CliError(Exception):
    """A problem the user can fix; printed without a traceback, exit code 2."""


def resolve_settings(args: argparse.Namespace, env: dict[str, str]) -> Settings:
    home = env.get("TICKETCLOCK_HOME")
    if home:
        base = Path(home).expanduser()
        config_dir, data_dir, log_dir = base / "config", base / "data", base / "logs"
    else:
        config_dir = Path(platformdirs.user_config_dir(APP, appauthor=False))
        data_dir = Path(platformdirs.user_data_dir(APP, appauthor=False))
        log_dir = Path(platformdirs.user_log_dir(APP, appauthor=False))
    config_file = Path(args.config).expanduser() if args.config else config_dir / "config.toml"
    if args.data_dir:
        data_dir = Path(args.data_dir).expanduser()
    config = load_config(config_file, explicit=bool(args.config))
    port = args.port if args.port is not None else config.port
    if not 0 <= port < 65536:
        raise CliError(f"--port {port}: not a TCP port")
    if port == 0 and getattr(args, "command", None) not in LISTENERS:
        raise CliError(f"--port 0 (any free port) is only for {' and '.join(LISTENERS)}")
    check_loopback(config.bind)
    return Settings(config=config, config_file=config_file, data_dir=data_dir, log_dir=log_dir, port=port)


def load_config(path: Path, *, explicit: bool) -> Config:
    if not path.exists():
        if explicit:
            raise CliError(f"config file {path} does not exist")
        return Config()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CliError(f"cannot read config file {path}: {exc.strerror}") from None
    from daemon.connectors.options import check_config

    try:
        config = parse_config(text, path)
        check_config(config, path)  # each connector's options, so a typo stops here and not at the first request
    except ConfigError as exc:
        raise CliError(str(exc)) from None
    return config


def check_loopback(bind: str) -> None:
    if bind == "localhost":
        return
    try:
        ok = ipaddress.ip_address(bind).is_loopback
    except ValueError:
        ok = False
    if not ok:
        raise CliError(
            f"bind = {bind!r}: TicketClock listens on the loopback interface only (127.0.0.1); "
            "it must never be reachable from the network"
        )


def read_token(settings: Settings) -> str | None:
    try:
        return settings.token_file.read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def api(settings: Settings) -> ApiClient:
    return ApiClient(settings.port, read_token(settings))


# --- serve ---------------------------------------------------------------------------------------------------


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    from daemon.logs import setup_logging

    _private_at_start(settings)
    setup_logging(settings.log_dir, verbose=args.verbose)
    return asyncio.run(serve(settings))


def _private_at_start(settings: Settings) -> None:
    """umask 077 for everything created from now on; folders and files left readable by older versions fixed."""
    from daemon.private import private_dir, restrict_umask, secure_tree

    restrict_umask()
    for folder in (settings.data_dir, settings.log_dir):
        try:
            private_dir(folder)
            secure_tree(folder)
        except OSError as exc:  # the database and logging set-up report what is really wrong
            print(f"ticketclock: cannot make {folder} private: {exc}", file=sys.stderr)


async def serve(settings: Settings, *, ready: Callable[[int], None] | None = None) -> int:
    import httpx
    from aiohttp import web

    from daemon.api.connections import LIMITS, GuardedRunner
    from daemon.app import create_app
    from daemon.clock import SystemClock
    from daemon.store import StoreError

    try:  # bound before the app is built: with --port 0 the app (Host check) must know the port it got
        sock = listen_socket(settings.config.bind, settings.port)
    except OSError as exc:
        print(
            f"ticketclock: cannot listen on {settings.config.bind}:{settings.port}: {exc.strerror} "
            "(is another TicketClock running? try `ticketclock status`)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    settings = msgspec.structs.replace(settings, port=sock.getsockname()[1])
    async with httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=10.0)) as http:
        app = create_app(settings, clock=SystemClock(), http=http)
        runner = GuardedRunner(app, access_log=None, handle_signals=False)
        try:
            await runner.setup()
        except StoreError as exc:
            print(f"ticketclock: cannot start: {exc}", file=sys.stderr)
            sock.close()
            await runner.cleanup()
            return EXIT_USAGE
        except OSError as exc:
            print(f"ticketclock: cannot start: {exc}", file=sys.stderr)
            sock.close()
            await runner.cleanup()
            return EXIT_USAGE
        await web.SockSite(runner, sock, backlog=app[LIMITS].backlog).start()
        stop = asyncio.Event()
        _install_stop_handlers(stop)
        report = DaemonFile(pid=os.getpid(), port=settings.port, version=__version__)
        print(f"TicketClock {__version__} listening on http://127.0.0.1:{settings.port}", flush=True)
        try:  # last: whoever sees it also finds the line above
            write_daemon_file(settings.data_dir, report)
        except OSError as exc:  # the daemon still serves; only the report is missing
            print(f"ticketclock: cannot write {settings.data_dir / DAEMON_FILE}: {exc}", file=sys.stderr)
        try:
            if ready is not None:
                ready(settings.port)
            await stop.wait()
        finally:
            print("TicketClock stopping", flush=True)
            remove_daemon_file(settings.data_dir, report)
            await runner.cleanup()
    return 0


def _install_stop_handlers(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    names = ["SIGINT", "SIGTERM", "SIGBREAK"]  # SIGBREAK: Ctrl-Break on Windows
    for name in names:
        sig = getattr(signal, name, None)
        if sig is None:
            continue
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):  # Windows: no add_signal_handler
            signal.signal(sig, lambda *_: loop.call_soon_threadsafe(stop.set))


# --- small client commands ---------------------------------------------------------------------------------------


def cmd_status(settings: Settings, args: argparse.Namespace) -> int:
    client = api(settings)
    health = client.get("/api/v1/health")
    print(f"daemon: {health['status']} (version {health['version']}) on {client.base}")
    return 0


def cmd_pair(settings: Settings, args: argparse.Namespace) -> int:
    code = api(settings).post("/api/v1/pair/codes")
    print(f"Pairing code: {code['code']}")
    print("Enter it in the TicketClock extension's options page within 5 minutes. It works once.")
    return 0


def cmd_clients(settings: Settings, args: argparse.Namespace) -> int:
    client = api(settings)
    if args.revoke:
        client.delete(f"/api/v1/clients/{args.revoke}")
        print(f"revoked {args.revoke}: that browser is unpaired now")
        return 0
    clients = client.get("/api/v1/clients")["clients"]
    if not clients:
        print("no paired clients (pair a browser with `ticketclock pair`)")
    for c in clients:
        print(f"{c['id']}  {c['name']:<20} {c['origin'] or '-'}")
    return 0


def _args_clients(p: argparse.ArgumentParser) -> None:
    p.add_argument("--revoke", metavar="ID", help="revoke this pairing (the browser shows 'unpaired' at once)")


def cmd_token(settings: Settings, args: argparse.Namespace) -> int:
    token = read_token(settings)
    if token is None:
        raise CliError(f"no token yet at {settings.token_file}: start the daemon once with `ticketclock serve`")
    print(token)
    return 0


def cmd_doctor(settings: Settings, args: argparse.Namespace) -> int:
    problems = 0

    def report(ok: bool, what: str, hint: str = "") -> None:
        nonlocal problems
        problems += 0 if ok else 1
        print(f"[{'ok' if ok else 'FAIL'}] {what}" + (f"\n       {hint}" if hint and not ok else ""))

    print(f"config file: {settings.config_file} ({'present' if settings.config_file.exists() else 'defaults'})")
    report(True, f"config parses ({len(settings.config.instances)} PSA instance(s))")
    for label, folder in (("data dir", settings.data_dir), ("log dir", settings.log_dir)):
        writable = _writable_dir(folder)
        report(writable, f"{label} {folder} is writable", f"create it or fix its permissions: {folder}")
        if writable:
            _doctor_private(label, folder, fix=args.fix, report=report)
    db = settings.db_path
    if db.exists():
        verdict = _check_database(db)
        report(verdict == "ok", f"database {db}: {verdict}", "restore a backup or move the file aside")
    else:
        report(True, f"database {db} will be created on first start")
    token = settings.token_file
    if token.exists() and os.name != "nt":
        mode = token.stat().st_mode & 0o777
        report(mode & 0o077 == 0, f"token file {token} is private (mode {mode:o})", f"run: chmod 600 {token}")
    try:
        health = ApiClient(settings.port, None, timeout=3).get("/api/v1/health")
        version = health.get("version", "unknown") if isinstance(health, dict) else "unknown"
        report(True, f"daemon answers on port {settings.port} (version {version})")
        if (token_text := read_token(settings)) is not None:
            ApiClient(settings.port, token_text, timeout=3).prove()
            report(True, "it proves it holds your token (your token is safe to send to it)")
    except DaemonNotRunning:
        free = _port_free(settings.config.bind, settings.port)
        report(
            free,
            f"daemon not running; port {settings.port} is {'free' if free else 'taken by another program'}",
            "choose another port with --port or `port = …` in the config file",
        )
    except ApiClientError as exc:
        report(False, f"something else answers on port {settings.port}: {exc}", "choose another port")
    print("all good" if problems == 0 else f"{problems} problem(s) found")
    return 0 if problems == 0 else 1


def _doctor_private(label: str, folder: Path, *, fix: bool, report: Callable[[bool, str, str], None]) -> None:
    """Other users must not read the folder or anything in it; --fix makes it so (and user-only ACLs on Windows)."""
    from daemon.private import exposed, secure_tree

    loose = exposed(folder)
    if fix:
        try:
            secure_tree(folder)
        except OSError as exc:
            report(False, f"{label} {folder}: could not make it private: {exc}", "fix the owner of these files")
            return
        if loose or os.name == "nt":
            print(f"[fixed] {label} {folder}: made private ({len(loose)} path(s): folders 0700, files 0600)")
        loose = exposed(folder)
    names = ", ".join(f"{p.relative_to(folder)} ({p.stat().st_mode & 0o777:o})" for p in loose[:5])
    more = f" and {len(loose) - 5} more" if len(loose) > 5 else ""
    report(
        not loose,
        f"{label} {folder} is private" + (f": others can read {names}{more}" if loose else ""),
        "run `ticketclock doctor --fix` (folders 0700, files 0600)",
    )


def _writable_dir(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError:
        return False
    return os.access(folder, os.W_OK)


def _check_database(path: Path) -> str:
    from daemon.store.migrations import MIGRATIONS

    try:
        conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
        try:
            result = conn.execute("PRAGMA quick_check").fetchone()[0]
            version = conn.execute("PRAGMA user_version").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error as exc:
        text = str(exc).lower()
        damaged = "not a database" in text or "malformed" in text or "corrupt" in text
        return f"{'damaged' if damaged else 'unreadable'} ({exc})"
    if result != "ok":
        return f"damaged ({result})"
    if version > len(MIGRATIONS):
        return f"written by a newer TicketClock (schema {version})"
    return "ok"


def _port_free(bind: str, port: int) -> bool:
    """Could `serve` listen here? Asked with serve's own socket (SO_REUSEADDR included), then closed."""
    try:
        listen_socket(bind, port).close()
    except OSError:
        return False
    return True


# --- timers and entries ------------------------------------------------------------------------------------------


def _fmt_elapsed(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _print_timers(state: dict[str, object]) -> None:
    timers = state.get("timers") or []
    assert isinstance(timers, list)
    if not timers:
        print("no live timers")
    for t in timers:
        what = t["label"] + (f"  {t['summary']}" if t.get("summary") else "")
        paused = f" ({t['paused_by']})" if t.get("paused_by") else ""
        print(f"{t['id']:>5}  {t['colour']}  {t['state']:<8}{paused:<12} {_fmt_elapsed(t['elapsed_s'])}  {what}")
    pending = state.get("idle_pending")
    if isinstance(pending, dict):
        print(f"away time waiting for a decision since {pending['since']}: ticketclock keep-away / drop-away")


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
    print(f"started {timer['id']}: {timer['label']}")
    return 0


def _timer_action(action: str) -> Callable[[Settings, argparse.Namespace], int]:
    def run(settings: Settings, args: argparse.Namespace) -> int:
        client = api(settings)
        timer_id = _pick_timer(client, args.timer)
        result = client.post(f"/api/v1/timers/{timer_id}/{action}")
        if action == "stop":
            for entry in result["entries"]:
                print(
                    f"{timer_id} stopped: entry {entry['id']} {_fmt_elapsed(entry['actual_seconds'])} {entry['status']}"
                )
        else:
            print(f"{timer_id} {result['state']}")
        return 0

    return run


def cmd_timers(settings: Settings, args: argparse.Namespace) -> int:
    _print_timers(api(settings).get("/api/v1/timers"))
    return 0


def cmd_entries(settings: Settings, args: argparse.Namespace) -> int:
    params = {k: v for k, v in (("from", args.since), ("to", args.until), ("status", args.status)) if v}
    entries = api(settings).get("/api/v1/entries", params)["entries"]
    if args.csv:
        import csv

        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(["id", "instance", "ticket", "task", "start", "end", "actual_s", "billed_s", "status", "notes"])
        for e in entries:
            writer.writerow(
                csv_cell(cell)
                for cell in [
                    e["id"],
                    e["instance"],
                    e["ticket_id"] or e["ticket_number"] or "",
                    e["task"] or "",
                    e["started_at"],
                    e["ended_at"],
                    e["actual_seconds"],
                    e["billed_seconds"],
                    e["status"],
                    e["notes"],
                ]
            )
        return 0
    if not entries:
        print("no entries")
    for e in entries:
        what = f"#{e['ticket_id'] or e['ticket_number']}" if e["instance"] else (e["task"] or "")
        why = _entry_why(e)
        print(
            f"{e['id'][:8]}  {e['status']:<9} {_fmt_elapsed(e['actual_seconds'])} billed "
            f"{_fmt_elapsed(e['billed_seconds'])}  {what}  {e['notes'][:40]}" + (f"  ({why})" if why else "")
        )
    return 0


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
                    print(f"--- {len(message['timers'])} timer(s)", flush=True)
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


def _args_doctor(p: argparse.ArgumentParser) -> None:
    p.add_argument("--fix", action="store_true", help="make the data and log folders private (0700/0600, or ACLs)")


def _args_watch(p: argparse.ArgumentParser) -> None:
    p.add_argument("--count", type=int, help="stop after this many state updates")


# --- PSA connections, sandbox, demo ----------------------------------------------------------------------------


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
    print(f"{instance.name}: connected as {result['identity']}; credentials stored")
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
        print(f"{args.test}: ok, acting as {result['identity']}")
        return 0
    for inst in client.get("/api/v1/psa")["instances"]:
        creds = "credentials stored" if inst["credentials"] else "no credentials"
        print(f"{inst['name']:<20} {inst['kind']:<12} {inst['health']:<6} {creds}  {inst['message']}")
    return 0


def cmd_outbox(settings: Settings, args: argparse.Namespace) -> int:
    rows = api(settings).get("/api/v1/outbox")["rows"]
    if not rows:
        print("outbox empty: nothing waiting to be posted")
    for r in rows:
        print(f"{r['entry_id'][:8]}  {r['instance']:<18} {r['status']:<7} attempts {r['attempts']}  {r['last_error']}")
    return 0


def cmd_sandbox(settings: Settings, args: argparse.Namespace) -> int:
    from daemon.sandbox import KINDS
    from daemon.sandbox.control import FaultSwitches

    switches: dict[str, str] = {}
    for item in args.fault or []:
        name, sep, value = item.partition("=")
        if not sep:
            raise CliError(f"--fault wants NAME=VALUE, got {item!r}")
        switches[name.strip()] = value.strip()
    try:
        faults = msgspec.convert(switches, FaultSwitches, strict=False)
    except msgspec.ValidationError as exc:
        raise CliError(f"--fault: {exc}") from None
    kinds = tuple(k for k in KINDS if k in args.kind) if args.kind else KINDS
    return asyncio.run(_sandbox(args.port_base, kinds, faults, as_json=args.json))


async def _sandbox(port_base: int, kinds: tuple[str, ...], faults: FaultSwitches, *, as_json: bool) -> int:
    """Serve the sandboxes until stopped; print what a user (or, with --json, a program) needs to use them."""
    from daemon.clock import SystemClock
    from daemon.sandbox.runner import start_sandboxes, ticket_pages

    try:
        running = await start_sandboxes(SystemClock(), port_base=port_base, kinds=kinds, faults=faults)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    if as_json:
        listing = [
            {
                "kind": sb.kind,
                "base_url": sb.base_url,
                "control_url": sb.control_url,
                "instance": msgspec.to_builtins(sb.instance),
                "credentials": sb.credentials,
                "ticket_pages": ticket_pages(sb.kind, sb.base_url),
            }
            for sb in running
        ]
        print(msgspec.json.encode({"sandboxes": listing}).decode(), flush=True)
    else:
        for sb in running:
            print(_sandbox_text(sb, ticket_pages(sb.kind, sb.base_url)), flush=True)
    stop = asyncio.Event()
    _install_stop_handlers(stop)
    await stop.wait()
    for sb in running:
        await sb.runner.cleanup()
    return 0


def _sandbox_text(sb: RunningSandbox, pages: list[str]) -> str:
    """One sandbox PSA as a user reads it: URL, credentials for `ticketclock connect`, config, ticket pages."""
    inst = sb.instance
    import shlex

    pairs = " ".join(shlex.quote(f"{k}={v}") for k, v in sb.credentials.items() if v)

    def toml(value: object) -> str:
        return msgspec.json.encode(value).decode()  # a JSON string or number is a TOML one too

    config = [
        "    [[instances]]",
        f"    name = {toml(inst.name)}",
        f"    kind = {toml(inst.kind)}",
        f"    origins = {toml(inst.origins).replace(',', ', ')}",
        f"    api_url = {toml(inst.api_url)}",
    ]
    if inst.options:
        options = ", ".join(f"{k} = {toml(v)}" for k, v in inst.options.items())
        config.append(f"    options = {{ {options} }}")
    lines = [
        f"{sb.kind}: {sb.base_url}",
        f"  control:      {sb.control_url}/faults (GET, POST a JSON object of switches), {sb.control_url}/entries",
        f"  connect:      printf '%s\\n' {pairs} | ticketclock connect {inst.name}",
        f"  ticket pages: {pages[0]}",
        *(f"                {page}" for page in pages[1:]),
        "  config:",
        *config,
        "",
    ]
    return "\n".join(lines)


def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    from daemon.logs import setup_logging

    setup_logging(None, verbose=args.verbose)
    return asyncio.run(_demo(settings, args.port_base, args.scripted))


async def _demo(settings: Settings, port_base: int, scripted: bool) -> int:
    """The daemon wired to the three sandbox PSAs, in a demo folder of its own: the whole loop, no PSA account."""
    from daemon.clock import SystemClock
    from daemon.connectors.credentials import CredentialStore
    from daemon.demo import replay_morning, ticket_url
    from daemon.sandbox.runner import start_sandboxes

    clock = SystemClock()
    running = await start_sandboxes(clock, port_base=port_base)
    demo_dir = settings.data_dir / "demo"
    store = CredentialStore(demo_dir, "file")
    for sb in running:
        await store.put(sb.instance.name, sb.credentials)
    config = msgspec.structs.replace(settings.config, credentials="file", instances=[sb.instance for sb in running])
    demo = msgspec.structs.replace(settings, config=config, data_dir=demo_dir, token_path=settings.token_file)
    print("Sandbox PSAs: open these ticket pages with the extension paired to this daemon (`ticketclock pair`):")
    for sb in running:
        print(f"  {sb.kind:<12} {ticket_url(sb.kind, sb.base_url)}")

    def ready(port: int) -> None:
        if scripted:

            async def replay() -> None:
                acked = await replay_morning(port, read_token(demo) or "", clock)
                print(
                    f"demo: replayed a morning of ticket work ({acked} browser events); "
                    "watch `ticketclock entries` and `ticketclock outbox`",
                    flush=True,
                )

            asyncio.get_running_loop().create_task(replay())

    try:
        return await serve(demo, ready=ready)
    finally:
        for sb in running:
            await sb.runner.cleanup()


def _args_connect(p: argparse.ArgumentParser) -> None:
    p.add_argument("instance", help="PSA instance name from the config file")
    p.add_argument("--set", action="append", help=argparse.SUPPRESS)  # refused with a clear message


def _args_psa(p: argparse.ArgumentParser) -> None:
    p.add_argument("--test", metavar="INSTANCE", help="test the stored credentials of this instance")


def _args_sandbox(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--port-base",
        type=int,
        default=47700,
        help="ConnectWise on this port, Autotask +1, Halo +2 (0: free ports, printed)",
    )


def _args_sandbox_command(p: argparse.ArgumentParser) -> None:
    from daemon.sandbox import KINDS

    _args_sandbox(p)
    p.add_argument("--kind", action="append", choices=KINDS, help="run only this PSA (repeatable; default all)")
    p.add_argument(
        "--fault",
        action="append",
        metavar="NAME=VALUE",
        help="switch a fault on in every sandbox, e.g. error_after_commit_next=1 (see daemon/sandbox/control.py)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON line describing the sandboxes")


def _args_demo(p: argparse.ArgumentParser) -> None:
    _args_sandbox(p)
    p.add_argument("--scripted", action="store_true", help="replay a morning of ticket work through the daemon")


# --- argv ------------------------------------------------------------------------------------------------------

COMMANDS: dict[str, tuple[Callable[[Settings, argparse.Namespace], int], str]] = {
    "serve": (cmd_serve, "run the daemon in the foreground"),
    "status": (cmd_status, "is the daemon running?"),
    "pair": (cmd_pair, "show a pairing code for the browser extension"),
    "clients": (cmd_clients, "list paired browsers, or revoke one with --revoke ID"),
    "token": (cmd_token, "print the API token for scripts"),
    "doctor": (cmd_doctor, "check folders, database, port and config, and say what is wrong"),
    "start": (cmd_start, "start a timer by hand for a ticket or a task"),
    "stop": (_timer_action("stop"), "stop a timer; its entry is created"),
    "pause": (_timer_action("pause"), "pause a timer"),
    "resume": (_timer_action("resume"), "resume a paused timer"),
    "timers": (cmd_timers, "list live timers"),
    "entries": (cmd_entries, "list entries (or export CSV)"),
    "watch": (cmd_watch, "live view of the timers over the WebSocket"),
    "connect": (cmd_connect, "store credentials for a PSA instance after testing them"),
    "psa": (cmd_psa, "PSA instances and their health"),
    "outbox": (cmd_outbox, "what is waiting to be posted, and why"),
    "sandbox": (cmd_sandbox, "run the three sandbox PSAs on loopback"),
    "demo": (cmd_demo, "the daemon wired to the sandbox PSAs (no PSA account needed)"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=APP, description="TicketClock: time on PSA tickets, captured.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", help="config file (TOML); default in the user config folder")
    common.add_argument("--data-dir", help="folder for the database and token")
    common.add_argument("--port", type=int, help="localhost port (default 47600)")
    common.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (_, text) in COMMANDS.items():
        p = sub.add_parser(name, help=text, description=text, parents=[common])
        add_arguments = ARGUMENTS.get(name)
        if add_arguments is not None:
            add_arguments(p)
    return parser


ARGUMENTS: dict[str, Callable[[argparse.ArgumentParser], None]] = {
    "clients": _args_clients,
    "start": _args_start,
    "stop": _args_timer,
    "pause": _args_timer,
    "resume": _args_timer,
    "entries": _args_entries,
    "watch": _args_watch,
    "doctor": _args_doctor,
    "connect": _args_connect,
    "psa": _args_psa,
    "sandbox": _args_sandbox_command,
    "demo": _args_demo,
}


DAEMON_COMMANDS = ("serve", "sandbox", "demo")
"""Long-running servers: their output is the daemon's log, not a report of untrusted text."""


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command in DAEMON_COMMANDS:
        return _run(args)
    out, err = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = SafeStream(out), SafeStream(err)
    try:
        return _run(args)
    finally:
        sys.stdout, sys.stderr = out, err


def _run(args: argparse.Namespace) -> int:
    try:
        settings = resolve_settings(args, dict(os.environ))
        handler = COMMANDS[args.command][0]
        return handler(settings, args)
    except CliError as exc:
        print(f"ticketclock: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except DaemonNotRunning as exc:
        print(f"ticketclock: {exc}", file=sys.stderr)
        return 1
    except ApiClientError as exc:
        print(f"ticketclock: {exc.message} ({exc.code})", file=sys.stderr)
        return 1
    except (msgspec.ValidationError, ValueError) as exc:
        print(f"ticketclock: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
