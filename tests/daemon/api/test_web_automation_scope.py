"""Who may use the automation and rules routes from the web pages (the Automations page): a session minted with the
CLI token may do everything the CLI may; a session minted by the extension may read the settings, the runs and the
rules and dry-run a rule, but not change them (the extension could mint such a session itself); the paired extension
itself gets 403 on all of them. Real daemon on a loopback port, real cookies."""

from __future__ import annotations

from typing import Any

import httpx

from daemon.clock import FakeClock
from tests.daemon.api.test_web_sessions import browser, sign_in
from tests.support import RunningDaemon, assert_api_error

CONFIG = """
[[instances]]
name = "cw"
kind = "connectwise"
origins = ["https://na.myconnectwise.net"]

[[automations]]
name = "Patch servers"
minutes = 15
"""

SETTINGS = {"automations": [{"name": "Patch servers", "minutes": 20, "enabled": False}]}
RULES: dict[str, Any] = {"rounding": {"increment_s": 600}}


async def extension_token(d: RunningDaemon) -> str:
    code = (await d.http.post("/api/v1/pair/codes")).json()["code"]
    pair = await d.http.post("/api/v1/pair", json={"code": code}, headers={"Authorization": ""})
    return str(pair.json()["token"])


def run(fake_clock: FakeClock, run_id: str) -> dict[str, Any]:
    now = fake_clock.now()
    return {
        "automation": "Patch servers",
        "run_id": run_id,
        "ticket": 48211,
        "started_at": now - 600,
        "finished_at": now - 60,
    }


async def changes(b: httpx.AsyncClient, d: RunningDaemon, fake_clock: FakeClock, tag: str) -> list[httpx.Response]:
    own = {"Origin": d.base_url}
    return [
        await b.put("/api/v1/automations", json=SETTINGS, headers=own),
        await b.post("/api/v1/automation-runs", json=run(fake_clock, tag), headers=own),  # disabled: skipped
        await b.delete("/api/v1/automations", headers=own),
        await b.put("/api/v1/rules", json=RULES, headers=own),
        await b.delete("/api/v1/rules", headers=own),
    ]


async def reads(b: httpx.AsyncClient, d: RunningDaemon) -> list[httpx.Response]:
    return [
        await b.get("/api/v1/automations"),
        await b.get("/api/v1/automation-runs"),
        await b.get("/api/v1/rules"),
        await b.post("/api/v1/rules/explain", json={"seconds": 420}, headers={"Origin": d.base_url}),
    ]


async def test_an_extension_minted_session_reads_but_does_not_change_and_changes_nothing(
    tc: RunningDaemon, fake_clock: FakeClock
) -> None:
    token = await extension_token(tc)
    before = ((await tc.http.get("/api/v1/automations")).json(), (await tc.http.get("/api/v1/rules")).json())
    async with browser(tc) as b:
        assert (await sign_in(tc, b, token)).status_code == 303
        assert (await b.get("/api/v1/web/me")).json()["scope"] == "web"
        for r in await reads(b, tc):
            assert r.status_code == 200, (r.request.method, r.request.url.path, r.text)
        for r in await changes(b, tc, fake_clock, "ext-session"):
            assert_api_error(r, 403, "cli_only")
    after = ((await tc.http.get("/api/v1/automations")).json(), (await tc.http.get("/api/v1/rules")).json())
    assert after == before
    assert (await tc.http.get("/api/v1/automation-runs")).json()["runs"] == []


async def test_a_session_minted_with_the_cli_token_may_change_them(tc: RunningDaemon, fake_clock: FakeClock) -> None:
    async with browser(tc) as b:
        assert (await sign_in(tc, b)).status_code == 303
        assert (await b.get("/api/v1/web/me")).json()["scope"] == "full"
        for r in await reads(b, tc):
            assert r.status_code == 200, (r.request.method, r.request.url.path, r.text)
        put, posted, reset, rules, rules_reset = await changes(b, tc, fake_clock, "full-session")
        assert put.status_code == 200 and put.json()["source"] == "stored", put.text
        assert reset.status_code == 200 and reset.json()["source"] == "config", reset.text
        assert posted.status_code == 201 and posted.json()["status"] == "skipped", posted.text
        assert rules.status_code == 200 and rules.json()["rules"]["rounding"]["increment_s"] == 600, rules.text
        assert rules_reset.status_code == 200 and rules_reset.json()["source"] == "config", rules_reset.text
    runs = (await tc.http.get("/api/v1/automation-runs")).json()["runs"]
    assert [r["run_id"] for r in runs] == ["full-session"]


async def test_the_paired_extension_itself_gets_403_on_every_automation_and_rules_route(
    tc: RunningDaemon, fake_clock: FakeClock
) -> None:
    token = await extension_token(tc)
    async with httpx.AsyncClient(base_url=tc.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=10) as ext:
        for r in [*await reads(ext, tc), *await changes(ext, tc, fake_clock, "extension")]:
            assert_api_error(r, 403, "cli_only")
    assert (await tc.http.get("/api/v1/automation-runs")).json()["runs"] == []
