"""The first run as issue 15 describes it, end to end with real processes: `ticketclock sandbox`, then
`ticketclock init --sandbox` (non-interactive), `ticketclock serve`, `ticketclock extension pack` loaded in a real
Chromium, its options page (opened by itself) given the port and the code from `ticketclock pair` — and a closed
ticket's entry is posted to the sandbox PSA. Screenshots: artifacts/options-first-run-paired.png."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path
from typing import Any

import httpx
import pytest

from daemon import __version__
from tests.daemon.cli.conftest import run_cli, start_sandbox
from tests.e2e.conftest import ARTIFACTS, CHROMIUM
from tests.support import DEADLINE_S, await_until, spawn_daemon, stop_process

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

# The user's own timing, kept by init: short windows, so the entry is final seconds after the tab closes.
USER_CONFIG = """# my settings
[timing]
grace_s = 1
merge_s = 0
min_seconds = 0
heartbeat_s = 5
"""


async def test_init_sandbox_then_the_packed_extension_posts_an_entry(tmp_path: Path) -> None:
    if not shutil.which(CHROMIUM):
        pytest.skip(f"chromium not found at {CHROMIUM}")
    from playwright.async_api import async_playwright

    home = tmp_path / "home"
    config = home / "config" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(USER_CONFIG, encoding="utf-8")
    sandbox = start_sandbox(tmp_path / "sandbox", "--port-base", "0", "--kind", "halopsa")
    daemon = None
    try:
        halo = sandbox.of("halopsa")
        port_base = halo["base_url"].rsplit(":", 1)[1]
        init = run_cli(home, "init", "--sandbox", "--kind", "halopsa", "--port-base", port_base, "--yes")
        assert init.returncode == 0, init.stderr
        assert "halopsa-sandbox: connected as" in init.stdout  # the sandbox runs: tested, then stored
        assert "# my settings" in config.read_text(encoding="utf-8")

        daemon = spawn_daemon(home)
        packed = run_cli(home, "extension", "pack", "--out", str(tmp_path))
        assert packed.returncode == 0, packed.stderr
        unpacked = tmp_path / "extension"
        with zipfile.ZipFile(tmp_path / f"ticketclock-extension-{__version__}.zip") as zf:
            zf.extractall(unpacked)

        args = [
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            f"--disable-extensions-except={unpacked}",
            f"--load-extension={unpacked}",
        ]
        async with async_playwright() as p:
            ctx = await p.chromium.launch_persistent_context(
                str(tmp_path / "profile"), executable_path=CHROMIUM, headless=True, args=args
            )
            try:
                await first_run_in_the_browser(ctx, home, daemon.port, halo)
            finally:
                await ctx.close()
    finally:
        if daemon is not None:
            stop_process(daemon)
        stop_process(sandbox.proc)


async def first_run_in_the_browser(ctx: Any, home: Path, daemon_port: int, halo: dict[str, Any]) -> None:
    sw = ctx.service_workers[0] if ctx.service_workers else await ctx.wait_for_event("serviceworker")
    ext_id = sw.url.split("/")[2]
    options_url = f"chrome-extension://{ext_id}/options.html"

    async def options_opened() -> list[Any]:
        return [p for p in ctx.pages if p.url == options_url]

    (options,) = await await_until(options_opened, what="the options page to open after installation")
    await options.wait_for_selector("body[data-rendered='1']")
    await options.fill("#port", str(daemon_port))
    await options.click("#port-form button[type='submit']")
    await options.wait_for_selector("#port-result.ok")
    pair = run_cli(home, "pair", "--port", str(daemon_port))
    assert pair.returncode == 0, pair.stderr
    code = pair.stdout.split("Pairing code:", 1)[1].split()[0]
    await options.fill("#code", code)
    await options.click("#pair")
    await options.wait_for_selector("#pair-result[data-outcome='ok']")
    await options.wait_for_selector("#status[data-state='connected']", timeout=DEADLINE_S * 1000)
    ARTIFACTS.mkdir(exist_ok=True)
    await options.screenshot(path=str(ARTIFACTS / "options-first-run-paired.png"), full_page=True)

    async def knows_origins() -> bool:
        config = await sw.evaluate("chrome.storage.local.get('config').then(r => r.config)")
        return bool(config and config.get("instances"))

    await await_until(knows_origins, what="the daemon's PSA origins in the extension")
    ticket = await ctx.new_page()
    await ticket.goto(halo["ticket_pages"][0])
    base = f"http://127.0.0.1:{daemon_port}"
    token = (home / "data" / "token").read_text(encoding="utf-8").strip()
    auth = {"Authorization": f"Bearer {token}"}

    async def running() -> list[Any]:
        async with httpx.AsyncClient(base_url=base, headers=auth, timeout=10) as http:
            timers = (await http.get("/api/v1/timers")).json()["timers"]
        return [t for t in timers if t["state"] == "running"]

    await await_until(running, what="a timer for the open ticket")
    await ticket.close()

    async def posted() -> list[Any]:
        async with httpx.AsyncClient(timeout=10) as http:
            entries = (await http.get(f"{halo['control_url']}/entries")).json()["entries"]
        return list(entries)

    [entry] = await await_until(posted, timeout=60, what="the closed ticket's entry in the sandbox PSA")
    assert str(entry["ticket_id"]) in halo["ticket_pages"][0]
