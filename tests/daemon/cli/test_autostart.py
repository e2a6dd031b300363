"""`ticketclock autostart`: the login entries it writes, under a temporary HOME. The systemd unit is checked by
systemd itself (`systemd-analyze verify`); the LaunchAgent and the scheduled task by parsing what was written."""

from __future__ import annotations

import os
import plistlib
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.daemon.cli.conftest import cli_env

TASK_NS = "{http://schemas.microsoft.com/windows/2004/02/mit/task}"


def autostart(home: Path, *args: str, configured: bool = True) -> subprocess.CompletedProcess[str]:
    config = home / "tc" / "config" / "config.toml"
    if configured and not config.exists():
        config.parent.mkdir(parents=True)
        config.write_text("", encoding="utf-8")
    env = cli_env(home / "tc")
    env["HOME"] = str(home)
    env.pop("XDG_CONFIG_HOME", None)
    return subprocess.run(
        [sys.executable, "-m", "daemon", "autostart", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def serve_args(home: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "daemon",
        "serve",
        "--config",
        str(home / "tc" / "config" / "config.toml"),
        "--data-dir",
        str(home / "tc" / "data"),
    ]


@pytest.mark.skipif(sys.platform != "linux", reason="systemd is Linux's")
def test_systemd_unit_is_written_valid_and_removed(tmp_path: Path) -> None:
    unit = tmp_path / ".config" / "systemd" / "user" / "ticketclock.service"
    assert "not enabled" in autostart(tmp_path, "status").stdout
    enabled = autostart(tmp_path, "enable", "--files-only")
    assert enabled.returncode == 0, enabled.stderr
    assert unit.exists() and str(unit) in enabled.stdout
    text = unit.read_text(encoding="utf-8")
    assert f"ExecStart={' '.join(serve_args(tmp_path))}\n" in text
    assert "WantedBy=default.target" in text and "Restart=on-failure" in text
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze not installed: the unit was written but not verified")
    verified = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=120, check=False
    )
    assert verified.returncode == 0, verified.stderr
    assert str(unit) not in verified.stderr, verified.stderr  # a line systemd ignores is still reported there
    assert "enabled" in autostart(tmp_path, "status").stdout
    disabled = autostart(tmp_path, "disable", "--files-only")
    assert disabled.returncode == 0 and not unit.exists()
    assert "not enabled" in autostart(tmp_path, "status").stdout


@pytest.mark.skipif(os.name != "posix", reason="a systemd unit holds POSIX paths")
def test_systemd_unit_quotes_a_path_with_spaces(tmp_path: Path) -> None:
    home = tmp_path / "Jane Doe"
    assert autostart(home, "enable", "--platform", "linux").returncode == 0
    text = (home / ".config" / "systemd" / "user" / "ticketclock.service").read_text(encoding="utf-8")
    assert f'--config "{home}/tc/config/config.toml"' in text


def test_launch_agent_for_macos(tmp_path: Path) -> None:
    result = autostart(tmp_path, "enable", "--platform", "darwin")
    assert result.returncode == 0, result.stderr
    plist = plistlib.loads((tmp_path / "Library" / "LaunchAgents" / "com.ticketclock.daemon.plist").read_bytes())
    assert plist["Label"] == "com.ticketclock.daemon"
    assert plist["ProgramArguments"] == serve_args(tmp_path)
    assert plist["RunAtLoad"] is True and plist["KeepAlive"] == {"SuccessfulExit": False}
    assert autostart(tmp_path, "disable", "--platform", "darwin").returncode == 0
    assert not (tmp_path / "Library" / "LaunchAgents" / "com.ticketclock.daemon.plist").exists()


def test_scheduled_task_for_windows(tmp_path: Path) -> None:
    result = autostart(tmp_path, "enable", "--platform", "win32")
    assert result.returncode == 0, result.stderr
    task = ET.fromstring((tmp_path / "tc" / "data" / "autostart-task.xml").read_bytes())  # noqa: S314 (ours)
    assert task.find(f"{TASK_NS}Triggers/{TASK_NS}LogonTrigger") is not None
    assert task.findtext(f"{TASK_NS}Principals/{TASK_NS}Principal/{TASK_NS}RunLevel") == "LeastPrivilege"
    command = task.findtext(f"{TASK_NS}Actions/{TASK_NS}Exec/{TASK_NS}Command")
    arguments = task.findtext(f"{TASK_NS}Actions/{TASK_NS}Exec/{TASK_NS}Arguments")
    windowless = Path(sys.executable).with_name("pythonw.exe")  # Windows: no console window at logon
    assert command == str(windowless if windowless.exists() else sys.executable)
    assert arguments == " ".join(serve_args(tmp_path)[1:])


def test_enable_before_init_says_to_run_init_first(tmp_path: Path) -> None:
    result = autostart(tmp_path, "enable", "--platform", "linux", configured=False)
    assert result.returncode == 2
    assert "run `ticketclock init` first" in result.stderr
    assert not (tmp_path / ".config" / "systemd" / "user" / "ticketclock.service").exists()
