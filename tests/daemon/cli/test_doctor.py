"""`ticketclock doctor`: one test per problem it diagnoses, each asserting the fix it suggests. Real subprocesses:
the CLI, the daemon (`serve`), the sandbox PSAs (`sandbox`, with a switch for a server clock that is off)."""

from __future__ import annotations

import asyncio
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from daemon.connectors.credentials import CredentialStore
from daemon.private import private_dir
from daemon.sandbox.halopsa import CLIENT_ID, CLIENT_SECRET
from tests.daemon.cli.conftest import Sandbox, run_cli, start_sandbox
from tests.support import spawn_daemon, stop_process, vacant_port

pytestmark = pytest.mark.slow


def halo_config(home: Path, base: str) -> None:
    path = home / "config" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f'credentials = "file"\n\n[[instances]]\nname = "halo"\nkind = "halopsa"\norigins = ["{base}"]\n',
        encoding="utf-8",
    )


def store_credentials(home: Path, secret: str) -> None:
    creds = {"client_id": CLIENT_ID, "client_secret": secret}
    private_dir(home / "data")  # as TicketClock makes it
    asyncio.run(CredentialStore(home / "data", "file").put("halo", creds))


def doctor(home: Path, port: int | None = None) -> subprocess.CompletedProcess[str]:
    if port is not None:
        return run_cli(home, "doctor", "--port", str(port))
    with vacant_port() as free:
        return run_cli(home, "doctor", "--port", str(free))


def line_and_fix(output: str, verdict: str, what: str) -> str:
    """The fix printed under the `[verdict] …what…` line."""
    found = re.search(rf"^\[{re.escape(verdict)}\] [^\n]*{re.escape(what)}[^\n]*\n {{7}}(.+)$", output, re.M)
    assert found, f"no [{verdict}] line with {what!r} and a fix under it:\n{output}"
    return found.group(1)


@pytest.fixture
def skewed_halo(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Sandbox]:
    skew = getattr(request, "param", 0)
    sandbox = start_sandbox(
        tmp_path / "sandbox-home", "--port-base", "0", "--kind", "halopsa", "--fault", f"date_skew_s={skew}"
    )
    try:
        yield sandbox
    finally:
        stop_process(sandbox.proc)


def test_no_psa_configured(tmp_path: Path) -> None:
    result = doctor(tmp_path)
    assert result.returncode == 0, result.stdout  # nothing is broken: steps are left
    fix = line_and_fix(result.stdout, "todo", "no PSA configured")
    assert "run `ticketclock init`" in fix and "ticketclock init --sandbox" in fix
    assert "all good" not in result.stdout and "step(s) left" in result.stdout


def test_no_credentials_stored(tmp_path: Path, halo_sandbox: Sandbox) -> None:
    halo_config(tmp_path, halo_sandbox.of("halopsa")["base_url"])
    result = doctor(tmp_path)
    assert line_and_fix(result.stdout, "todo", "halo: no credentials stored") == "run `ticketclock connect halo`"
    assert "all good" not in result.stdout


def test_credentials_rejected_by_the_psa(tmp_path: Path, halo_sandbox: Sandbox) -> None:
    halo_config(tmp_path, halo_sandbox.of("halopsa")["base_url"])
    store_credentials(tmp_path, "a-secret-halo-no-longer-knows")
    result = doctor(tmp_path)
    assert result.returncode == 1
    fix = line_and_fix(result.stdout, "FAIL", "halo: halo: the PSA refused the credentials")
    assert fix == "run `ticketclock connect halo` with API credentials the PSA accepts"
    assert "a-secret-halo-no-longer-knows" not in result.stdout + result.stderr


def test_credentials_accepted(tmp_path: Path, halo_sandbox: Sandbox) -> None:
    halo_config(tmp_path, halo_sandbox.of("halopsa")["base_url"])
    store_credentials(tmp_path, CLIENT_SECRET)
    result = doctor(tmp_path)
    assert "[ok] halo: credentials accepted (as " in result.stdout
    assert "[ok] halo: this computer's clock is within" in result.stdout
    assert "[FAIL]" not in result.stdout


