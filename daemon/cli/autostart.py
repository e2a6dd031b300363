"""`ticketclock autostart enable|disable|status`: start the daemon at login, for this user only.

Linux: a systemd user unit (~/.config/systemd/user/ticketclock.service), enabled with `systemctl --user` when a
user manager runs. macOS: a LaunchAgent (~/Library/LaunchAgents/com.ticketclock.daemon.plist), loaded with
`launchctl`. Windows: a scheduled task at logon of this user, without elevation (its XML kept in the data folder),
registered with `schtasks`. Nothing needs administrator rights; the daemon runs as the user, as `serve` would.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from daemon.cli.common import CliError, Command
from daemon.cli.output import say
from daemon.settings import DEFAULT_PORT, Settings

__all__ = ["COMMANDS", "autostart_file", "launch_agent", "scheduled_task", "serve_command", "systemd_unit"]

UNIT = "ticketclock.service"
AGENT = "com.ticketclock.daemon"
TASK = "TicketClock"
PLATFORMS = ("linux", "darwin", "win32")


def serve_command(settings: Settings, python: str | None = None) -> list[str]:
    """How the login starts the daemon: this Python (the one TicketClock is installed in) running `serve` with this
    config file and data folder, so it is the daemon `ticketclock` talks to."""
    args = [python or sys.executable, "-m", "daemon", "serve", "--config", str(settings.config_file)]
    args += ["--data-dir", str(settings.data_dir)]
    if settings.port != DEFAULT_PORT:
        args += ["--port", str(settings.port)]
    return args


def _systemd_quote(arg: str) -> str:
    if arg and not any(c in arg for c in " \t\"\\'$%;"):
        return arg
    escaped = arg.replace("\\", "\\\\").replace('"', '\\"').replace("$", "$$").replace("%", "%%")
    return f'"{escaped}"'


def systemd_unit(settings: Settings) -> str:
    command = " ".join(_systemd_quote(a) for a in serve_command(settings))
    return (
        "# Written by `ticketclock autostart enable`; removed by `ticketclock autostart disable`.\n"
        "[Unit]\n"
        "Description=TicketClock daemon (time on PSA tickets)\n"
        "\n"
        "[Service]\n"
        "Type=simple\n"
        f"ExecStart={command}\n"
        "Restart=on-failure\n"
        "RestartSec=5\n"
        "\n"
        "[Install]\n"
        "WantedBy=default.target\n"
    )


def launch_agent(settings: Settings) -> bytes:
    import plistlib

    return plistlib.dumps(
        {
            "Label": AGENT,
            "ProgramArguments": serve_command(settings),
            "RunAtLoad": True,
            "KeepAlive": {"SuccessfulExit": False},
            "ProcessType": "Background",
            "StandardOutPath": str(settings.log_dir / "launchd.out.log"),
            "StandardErrorPath": str(settings.log_dir / "launchd.err.log"),
        }
    )


def scheduled_task(settings: Settings) -> str:
    """Task Scheduler XML: at logon of the user who runs this, least privilege, restarted if it stops with an
    error; `pythonw` where there is one, so no console window stays open."""
    from xml.sax.saxutils import escape

    python = Path(sys.executable)
    windowless = python.with_name("pythonw.exe")
    command = serve_command(settings, str(windowless if windowless.exists() else python))
    arguments = " ".join(f'"{a}"' if " " in a else a for a in command[1:])
    return (
        '<?xml version="1.0" encoding="UTF-16"?>\n'
        '<Task version="1.2" xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">\n'
        "  <RegistrationInfo><Description>TicketClock daemon (time on PSA tickets)</Description></RegistrationInfo>\n"
        "  <Triggers><LogonTrigger><Enabled>true</Enabled></LogonTrigger></Triggers>\n"
        '  <Principals><Principal id="Author"><LogonType>InteractiveToken</LogonType>'
        "<RunLevel>LeastPrivilege</RunLevel></Principal></Principals>\n"
        "  <Settings>\n"
        "    <MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy>\n"
        "    <DisallowStartIfOnBatteries>false</DisallowStartIfOnBatteries>\n"
        "    <StopIfGoingOnBatteries>false</StopIfGoingOnBatteries>\n"
        "    <ExecutionTimeLimit>PT0S</ExecutionTimeLimit>\n"
        "    <RestartOnFailure><Interval>PT1M</Interval><Count>3</Count></RestartOnFailure>\n"
        "  </Settings>\n"
        '  <Actions Context="Author"><Exec>\n'
        f"    <Command>{escape(command[0])}</Command>\n"
        f"    <Arguments>{escape(arguments)}</Arguments>\n"
        "  </Exec></Actions>\n"
        "</Task>\n"
    )


def autostart_file(settings: Settings, platform: str) -> Path:
    """Where the login entry is written for `platform` (sys.platform's name)."""
    if platform == "darwin":
        return Path.home() / "Library" / "LaunchAgents" / f"{AGENT}.plist"
    if platform == "win32":
        return settings.data_dir / "autostart-task.xml"
    import platformdirs

    return platformdirs.user_config_path() / "systemd" / "user" / UNIT


def _content(settings: Settings, platform: str) -> bytes:
    if platform == "darwin":
        return launch_agent(settings)
    if platform == "win32":
        return scheduled_task(settings).encode("utf-16")
    return systemd_unit(settings).encode()


def _run(args: list[str]) -> tuple[bool, str]:
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, str(exc)
    return done.returncode == 0, (done.stderr or done.stdout).strip()


def _user_systemd() -> bool:
    """A systemd user manager answers (`systemctl --user` would work)."""
    ok, text = _run(["systemctl", "--user", "is-system-running"])
    return ok or text in ("degraded", "starting")


def _register(platform: str, path: Path, enable: bool) -> str:
    """Tell the OS's service manager; what happened, in words."""
    if platform == "linux":
        if not _user_systemd():
            return "no systemd user manager runs in this session: it starts the unit at your next login"
        _run(["systemctl", "--user", "daemon-reload"])
        ok, text = _run(["systemctl", "--user", "enable" if enable else "disable", "--now", UNIT])
        return ("systemctl --user: " + ("enabled and started" if enable else "stopped and disabled")) if ok else text
    if platform == "darwin":
        import os

        domain = f"gui/{os.getuid()}"  # type: ignore[attr-defined,unused-ignore]
        ok, text = _run(["launchctl", "bootstrap" if enable else "bootout", domain, str(path)])
        return ("launchctl: " + ("loaded" if enable else "unloaded")) if ok else text
    args = (
        ["schtasks", "/Create", "/TN", TASK, "/XML", str(path), "/F"]
        if enable
        else ["schtasks", "/Delete", "/TN", TASK, "/F"]
    )
    ok, text = _run(args)
    return ("Task Scheduler: " + ("task created" if enable else "task deleted")) if ok else text


def cmd_autostart(settings: Settings, args: argparse.Namespace) -> int:
    platform = args.platform or (sys.platform if sys.platform in PLATFORMS else "linux")
    files_only = args.files_only or platform != sys.platform
    path = autostart_file(settings, platform)
    if args.action == "status":
        say(f"autostart: {'enabled' if path.exists() else 'not enabled'} ({path})")
        return 0
    if args.action == "enable":
        if not settings.config_file.exists():
            raise CliError(
                f"no config file at {settings.config_file} yet: run `ticketclock init` first "
                "(the daemon started at login reads that file)"
            )
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(_content(settings, platform))
        except OSError as exc:
            raise CliError(f"cannot write {path}: {exc.strerror}") from None
        say(f"wrote {path}")
        say(f"at login it runs: {' '.join(serve_command(settings))}")
    else:
        if not path.exists():
            say(f"autostart was not enabled ({path} does not exist)")
            return 0
    if not files_only:
        say(_register(platform, path, args.action == "enable"))
    if args.action == "disable":
        path.unlink(missing_ok=True)
        say(f"removed {path}")
    return 0


def _args_autostart(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", nargs="?", default="status", choices=("enable", "disable", "status"))
    p.add_argument(
        "--files-only",
        action="store_true",
        help="write or remove the login entry without telling the service manager (systemctl, launchctl, schtasks)",
    )
    p.add_argument("--platform", choices=PLATFORMS, help="write another OS's login entry (implies --files-only)")


COMMANDS = {
    "autostart": Command(
        cmd_autostart, "start the daemon at login (this user only): enable, disable, status", _args_autostart
    ),
}
