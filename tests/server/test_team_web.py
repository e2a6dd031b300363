"""The team server's web pages in a real headless Chromium (Debian's), driven as people would, keyboard first: a
level-1 and a level-2 approver approve and reject, a level-2 approver closes the period, the technician sees the
rejection and its comment. Every page state is screenshotted to artifacts/team-*.png and checked with axe-core
(node_modules/axe-core): no serious or critical violation. One browser serves the module; each person has their own
browser context (their own cookie jar)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import pytest_asyncio

from daemon.server.auth import hash_password
from daemon.server.model import Team
from tests.e2e.conftest import ARTIFACTS, CHROMIUM, _require_chromium
from tests.e2e.test_web_ui import axe_violations
from tests.server.pg import Cluster
from tests.server.support import RunningServer, seed_entry, seed_person, seed_team, start_server

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]

PW = "correct horse battery"
MON = 1795424400.0
"""Monday 2026-11-23 09:00 UTC: the seeded week (the pages are asked for it by date, so today does not matter)."""
DAY = 86400.0


@dataclass
class Site:
    server: RunningServer
    desk: Team


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def site(pg: Cluster) -> AsyncIterator[Site]:
    """A team server on its own database: team Desk (two levels) with technicians Ann and Bob, Lead (level 1, also
    a technician) and Billing (level 2); Ann's and Bob's submitted entries of the week of 23 November."""
    server = await start_server(pg.new_database())
    s = server.services
    hashed = hash_password(PW)
    desk = await seed_team(s, "Desk", "two")
    ann = await seed_person(s, "ann@example.com", name="Ann Archer", team=desk, password_hash=hashed)
    bob = await seed_person(s, "bob@example.com", name="Bob Baker", team=desk, password_hash=hashed)
    lead = await seed_person(
        s, "lead@example.com", name="Lee Lead", team=desk, roles=("technician", "approver1"), password_hash=hashed
    )
    await seed_person(
        s, "billing@example.com", name="Bea Billing", team=desk, roles=("approver2",), password_hash=hashed
    )
    for entry_id, person, at, seconds, company in [
        ("ann-1", ann, MON, 3600, "Acme"),
        ("ann-2", ann, MON + DAY, 1800, "Beta"),
        ("bob-1", bob, MON + 600, 2700, "Acme"),
        ("bob-2", bob, MON + 2 * DAY, 5400, "Gamma"),
        ("lead-1", lead, MON + 900, 600, "Acme"),
    ]:
        notes = f"Work on {company}"
        assert await seed_entry(s, desk, person, entry_id, started_at=at, seconds=seconds, company=company, notes=notes)
    try:
        yield Site(server, desk)
    finally:
        await server.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def chromium() -> AsyncIterator[Any]:
    _require_chromium()
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu", "--no-first-run"]
        )
        try:
            yield browser
        finally:
            await browser.close()


async def settle(page: Any) -> None:
    await page.wait_for_selector("body[data-rendered='1']")


async def check(page: Any, name: str) -> None:
    """Screenshot at 1280 and at 800 px wide; no serious or critical axe-core violation."""
    ARTIFACTS.mkdir(exist_ok=True)
    await page.set_viewport_size({"width": 1280, "height": 800})
    await page.screenshot(path=str(ARTIFACTS / f"team-{name}.png"), full_page=True)
    await page.set_viewport_size({"width": 800, "height": 800})
    await page.screenshot(path=str(ARTIFACTS / f"team-{name}-800.png"), full_page=True)
    await page.set_viewport_size({"width": 1280, "height": 800})
    assert await axe_violations(page) == [], name


async def sign_in(chromium: Any, site: Site, email: str, path: str = "/") -> tuple[Any, Any]:
    """A new browser context (its own cookies), signed in on the sign-in page by keyboard; lands on `path`."""
    context = await chromium.new_context()
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # a refused request is logged by the browser itself (the 401 before sign-in, the 404 of an absent OIDC route)
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" and "status of 40" not in msg.text
            else None)  # fmt: skip
    await page.goto(site.server.url + path)
    await page.wait_for_selector("form.signin")
    await page.keyboard.type(email)  # the e-mail field has the focus
    await page.keyboard.press("Tab")
    await page.keyboard.type(PW)
    await page.keyboard.press("Enter")
    await page.wait_for_selector("#signout:not([hidden])")
    await settle(page)
    page.errors = errors  # checked by the tests: no script error on any page
    return context, page


async def rows_of(page: Any, table: str = "table.list tbody tr") -> list[str]:
    found: list[str] = await page.eval_on_selector_all(table, "rows => rows.map(r => r.dataset.id)")
    return found


async def test_the_sign_in_page_password_only_while_the_server_has_no_oidc(chromium: Any, site: Site) -> None:
    context = await chromium.new_context()
    page = await context.new_page()
    await page.goto(site.server.url + "/approvals")
    await page.wait_for_selector("form.signin")
    await settle(page)
    assert await page.locator("#oidc").count() == 0  # GET /api/team/v1/auth-methods does not answer 200 here
    assert await page.inner_text("main") == "Sign in\nE-mail\nPassword\nSign in"  # nothing stray (no "null")
    await check(page, "signin")
    await page.fill("#email", "lead@example.com")
    await page.fill("#password", "wrong password")
    await page.keyboard.press("Enter")
    await page.wait_for_selector("#signin-err:not(:empty)")
    assert await page.inner_text("#signin-err") == "That e-mail and password do not match an active account"
    await check(page, "signin-refused")
    async with httpx.AsyncClient() as client:
        shell = await client.get(site.server.url + "/")
    csp = shell.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "connect-src 'self'" in csp and "default-src 'none'" in csp
    await context.close()


async def test_two_levels_approve_and_reject_in_the_browser_and_the_technician_sees_why(
    chromium: Any, site: Site
) -> None:
    # level 1: Lee's queue has Ann's and Bob's entries, never his own
    context, page = await sign_in(chromium, site, "lead@example.com")
    assert await page.get_attribute("body", "data-page") == "approvals"
    assert await rows_of(page) == ["ann-1", "bob-1", "ann-2", "bob-2"]
    await check(page, "approvals-l1")
    # select by keyboard: Space on the first, Shift+Down takes the next one too
    await page.focus("tbody tr:first-child input[type=checkbox]")
    await page.keyboard.press("Space")
    await page.keyboard.press("Shift+ArrowDown")
    assert await page.inner_text("#selected-count") == "2 of 4 selected"
    await check(page, "approvals-l1-selected")
    await page.click("#approve")
    await page.wait_for_selector("#flash:has-text('Approved 2 entries')")
    await settle(page)
    assert await rows_of(page) == ["ann-2", "bob-2"]
    # rejecting needs a comment: without one nothing is sent
    await page.focus("tbody tr:first-child input[type=checkbox]")
    await page.keyboard.press("Space")
    await page.click("#reject")
    await page.wait_for_selector("#approve-err:not(:empty)")
    assert await page.get_attribute("#reject-comment", "aria-invalid") == "true"
    assert await rows_of(page) == ["ann-2", "bob-2"]
    await check(page, "approvals-l1-comment-needed")
    await page.fill("#reject-comment", "Split this into the two tickets you worked on")
    await page.click("#reject")
    await page.wait_for_selector("#flash:has-text('Rejected 1 entry')")
    assert await rows_of(page) == ["bob-2"]
    assert page.errors == []
    await context.close()

    # level 2: Bea approves Ann's and rejects Bob's
    context, page = await sign_in(chromium, site, "billing@example.com")
    await page.wait_for_selector("a[aria-current='page']:has-text('Level 2')")
    assert await rows_of(page) == ["ann-1", "bob-1"]
    await check(page, "approvals-l2")
    await page.focus("tbody tr:first-child input[type=checkbox]")
    await page.keyboard.press("Space")
    await page.click("#approve")
    await page.wait_for_selector("#flash:has-text('Approved 1 entry')")
    assert await rows_of(page) == ["bob-1"]
    await page.focus("tbody tr:first-child input[type=checkbox]")
    await page.keyboard.press("a")  # A selects all
    await page.fill("#reject-comment", "Acme is billed by the project, not the agreement")
    await page.click("#reject")
    await page.wait_for_selector("#flash:has-text('Rejected 1 entry')")
    await page.wait_for_selector("#queue-empty")
    await check(page, "approvals-l2-empty")

    # the team timesheet of that week, and its close by the level-2 approver
    await page.click("nav a[data-page='timesheet']")
    await settle(page)
    await page.goto(f"{site.server.url}/timesheet?team={site.desk.id}&period=2026-11-23")
    await settle(page)
    names = await page.eval_on_selector_all("table.team-sheet tbody th", "cells => cells.map(c => c.textContent)")
    assert names == ["Ann Archer", "Bob Baker", "Lee Lead"]
    assert await page.inner_text("table.team-sheet tfoot td.total") == "3:55"  # 3600+1800+2700+5400+600 s
    await check(page, "timesheet")
    await page.click("#close-period")
    await page.wait_for_selector("#flash:has-text('Closed the period')")
    assert await page.inner_text("#period-state") == "Closed: read-only"
    await check(page, "timesheet-closed")
    await page.click("#reopen-period")
    await page.wait_for_selector("#flash:has-text('Reopened the period')")

    # the team summary, by technician then by status
    await page.goto(f"{site.server.url}/summary?team={site.desk.id}&from=2026-11-23&to=2026-11-29")
    await settle(page)
    assert await page.inner_text("#summary-total") == "3:55"
    await check(page, "summary")
    await page.select_option("#s-group", "status")
    await page.click("form.filters button[type=submit]")
    await page.wait_for_selector("#summary-table tbody tr[data-key='rejected']")
    await check(page, "summary-status")
    assert page.errors == []
    await context.close()

    # Bob sees the rejection of his time and why, with who decided in the history
    context, page = await sign_in(chromium, site, "bob@example.com")
    assert await page.get_attribute("body", "data-page") == "time"
    assert await page.locator("nav a").count() == 1  # a technician has only their own time
    assert await rows_of(page, "#my-time tbody tr[data-id]") == ["bob-2", "bob-1"]
    rejected = await page.inner_text("#my-time tr[data-id='bob-1'] td.status-rejected")
    assert "Acme is billed by the project, not the agreement" in rejected
    await page.click("#my-time tr[data-id='bob-1'] button")
    await page.wait_for_selector("#my-time ol.audit li:nth-child(3)")
    history = await page.inner_text("#my-time ol.audit")
    assert "Lee Lead: approved at level 1" in history and "Bea Billing: rejected at level 2" in history
    await check(page, "my-time")
    await page.goto(site.server.url + "/approvals")  # not his page: he lands on his own time
    await settle(page)
    assert await page.get_attribute("body", "data-page") == "time"
    await page.click("#signout")
    await page.wait_for_selector("form.signin")
    assert await page.inner_text("#signin-reason") == "Signed out."
    await check(page, "signed-out")
    assert page.errors == []
    await context.close()