def test_psa_unreachable(tmp_path: Path) -> None:
    with vacant_port() as nobody:
        halo_config(tmp_path, f"http://127.0.0.1:{nobody}")
        store_credentials(tmp_path, CLIENT_SECRET)
        result = doctor(tmp_path)
    assert result.returncode == 1
    fix = line_and_fix(result.stdout, "FAIL", f"halo: cannot reach http://127.0.0.1:{nobody}")
    assert fix.startswith("check `origins`/`api_url` of halo in ") and "network" in fix
    local = "a sandbox PSA on this computer: start `ticketclock sandbox` (see `ticketclock init --sandbox`)"
    assert fix.endswith(local)


@pytest.mark.parametrize(
    ("skewed_halo", "seconds", "words"), [(-600, 600, "ahead of"), (900, 900, "behind")], indirect=["skewed_halo"]
)
def test_clock_skew_against_the_psa(tmp_path: Path, skewed_halo: Sandbox, seconds: int, words: str) -> None:
    base = skewed_halo.of("halopsa")["base_url"]
    date = httpx.get(f"{base}/ticket?id=1", timeout=10).headers["Date"]  # the switch works: the server's clock is off
    halo_config(tmp_path, base)
    store_credentials(tmp_path, CLIENT_SECRET)
    result = doctor(tmp_path)
    assert result.returncode == 1, date
    fix = line_and_fix(result.stdout, "FAIL", f"s {words} the PSA's")
    found = re.search(rf"\[FAIL\] halo: this computer's clock is (\d+) s {words} the PSA's", result.stdout)
    assert found and abs(int(found.group(1)) - seconds) <= 2, result.stdout  # the header is in whole seconds
    assert "timedatectl set-ntp true" in fix and "Set the time automatically" in fix


def test_daemon_not_running(tmp_path: Path) -> None:
    with vacant_port() as port:
        result = doctor(tmp_path, port)
    fix = line_and_fix(result.stdout, "todo", f"daemon not running; port {port} is free")
    assert "`ticketclock serve`" in fix and "`ticketclock autostart enable`" in fix


def test_daemon_running_on_another_port(tmp_path: Path) -> None:
    daemon = spawn_daemon(tmp_path)
    try:
        with vacant_port() as configured:
            result = doctor(tmp_path, configured)
    finally:
        stop_process(daemon)
    assert result.returncode == 1
    fix = line_and_fix(
        result.stdout, "FAIL", f"daemon not on port {configured} (the config's): it runs on port {daemon.port}"
    )
    assert f"set `port = {daemon.port}` in " in fix and f"listens on {configured}" in fix
    assert "extension's options page must name the same port" in fix


def test_extension_never_paired_then_paired_then_revoked(tmp_path: Path) -> None:
    daemon = spawn_daemon(tmp_path)
    try:
        never = doctor(tmp_path, daemon.port)
        fix = line_and_fix(never.stdout, "todo", "no browser is paired (never paired, or its pairing was revoked)")
        assert fix == "run `ticketclock pair` and type the code in the extension's options page"
        token = (tmp_path / "data" / "token").read_text(encoding="utf-8").strip()
        base = f"http://127.0.0.1:{daemon.port}"
        code = httpx.post(f"{base}/api/v1/pair/codes", headers={"Authorization": f"Bearer {token}"}, timeout=10)
        origin = {"Origin": "chrome-extension://abcdefghijklmnopabcdefghijklmnop"}
        paired = httpx.post(f"{base}/api/v1/pair", json={"code": code.json()["code"]}, headers=origin, timeout=10)
        assert paired.status_code == 200, paired.text
        assert "[ok] 1 browser(s) paired" in doctor(tmp_path, daemon.port).stdout
        revoke = run_cli(tmp_path, "clients", "--revoke", paired.json()["client_id"], "--port", str(daemon.port))
        assert revoke.returncode == 0, revoke.stderr
        revoked = doctor(tmp_path, daemon.port)
        assert line_and_fix(revoked.stdout, "todo", "no browser is paired") == fix
    finally:
        stop_process(daemon)
