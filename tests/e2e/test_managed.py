"""Fleet deployment, for real: Chromium reads a managed policy from its policy folder (/etc/chromium/policies/
managed/*.json), the extension takes its port and pairing secret from `chrome.storage.managed`, pairs itself with
the real daemon (which proves it holds the secret first) and reports the PSA tab it is shown — with no click.

The policy file is written for the duration of the test only, keyed to the id of a COPY of the extension in a
temporary folder (an unpacked extension's id comes from its path), so no other test's browser sees it; removed
after. Writing there needs root (CI runs as root); otherwise the test skips and says why.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import ARTIFACTS, CHROMIUM, EXT_DIR, LAUNCH_ARGS
from tests.support import DEADLINE_S, RunningDaemon, await_until, make_settings, start_daemon

pytestmark = pytest.mark.e2e

POLICY_DIR = Path(os.environ.get("CHROMIUM_POLICY_DIR", "/etc/chromium/policies/managed"))
SECRET = "fleet-secret-for-the-e2e-test-0123456789"


def unpacked_extension_id(path: Path) -> str:
    """Chromium's id for an unpacked extension: the first 32 hex digits of sha256(its absolute path), a-p."""
    digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:32]
    return digest.translate(str.maketrans("0123456789abcdef", "abcdefghijklmnop"))


@pytest.fixture
def extension_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "managed-extension"
    shutil.copytree(EXT_DIR, copy, ignore=shutil.ignore_patterns("tests", "node_modules"))
    return copy


@pytest.fixture
def policy(extension_copy: Path, request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
    """A managed policy file for the copy's id only; filled in by the test, removed afterwards."""
    if not shutil.which(CHROMIUM):
        pytest.skip(f"chromium not found at {CHROMIUM}")
    if os.name != "posix" or os.geteuid() != 0:
        pytest.skip(f"writing a browser policy to {POLICY_DIR} needs root (CI runs as root)")
    ext_id = unpacked_extension_id(extension_copy)
    path = POLICY_DIR / f"ticketclock-e2e-{ext_id}.json"
    content: dict[str, Any] = {"id": ext_id}
    created = not POLICY_DIR.exists()
    POLICY_DIR.mkdir(parents=True, exist_ok=True)
    try:
        yield {"path": path, "id": ext_id, "content": content}
    finally:
        path.unlink(missing_ok=True)
        if created:
            for folder in (POLICY_DIR, POLICY_DIR.parent):
                try:
                    folder.rmdir()  # only if we made it and it is empty
                except OSError:
                    break


@pytest.fixture
async def fleet_daemon(tmp_path: Path, psa_port: int) -> AsyncIterator[RunningDaemon]:
    config = f"""
[pairing]
managed_secret = "{SECRET}"

[timing]
grace_s = 1
heartbeat_s = 5

[[instances]]
name = "halo"
kind = "halopsa"
origins = ["http://127.0.0.1:{psa_port}"]
"""
    d = await start_daemon(make_settings(tmp_path / "daemon", config_text=config))
    yield d
    await d.stop()


async def test_a_managed_install_pairs_itself_and_reports_tabs_without_a_click(
    fleet_daemon: RunningDaemon, policy: dict[str, Any], extension_copy: Path, psa_port: int, tmp_path: Path
) -> None:
    from playwright.async_api import async_playwright

    d = fleet_daemon
    policy["path"].write_text(
        json.dumps({"3rdparty": {"extensions": {policy["id"]: {"daemonPort": d.port, "pairingSecret": SECRET}}}}),
        encoding="utf-8",
    )
    args = [a for a in LAUNCH_ARGS if not a.startswith(("--disable-extensions-except=", "--load-extension="))]
    args += [f"--disable-extensions-except={extension_copy}", f"--load-extension={extension_copy}"]
    async with async_playwright() as p:
        ctx = await p.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=CHROMIUM, headless=True, args=args
        )
        try:
            sw = ctx.service_workers[0] if ctx.service_workers else await ctx.wait_for_event("serviceworker")
            assert sw.url.split("/")[2] == policy["id"], "the id computed for the copy is the one Chromium gave it"
            managed = await sw.evaluate("chrome.storage.managed.get(null)")
            assert managed == {"daemonPort": d.port, "pairingSecret": SECRET}

            async def paired() -> list[dict[str, Any]]:
                return list((await d.http.get("/api/v1/clients")).json()["clients"])

            [client] = await await_until(paired, timeout=DEADLINE_S, what="the extension to pair itself")
            assert client["origin"] == f"chrome-extension://{policy['id']}"

            page = await ctx.new_page()
            await page.goto(f"http://127.0.0.1:{psa_port}/ticket?id=4711")

            async def timer() -> list[dict[str, Any]]:
                timers = (await d.http.get("/api/v1/timers")).json()["timers"]
                return [t for t in timers if (t.get("ticket") or {}).get("id") == 4711]

            [t] = await await_until(timer, timeout=DEADLINE_S, what="a timer for the PSA tab the browser shows")
            assert t["state"] == "running"
            assert not [p for p in ctx.pages if p.url.endswith("/options.html")], "a managed install opens no page"
            popup = await ctx.new_page()
            await popup.goto(f"chrome-extension://{policy['id']}/popup.html")
            await popup.wait_for_selector("#status[data-state='connected']", timeout=DEADLINE_S * 1000)
            options = await ctx.new_page()
            await options.goto(f"chrome-extension://{policy['id']}/options.html")
            await options.wait_for_selector("body[data-rendered='1']")
            assert await options.is_disabled("#port")
            ARTIFACTS.mkdir(exist_ok=True)
            await popup.screenshot(path=str(ARTIFACTS / "popup-managed.png"))
            await options.screenshot(path=str(ARTIFACTS / "options-managed.png"), full_page=True)
        finally:
            await ctx.close()
