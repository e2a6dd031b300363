"""`ticketclock doctor`: check folders, database, port and config on this machine, and say what is wrong."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from daemon.cli.common import Command, read_token
from daemon.cli.output import say
from daemon.client import ApiClient, ApiClientError, DaemonNotRunning
from daemon.runtime import listen_socket
from daemon.settings import InstanceConfig, Settings

if TYPE_CHECKING:
    import httpx

    from daemon.psa import PsaService

__all__ = ["COMMANDS"]


MAX_SKEW_S = 120.0
"""How far this computer's clock may be from the PSA's: beyond it ConnectWise refuses entries "in the future",
and tokens and entry dates drift (the PSA's `Date` header is whole seconds)."""

TODO_HINT_PSA = "run `ticketclock init` (or `ticketclock init --sandbox` to try the local look-alike PSAs)"


class Report:
    """The checks' verdicts: ok, todo (a first-run step not done yet) or FAIL (something is wrong), each with the
    fix it suggests."""

    def __init__(self) -> None:
        self.problems = 0
        self.todo = 0

    def __call__(self, ok: bool, what: str, hint: str = "") -> None:
        self.problems += 0 if ok else 1
        say(f"[{'ok' if ok else 'FAIL'}] {what}" + (f"\n       {hint}" if hint and not ok else ""))

    def step(self, what: str, hint: str) -> None:
        self.todo += 1
        say(f"[todo] {what}\n       {hint}")


def cmd_doctor(settings: Settings, args: argparse.Namespace) -> int:
    report = Report()
    say(f"config file: {settings.config_file} ({'present' if settings.config_file.exists() else 'defaults'})")
    report(True, f"config parses ({len(settings.config.instances)} PSA instance(s))")
    for label, folder in (("data dir", settings.data_dir), ("log dir", settings.log_dir)):
        writable = _writable_dir(folder)
        report(writable, f"{label} {folder} is writable", f"create it or fix its permissions: {folder}")
        if writable:
            _doctor_private(label, folder, fix=args.fix, report=report)
    db = settings.db_path
    if db.exists():
        from daemon.store.check import check_database

        verdict = check_database(db)
        report(verdict == "ok", f"database {db}: {verdict}", "restore a backup or move the file aside")
    else:
        report(True, f"database {db} will be created on first start")
    token = settings.token_file
    if token.exists() and os.name != "nt":
        mode = token.stat().st_mode & 0o777
        report(mode & 0o077 == 0, f"token file {token} is private (mode {mode:o})", f"run: chmod 600 {token}")
    _doctor_psa(settings, report)
    _doctor_daemon(settings, report)
    if report.problems:
        say(f"{report.problems} problem(s) found")
    elif report.todo:
        say(f"nothing broken; {report.todo} step(s) left before time is captured (the [todo] lines)")
    else:
        say("all good")
    return 0 if report.problems == 0 else 1


def _doctor_daemon(settings: Settings, report: Report) -> None:
    """Is the daemon running, on the port the config (and so the CLI and the extension) names, and is a browser
    paired with it?"""
    try:
        health = ApiClient(settings.port, None, timeout=3).get("/api/v1/health")
        version = health.get("version", "unknown") if isinstance(health, dict) else "unknown"
        report(True, f"daemon answers on port {settings.port} (version {version})")
        if (token_text := read_token(settings)) is not None:
            client = ApiClient(settings.port, token_text, timeout=3)
            client.prove()
            report(True, "it proves it holds your token (your token is safe to send to it)")
            _doctor_pairing(client.get("/api/v1/clients")["clients"], report)
    except DaemonNotRunning:
        elsewhere = _daemon_elsewhere(settings)
        if elsewhere is not None:
            report(
                False,
                f"daemon not on port {settings.port} (the config's): it runs on port {elsewhere} (daemon.json)",
                f"set `port = {elsewhere}` in {settings.config_file}, or stop it and start `ticketclock serve` so it "
                f"listens on {settings.port}; the extension's options page must name the same port",
            )
            return
        free = _port_free(settings.config.bind, settings.port)
        if free:
            report.step(
                f"daemon not running; port {settings.port} is free",
                "start it: `ticketclock serve` (or `ticketclock autostart enable` to start it at every login)",
            )
        else:
            report(
                False,
                f"daemon not running; port {settings.port} is taken by another program",
                "choose another port with --port or `port = …` in the config file",
            )
    except ApiClientError as exc:
        report(False, f"something else answers on port {settings.port}: {exc}", "choose another port")


def _doctor_pairing(clients: list[dict[str, Any]], report: Report) -> None:
    if not clients:
        report.step(
            "no browser is paired (never paired, or its pairing was revoked)",
            "run `ticketclock pair` and type the code in the extension's options page",
        )
        return
    names = ", ".join(str(c.get("name", "?")) for c in clients[:5])
    report(True, f"{len(clients)} browser(s) paired: {names}")


def _daemon_elsewhere(settings: Settings) -> int | None:
    """The port of a daemon that runs with this data folder on another port: daemon.json names it and its health
    answers the same pid."""
    from daemon.runtime import read_daemon_file

    info = read_daemon_file(settings.data_dir)
    if info is None or info.port == settings.port:
        return None
    try:
        health = ApiClient(info.port, None, timeout=3).get("/api/v1/health")
    except (DaemonNotRunning, ApiClientError):
        return None
    return info.port if isinstance(health, dict) and health.get("pid") == info.pid else None


def _doctor_psa(settings: Settings, report: Report) -> None:
    """A PSA configured, its credentials stored, its API reachable, this clock close to its clock, and the
    credentials accepted (tested here, with the code the daemon runs)."""
    import asyncio

    if not settings.config.instances:
        report.step("no PSA configured", TODO_HINT_PSA)
        return
    for verdict, what, hint in asyncio.run(_check_instances(settings)):
        if verdict == "todo":
            report.step(what, hint)
        else:
            report(verdict == "ok", what, hint)


Verdict = tuple[str, str, str]
"""("ok" | "todo" | "fail", what was found, the fix)."""


async def _check_instances(settings: Settings) -> list[Verdict]:
    import httpx

    from daemon.clock import SystemClock
    from daemon.connectors.credentials import CredentialStore
    from daemon.psa import PsaService

    clock = SystemClock()
    store = CredentialStore(settings.data_dir, settings.config.credentials)
    found: list[Verdict] = []
    async with httpx.AsyncClient(timeout=httpx.Timeout(10.0)) as http:
        service = PsaService(settings.config, store, http, clock)
        try:
            for inst in settings.config.instances:
                stored = await store.get(inst.name) is not None
                found += await _check_instance(settings, inst, stored, http, service, clock.now)
        finally:
            await service.aclose()
    return found


async def _check_instance(
    settings: Settings,
    inst: InstanceConfig,
    stored: bool,
    http: httpx.AsyncClient,
    service: PsaService,
    now: Callable[[], float],
) -> list[Verdict]:
    import httpx

    from daemon.cli.init import api_address
    from daemon.psa import PsaError

    found: list[Verdict] = []
    if not stored:
        found.append(("todo", f"{inst.name}: no credentials stored", f"run `ticketclock connect {inst.name}`"))
    where = api_address(inst)
    try:
        answer = await http.get(where)
    except httpx.HTTPError as exc:
        why = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        fix = f"check `origins`/`api_url` of {inst.name} in {settings.config_file}, and the network (VPN, proxy)"
        if where.startswith(("http://127.0.0.1:", "http://localhost:")):
            fix += "; a sandbox PSA on this computer: start `ticketclock sandbox` (see `ticketclock init --sandbox`)"
        return [*found, ("fail", f"{inst.name}: cannot reach {where} ({why})", fix)]
    found.append(("ok", f"{inst.name}: {where} answers", ""))
    found.append(_clock_skew(inst.name, answer.headers.get("Date"), now()))
    if stored:
        try:
            identity = await service.test(inst.name)
        except PsaError as exc:
            fix = f"run `ticketclock connect {inst.name}` with API credentials the PSA accepts"
            found.append(("fail", f"{inst.name}: {exc.message}", fix))
        else:
            found.append(("ok", f"{inst.name}: credentials accepted (as {identity.name or identity.id})", ""))
    return found


def _clock_skew(name: str, date: str | None, now: float) -> tuple[str, str, str]:
    """The verdict on this computer's clock against the PSA's `Date` header."""
    import email.utils
    from datetime import UTC

    if not date:
        return ("ok", f"{name}: the PSA sends no Date header; clock not compared", "")
    try:
        when = email.utils.parsedate_to_datetime(date)
    except (TypeError, ValueError, IndexError):
        return ("ok", f"{name}: the PSA's Date header is unreadable; clock not compared", "")
    psa_time = (when if when.tzinfo is not None else when.replace(tzinfo=UTC)).timestamp()
    skew = psa_time - now
    if abs(skew) <= MAX_SKEW_S:
        return ("ok", f"{name}: this computer's clock is within {max(1, round(abs(skew)))} s of the PSA's", "")
    direction = "behind" if skew > 0 else "ahead of"
    return (
        "fail",
        f"{name}: this computer's clock is {abs(skew):.0f} s {direction} the PSA's",
        "turn on automatic time: Linux `timedatectl set-ntp true`; macOS System Settings → General → Date & Time; "
        "Windows Settings → Time & language → Set the time automatically",
    )


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
            say(f"[fixed] {label} {folder}: made private ({len(loose)} path(s): folders 0700, files 0600)")
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


def _port_free(bind: str, port: int) -> bool:
    """Could `serve` listen here? Asked with serve's own socket (SO_REUSEADDR included), then closed."""
    try:
        listen_socket(bind, port).close()
    except OSError:
        return False
    return True


def _args_doctor(p: argparse.ArgumentParser) -> None:
    p.add_argument("--fix", action="store_true", help="make the data and log folders private (0700/0600, or ACLs)")


COMMANDS = {
    "doctor": Command(cmd_doctor, "check folders, database, port and config, and say what is wrong", _args_doctor),
}
