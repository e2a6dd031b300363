"""The web UI's Automations page end to end: the real daemon (create_app on a loopback port) posting to the
ConnectWise sandbox, the real extension in a headless Chromium (the shared fixtures of test_web_ui.py), and the page
driven as a person would. A setting refused by the daemon shows its message beside the field and changes nothing;
runs posted through the API are listed with what became of them (logged → a link to the entry, skipped and why,
failed with the PSA's message); the rules editor refuses a bad rule set naming the field and saves a good one; the
explain view shows each decision and the rule behind it. A session minted by the extension sees it all read-only.
Screenshots: artifacts/web-automations.png and artifacts/web-automations-800.png; axe-core clean."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from tests.daemon.test_outbox import config_text, start_sandbox
from tests.e2e.test_real_daemon import pair
from tests.e2e.test_web_ui import check_page, settle, shared_browser, sign_in_from_the_popup
from tests.support import RunningDaemon, await_until, make_settings, start_daemon

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]

__all__ = ["shared_browser"]  # the module-scoped browser fixture, used here by name

CONFIG = """
[[automations]]
name = "Patch servers"
minutes = 15

[[automations]]
name = "Nightly backup"
enabled = false
"""


@pytest_asyncio.fixture(loop_scope="module")
async def web(tmp_path: Path, shared_browser: tuple[Any, Any]) -> AsyncIterator[dict[str, Any]]:
    """A daemon with two automations posting to the ConnectWise sandbox, and the shared browser's extension paired
    with it."""
    sb = await start_sandbox("connectwise")
    d = await start_daemon(make_settings(tmp_path / "daemon", config_text=config_text([sb]) + CONFIG))
    ctx, sw = shared_browser
    try:
        connect = await d.http.put(f"/api/v1/psa/{sb.name}/credentials", json={"credentials": sb.credentials})
        assert connect.status_code == 200, connect.text
        await pair(sw, d)
        yield {"d": d, "sb": sb, "ctx": ctx, "sw": sw, "ext_id": sw.url.split("/")[2]}
    finally:
        for page in list(ctx.pages):
            await page.close()
        await ctx.clear_cookies()
        await d.stop()
        await sb.runner.cleanup()


async def open_signed_in_with_the_cli_token(web: dict[str, Any]) -> Any:
    """What `ticketclock open` does: a sign-in link minted with the CLI token (a full session)."""
    d: RunningDaemon = web["d"]
    url = (await d.http.post("/api/v1/web/login-code", json={"next": "/automations"})).json()["url"]
    page = await web["ctx"].new_page()
    await page.goto(url)
    await page.wait_for_url(f"{d.base_url}/automations")
    await settle(page)
    return page


async def post_run(d: RunningDaemon, sb: Any, automation: str, **extra: Any) -> dict[str, Any]:
    end = time.time() - 300
    body = {
        "automation": automation,
        "instance": sb.name,
        "ticket": sb.module.SEED.service_ticket,
        "run_id": uuid.uuid4().hex,
        "started_by": "jdoe",
        "started_at": end - 240,
        "finished_at": end,
        "outcome": "success",
        "notes": "patched 4 servers",
        **extra,
    }
    r = await d.http.post("/api/v1/automation-runs", json=body)
    assert r.status_code == 201, r.text
    run: dict[str, Any] = r.json()
    return run


async def test_settings_refused_beside_the_field_runs_listed_rules_saved_and_explained(web: dict[str, Any]) -> None:
    d: RunningDaemon = web["d"]
    sb = web["sb"]
    page = await open_signed_in_with_the_cli_token(web)
    assert await page.get_attribute("nav a[data-page='automations']", "aria-current") == "page"
    assert await page.locator(".notice:has-text('Read-only')").count() == 0
    before = (await d.http.get("/api/v1/automations")).json()
    assert before["source"] == "config"

    # a setting the daemon refuses: its message beside the field, the field marked, and nothing changes
    await page.click("button[aria-label='Edit Patch servers']")
    await page.fill("#auto-minutes", "2000")
    await page.click("form.automation-edit button[type=submit]")
    await page.wait_for_selector("#auto-minutes-err:not(:empty)")
    assert "1440" in await page.text_content("#auto-minutes-err")
    assert await page.get_attribute("#auto-minutes", "aria-invalid") == "true"
    assert await page.evaluate("document.activeElement.id") == "auto-minutes"
    assert (await d.http.get("/api/v1/automations")).json() == before
    await check_page(page, "automations-refused")
    # a notes template naming an unknown placeholder: beside the notes
    await page.fill("#auto-minutes", "20")
    await page.fill("#auto-notes", "{automation} on {client}")
    await page.click("form.automation-edit button[type=submit]")
    await page.wait_for_selector("#auto-notes-err:not(:empty)")
    notes_err = await page.text_content("#auto-notes-err")
    assert "{client}" in notes_err and not notes_err.startswith("automations[")  # beside the field: no path
    assert await page.text_content("#auto-minutes-err") == ""
    assert (await d.http.get("/api/v1/automations")).json() == before

    # fixed, with the work type picked from the PSA's own list: saved
    await page.fill("#auto-notes", "{automation}: {outcome} ({notes})")
    options = await page.eval_on_selector_all(
        "#auto-work_type option", "os => os.map(o => o.value).filter(v => v !== '')"
    )
    assert options, "the work types come from the PSA"
    await page.select_option("#auto-work_type", options[0])
    await page.select_option("#auto-log_as", "user")
    await page.fill("#auto-log_user", "jdoe")
    await page.click("form.automation-edit button[type=submit]")
    await page.wait_for_selector("#flash:has-text('Saved Patch servers')")
    saved = (await d.http.get("/api/v1/automations")).json()
    patch = next(a for a in saved["automations"] if a["name"] == "Patch servers")
    assert saved["source"] == "stored"
    assert (patch["minutes"], patch["work_type"], patch["log_as"]) == (20, options[0], "user:jdoe")
    await page.wait_for_selector("#automation-list tr[data-name='Patch servers'] td:has-text('20 min')")

    # runs posted by a script through the API: logged (a link to its entry), skipped (why), failed (the PSA's word)
    logged = await post_run(d, sb, "Patch servers")
    skipped = await post_run(d, sb, "Nightly backup")
    failed = await post_run(d, sb, "Patch servers", ticket=99_999)
    assert (logged["status"], skipped["status"], failed["status"]) == ("logged", "skipped", "failed")
    await page.click("#runs-refresh")
    logged_row = f"#run-list tr[data-run='{logged['run_id']}']"
    await page.wait_for_selector(logged_row)
    assert await page.get_attribute(f"tr[data-run='{skipped['run_id']}']", "data-status") == "skipped"
    assert "disabled" in await page.text_content(f"tr[data-run='{skipped['run_id']}'] td.outcome")
    failed_text = await page.text_content(f"tr[data-run='{failed['run_id']}'] td.outcome .error")
    assert failed_text == failed["reason"] and failed_text
    # the listed runs as the page shows them, in the order the API gives them
    listed = await page.eval_on_selector_all("#run-list tbody tr", "rs => rs.map(r => r.dataset.run)")
    assert listed == [r["run_id"] for r in (await d.http.get("/api/v1/automation-runs?limit=50")).json()["runs"]]

    await check_page(page, "automations")

    # the logged run's link opens its entry (with its audit trail), from automation "Patch servers"
    await page.click(f"{logged_row} td.outcome a")
    await page.wait_for_url(f"{d.base_url}/automations?entry={logged['entry_id']}")
    await settle(page)
    await page.wait_for_selector("#entry p.muted:has-text('from automation Patch servers')")
    # queued or posted by now: shown read-only, with the reason and its audit trail
    assert await page.locator("#entry .entry-view").count() == 1
    assert await page.locator("#entry form.entry-edit").count() == 0

    # rules: a bad rule set is refused naming the field (the rules in force stay); a good one is saved
    rules_before = (await d.http.get("/api/v1/rules")).json()
    await page.fill("#rules-json", '{"rounding": {"increment_s": 900, "direction": "sideways"}}')
    await page.click("#rules-save")
    await page.wait_for_selector("#rules-err:not(:empty)")
    assert "rounding.direction" in await page.text_content("#rules-err")
    assert await page.get_attribute("#rules-json", "aria-invalid") == "true"
    assert (await d.http.get("/api/v1/rules")).json() == rules_before
    await page.fill("#rules-json", '{"rounding": {"increment_s": 900, "direction": "up"')
    await page.click("#rules-save")
    await page.wait_for_selector("#rules-err:has-text('Not valid JSON')")
    assert (await d.http.get("/api/v1/rules")).json() == rules_before
    await page.fill("#rules-json", '{"rounding": {"increment_s": 900, "direction": "up"}}')
    await page.click("#rules-save")
    await page.wait_for_selector("#flash:has-text('Rules saved')")
    rules = (await d.http.get("/api/v1/rules")).json()
    assert rules["source"] == "stored" and rules["rules"]["rounding"]["increment_s"] == 900

    # explain: 7 minutes for Patch servers → the decisions, each with the rule that made it
    await page.fill("#x-minutes", "7")
    await page.select_option("#x-automation", "Patch servers")
    await page.click("form[aria-label='Explain'] button[type=submit]")
    await page.wait_for_selector("#decisions tr[data-setting='rounding.increment_s']")
    row = "#decisions tr[data-setting='rounding.increment_s']"
    assert await page.text_content(f"{row} td:nth-of-type(1)") == "900"
    assert await page.text_content(f"{row} td:nth-of-type(2)") == "global"
    assert "Billed 0:15 of 0:07" in await page.text_content(".explain-summary")
    await check_page(page, "automations-explain")

    # both saved sets given back to the config file, each after a confirmation
    page.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
    for what, path in (("rules", "/api/v1/rules"), ("settings", "/api/v1/automations")):
        await page.click(f'button:has-text("Use the config file\'s {what}")')
        await page.wait_for_selector("#flash:has-text('reset to the config file')")
        assert (await d.http.get(path)).json()["source"] == "config"


async def test_a_session_minted_by_the_extension_shows_the_page_read_only(web: dict[str, Any]) -> None:
    d: RunningDaemon = web["d"]
    page = await sign_in_from_the_popup(web)
    await page.click("nav a[data-page='automations']")
    await page.wait_for_url(f"{d.base_url}/automations")
    await settle(page)
    await page.wait_for_selector(".notice:has-text('Read-only')")
    assert await page.locator("#rules-save").count() == 0
    assert await page.get_attribute("#rules-json", "readonly") is not None
    await page.click("button[aria-label='View Patch servers']")
    assert await page.locator("form.automation-edit button[type=submit]").count() == 0
    assert await page.is_disabled("#auto-minutes")
    # it can still read the runs and dry-run a rule
    await page.click("form[aria-label='Explain'] button[type=submit]")
    await page.wait_for_selector("#decisions tbody tr")
    await await_until(lambda: page.is_visible("#run-list, #runs p.muted"))
    await check_page(page, "automations-readonly")
