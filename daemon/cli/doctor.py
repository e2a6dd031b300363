"""`ticketclock doctor`: check folders, database, port and config on this machine, and say what is wrong."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path

from daemon.cli.common import Command, read_token
from daemon.cli.output import say
from daemon.client import ApiClient, ApiClientError, DaemonNotRunning
from daemon.runtime import listen_socket
from daemon.settings import Settings

__all__ = ["COMMANDS"]


def cmd_doctor(settings: Settings, args: argparse.Namespace) -> int:
    problems = 0

    def report(ok: bool, what: str, hint: str = "") -> None:
        nonlocal problems
        problems += 0 if ok else 1
        say(f"[{'ok' if ok else 'FAIL'}] {what}" + (f"\n       {hint}" if hint and not ok else ""))

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
    say("all good" if problems == 0 else f"{problems} problem(s) found")
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
