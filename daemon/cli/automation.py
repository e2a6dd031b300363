"""`ticketclock log-run`: report an automation run to the daemon (`POST /api/v1/automation-runs`).

Flags map one to one onto the API body; times are epoch seconds or ISO 8601 (without an offset: local time). The
command prints what became of the run: "logged: entry …", "skipped: …", "failed: …", and says when it was a repeat.
Imports stay inside the functions: the CLI's start-up does not pay for this command.
"""

from __future__ import annotations

import argparse

from daemon.cli.common import Command
from daemon.settings import Settings

__all__ = ["COMMANDS"]


def _time(text: str) -> float:
    from daemon.entries.periods import read_moment

    try:
        return read_moment(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--automation", help="required: the automation's name, as configured under [[automations]]")
    p.add_argument("--ticket", help="ticket id or number")
    p.add_argument("--run-id", help="unique per run: the same id again logs nothing new")
    p.add_argument("--started-at", type=_time, help="ISO 8601 or epoch seconds")
    p.add_argument("--finished-at", type=_time, help="ISO 8601 or epoch seconds")
    p.add_argument("--instance", help="PSA instance (needed when several are configured)")
    p.add_argument("--started-by", default="", help="PSA user who started the run (login, e-mail or id)")
    p.add_argument("--outcome", default="", help="e.g. success, failed")
    p.add_argument("--notes", default="", help="the run's own notes")


_REQUIRED = ("automation", "ticket", "run_id", "started_at", "finished_at")


def cmd_log_run(settings: Settings, args: argparse.Namespace) -> int:
    from daemon.cli.common import CliError, api
    from daemon.cli.output import say

    missing = [f"--{name.replace('_', '-')}" for name in _REQUIRED if getattr(args, name) is None]
    if missing:
        raise CliError(f"log-run needs {', '.join(missing)}")
    body: dict[str, object] = {
        "automation": args.automation,
        "ticket": args.ticket,
        "run_id": args.run_id,
        "started_at": args.started_at,
        "finished_at": args.finished_at,
        "started_by": args.started_by,
        "outcome": args.outcome,
        "notes": args.notes,
    }
    if args.instance:
        body["instance"] = args.instance
    run = api(settings).post("/api/v1/automation-runs", body)
    repeat = " (repeat: this run id was already recorded)" if run.get("repeat") else ""
    if run["status"] in ("logged", "absorbed"):
        detail = f"entry {run['entry_id']} {run['entry_status']}"
        if run["status"] == "absorbed":
            detail += f" ({run['reason']})"
        say(f"{run['status']}: {detail}{repeat}")
    else:
        say(f"{run['status']}: {run['reason']}{repeat}")
    return 0


COMMANDS = {
    "log-run": Command(
        cmd_log_run, "report an automation run: logged as time on its ticket, or skipped and why", _args
    ),
}
