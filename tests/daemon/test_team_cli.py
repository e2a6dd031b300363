"""`ticketclock team`: the config edit keeps every other line, plain http is refused but to this machine, and leaving
forgets the token and the server even when the server is away."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from daemon.cli.team import edit_team_server
from daemon.settings import ConfigError, parse_config
from tests.support import daemon_env, vacant_port

TEXT = """# mine
port = 47601

[team]
# the team server
sync_interval_s = 5.0

[[tasks]]
name = "Admin"
"""


def test_the_team_server_line_is_set_replaced_and_removed_and_nothing_else_changes() -> None:
    joined = edit_team_server(TEXT, "https://time.example.com")
    assert tomllib.loads(joined)["team"] == {"server": "https://time.example.com", "sync_interval_s": 5.0}
    assert joined.replace('server = "https://time.example.com"\n', "") == TEXT
    moved = edit_team_server(joined, "https://other.example.com")
    assert tomllib.loads(moved)["team"]["server"] == "https://other.example.com"
    assert edit_team_server(moved, None) == TEXT
    fresh = edit_team_server("port = 1\n", 'https://a.example.com/"x')
    assert tomllib.loads(fresh) == {"port": 1, "team": {"server": 'https://a.example.com/"x'}}


@pytest.mark.parametrize(
    ("server", "ok"),
    [
        ("https://time.example.com", True),
        ("http://127.0.0.1:8470", True),
        ("http://localhost:8470", True),
        ("http://time.example.com", False),
        ("ftp://time.example.com", False),
        ("https://user:pw@time.example.com", False),
    ],
)
def test_the_config_takes_https_or_this_machine_only(server: str, ok: bool) -> None:
    text = f'[team]\nserver = "{server}"\n'
    if ok:
        assert parse_config(text).team.server == server
    else:
        with pytest.raises(ConfigError, match=r"team\.server"):
            parse_config(text)


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "daemon", *args], env=daemon_env(home), capture_output=True, text=True, timeout=60,
        stdin=subprocess.DEVNULL, check=False,
    )  # fmt: skip


def test_join_refuses_plain_http_and_leave_forgets_the_token_and_the_server(tmp_path: Path) -> None:
    config = tmp_path / "config" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text('credentials = "file"\n', encoding="utf-8")
    refused = _cli(tmp_path, "team", "join", "http://time.example.com", "--invite", "abc")
    assert refused.returncode == 2 and "must be https://" in refused.stderr
    assert config.read_text(encoding="utf-8") == 'credentials = "file"\n'
    with vacant_port() as port:
        away = f"http://127.0.0.1:{port}"
        config.write_text(f'credentials = "file"\n\n[team]\nserver = "{away}"\n', encoding="utf-8")
        data = tmp_path / "data"
        data.mkdir()
        (data / "credentials.json").write_text(
            json.dumps({"team:device": {"token": "tcd_secret", "device_id": "d1"}}), encoding="utf-8"
        )
        left = _cli(tmp_path, "team", "leave")
    assert left.returncode == 0, left.stderr
    assert "ask an admin to revoke device d1" in left.stdout and "tcd_secret" not in left.stdout + left.stderr
    assert json.loads((data / "credentials.json").read_text(encoding="utf-8")) == {}
    assert parse_config(config.read_text(encoding="utf-8")).team.server == ""
