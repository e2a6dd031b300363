"""The rules API through the real daemon on loopback: GET/PUT /api/v1/rules (a refused PUT changes nothing; a
valid one survives a restart), POST /api/v1/rules/explain (the same notes a created entry records), and the
ConnectWise work types fetched from its sandbox, which then bound what a rule may name."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from aiohttp import web

from daemon.clock import FakeClock, SystemClock
from daemon.sandbox.autotask import SEED as AT_SEED
from daemon.sandbox.autotask import create_app as autotask_sandbox
from daemon.sandbox.autotask import demo_instance as autotask_instance
from daemon.sandbox.connectwise import SEED
from daemon.sandbox.connectwise.app import create_app as cw_sandbox
from daemon.sandbox.connectwise.app import demo_instance
from daemon.services import SERVICES
from tests.support import RunningDaemon, assert_api_error, await_until, make_settings, start_daemon

CW = "connectwise-sandbox"

RULES = """
[rounding]
increment_s = 360

[rules]
min_seconds = 60

[[rules.scoped]]
name = "ConnectWise desk"
match = { instance = "connectwise-sandbox" }
rounding = { increment_s = 900, minimum_billed_s = 1800 }
work_type = "Remote Support"
note_template = "Ticket {ticket} on {instance}: {duration}"

[[rules.scoped]]
match = { tag = "managed" }
billable_default = "no"

[[companies]]
name = "Contoso"
tags = ["managed"]
"""


@pytest.fixture
async def sandbox_url() -> AsyncIterator[str]:
    runner = web.AppRunner(cw_sandbox(clock=SystemClock()), access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


def config_text(sandbox_url: str) -> str:
    instance, _ = demo_instance(sandbox_url)
    return (
        'approval = "one"\ncredentials = "file"\ntimezone = "UTC"\n'
        + RULES
        + f'\n[[instances]]\nname = "{instance.name}"\nkind = "connectwise"\norigins = ["{sandbox_url}"]\n'
        + f'api_url = "{sandbox_url}"\noptions = {{ member = "{instance.options["member"]}" }}\n'
        + '\n[[instances]]\nname = "halo"\nkind = "halopsa"\norigins = ["https://acme.halopsa.com"]\n'
    )


@pytest.fixture
async def daemon(sandbox_url: str, tmp_path: Path) -> AsyncIterator[RunningDaemon]:
    running = await start_daemon(make_settings(tmp_path, config_text=config_text(sandbox_url)))
    try:
        yield running
    finally:
        await running.stop()


async def get_rules(d: RunningDaemon) -> dict[str, Any]:
    response = await d.http.get("/api/v1/rules")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def explain(d: RunningDaemon, body: dict[str, Any]) -> dict[str, Any]:
    response = await d.http.post("/api/v1/rules/explain", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def test_get_shows_the_config_files_rules_and_the_base(daemon: RunningDaemon) -> None:
    body = await get_rules(daemon)
    assert body["source"] == "config"
    assert body["updated_at"] is None
    assert body["rules"]["min_seconds"] == 60
    assert body["rules"]["scoped"][0]["match"] == {"instance": CW}
    assert body["rules"]["scoped"][0]["rounding"] == {"increment_s": 900, "minimum_billed_s": 1800}
    assert body["base"]["rounding.increment_s"] == 360
    assert body["base"]["min_seconds"] == 60


async def test_explain_names_the_rule_behind_each_decision(daemon: RunningDaemon) -> None:
    result = await explain(daemon, {"seconds": 901, "instance": CW, "company": "contoso", "ticket": "48211"})
    assert result["billed_seconds"] == 1800
    assert result["billable"] == "no"
    assert result["work_type"] == "Remote Support"
    assert result["notes"] == f"Ticket 48211 on {CW}: 30m"
    assert result["context"]["tags"] == ["managed"]
    decisions = {d["setting"]: (d["value"], d["source"]) for d in result["decisions"]}
    desk = f"rule 'ConnectWise desk' (instance '{CW}')"
    assert decisions["rounding.increment_s"] == (900, desk)
    assert decisions["rounding.direction"] == ("up", "config")
    assert decisions["min_seconds"] == (60, "global")
    assert decisions["billable_default"] == ("no", "tag 'managed'")
    assert [(n["rule"], n["source"]) for n in result["explanation"]] == [
        ("minimum", "global"),
        ("rounding", f"{desk}; config"),
        ("minimum_billed", desk),
        ("billable", "tag 'managed'"),
        ("work_type", desk),
        ("notes", desk),
    ]


async def test_explain_equals_what_a_created_entry_records(daemon: RunningDaemon) -> None:
    now = daemon.clock.now()
    body = {"instance": CW, "ticket": str(SEED.service_ticket), "started_at": now - 2000, "seconds": 901}
    response = await daemon.http.post("/api/v1/entries", json=body)
    assert response.status_code == 201, response.text
    entry = response.json()
    result = await explain(daemon, {"seconds": 901, "instance": CW, "ticket": str(SEED.service_ticket)})
    assert entry["explanation"] == result["explanation"]
    assert (entry["billed_seconds"], entry["billable"], entry["work_type"], entry["notes"]) == (
        result["billed_seconds"],
        result["billable"],
        result["work_type"],
        result["notes"],
    )
    assert entry["notes"] == f"Ticket {SEED.service_ticket} on {CW}: 30m"

    # an edit of its time goes through the same rules (the entry's own work type and notes now stand)
    edited = await daemon.http.patch(f"/api/v1/entries/{entry['id']}", json={"ended_at": now - 2000 + 2000})
    assert edited.status_code == 200, edited.text
    again = edited.json()
    assert again["billed_seconds"] == 2700
    rounding = next(n for n in again["explanation"] if n["rule"] == "rounding")
    assert rounding["source"] == f"rule 'ConnectWise desk' (instance '{CW}'); config"


async def test_a_refused_put_names_the_field_and_changes_nothing(daemon: RunningDaemon) -> None:
    before = await get_rules(daemon)
    bad = {
        "min_seconds": 30,
        "scoped": [{"match": {"instance": CW}, "rounding": {"increment_s": 600, "direction": "sideways"}}],
    }
    response = await daemon.http.put("/api/v1/rules", json=bad)
    error = assert_api_error(response, 400, "invalid_rules")
    assert error["details"] == {"field": "scoped[0].rounding.direction"}
    assert "scoped[0].rounding.direction" in error["message"]
    for body, field in [
        ({"scoped": [{"match": {"instance": "nope"}}]}, "scoped[0].match.instance"),
        ({"note_template": "{tikcet}"}, "note_template"),
        ({"min_seconds": 30, "colour": "red"}, "colour"),
        ([1, 2], ""),
    ]:
        response = await daemon.http.put("/api/v1/rules", json=body)
        assert assert_api_error(response, 400, "invalid_rules")["details"] == {"field": field}
    assert await get_rules(daemon) == before
    stored = await daemon.app[SERVICES].db.scalar("SELECT count(*) FROM rules")
    assert stored == 0
    result = await explain(daemon, {"seconds": 45, "instance": CW})
    assert result["void_reason"] == "too_short"  # min_seconds 60 still in force, not 30


async def test_a_put_is_in_force_at_once_and_after_a_restart(sandbox_url: str, tmp_path: Path) -> None:
    new = {"min_seconds": 30, "scoped": [{"match": {"company": "Contoso"}, "rounding": {"increment_s": 600}}]}
    first = await start_daemon(make_settings(tmp_path, config_text=config_text(sandbox_url)))
    try:
        response = await first.http.put("/api/v1/rules", json=new)
        assert response.status_code == 200, response.text
        assert response.json()["source"] == "stored"
        result = await explain(first, {"seconds": 45, "instance": CW, "company": "Contoso"})
        assert (result["void_reason"], result["billed_seconds"]) == (None, 600)
        assert result["work_type"] == ""  # the config file's scoped rules are no longer in force
    finally:
        await first.stop()
    again = await start_daemon(first.settings)
    try:
        body = await get_rules(again)
        assert body["source"] == "stored"
        assert body["rules"] == new
        result = await explain(again, {"seconds": 45, "instance": CW, "company": "Contoso"})
        assert result["billed_seconds"] == 600

        response = await again.http.delete("/api/v1/rules")  # back to the config file's rules
        assert response.status_code == 200, response.text
        assert (response.json()["source"], response.json()["updated_at"]) == ("config", None)
        body = await get_rules(again)
        assert (body["source"], body["rules"]["min_seconds"]) == ("config", 60)
        result = await explain(again, {"seconds": 45, "instance": CW, "company": "Contoso"})
        assert result["void_reason"] == "too_short"
    finally:
        await again.stop()
    last = await start_daemon(first.settings)
    try:
        assert (await get_rules(last))["source"] == "config"
    finally:
        await last.stop()


async def test_work_types_come_from_the_psa_and_bound_the_rules(daemon: RunningDaemon, sandbox_url: str) -> None:
    _, credentials = demo_instance(sandbox_url)
    response = await daemon.http.put(
        f"/api/v1/psa/{CW}/credentials", json={"credentials": msgspec.to_builtins(credentials)}
    )
    assert response.status_code == 200, response.text
    # before the list is known, any name is taken
    typo = {"scoped": [{"match": {"instance": CW}, "work_type": "Remote Suport"}]}
    response = await daemon.http.put("/api/v1/rules", json=typo)
    assert response.status_code == 200, response.text

    response = await daemon.http.get(f"/api/v1/psa/{CW}/work-types")
    assert response.status_code == 200, response.text
    listed = response.json()
    assert [w["value"] for w in listed["work_types"]] == ["Remote Support", "Onsite", "Admin"]
    assert [r["name"] for r in listed["roles"]] == ["Technician", "Engineer", "Project Manager"]

    response = await daemon.http.put("/api/v1/rules", json={**typo, "min_seconds": 10})
    error = assert_api_error(response, 400, "invalid_rules")
    assert error["details"] == {"field": "scoped[0].work_type"}
    assert (await get_rules(daemon))["rules"] == typo  # the previous rules stay in force
    fixed = {"scoped": [{"match": {"instance": CW}, "work_type": "Onsite"}]}
    response = await daemon.http.put("/api/v1/rules", json=fixed)
    assert response.status_code == 200, response.text


async def test_work_types_of_a_psa_without_the_call(daemon: RunningDaemon) -> None:
    assert_api_error(await daemon.http.get("/api/v1/psa/halo/work-types"), 409, "not_supported")
    assert_api_error(await daemon.http.get("/api/v1/psa/nope/work-types"), 404, "not_found")
    assert_api_error(await daemon.http.get(f"/api/v1/psa/{CW}/work-types"), 409, "no_credentials")


async def test_explain_refuses_bad_input(daemon: RunningDaemon) -> None:
    assert_api_error(await daemon.http.post("/api/v1/rules/explain", json={"seconds": -1}), 422, "invalid_input")
    response = await daemon.http.post("/api/v1/rules/explain", json={"seconds": 60, "custmer": "x"})
    assert_api_error(response, 422, "invalid_input")
    cut = json.dumps({"seconds": 60})[:-1]
    response = await daemon.http.post(
        "/api/v1/rules/explain", content=cut, headers={"Content-Type": "application/json"}
    )
    assert_api_error(response, 400, "invalid_json")


@pytest.fixture
async def autotask_url() -> AsyncIterator[str]:
    runner = web.AppRunner(autotask_sandbox(clock=SystemClock()), access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


async def test_autotask_work_types_are_its_active_billing_codes(autotask_url: str, tmp_path: Path) -> None:
    instance, credentials = autotask_instance(autotask_url)
    text = (
        f'credentials = "file"\n[[instances]]\nname = "{instance.name}"\nkind = "autotask"\n'
        f'origins = ["{autotask_url}"]\napi_url = "{autotask_url}"\n'
    )
    d = await start_daemon(make_settings(tmp_path, config_text=text))
    try:
        response = await d.http.put(
            f"/api/v1/psa/{instance.name}/credentials", json={"credentials": msgspec.to_builtins(credentials)}
        )
        assert response.status_code == 200, response.text
        response = await d.http.get(f"/api/v1/psa/{instance.name}/work-types")
        assert response.status_code == 200, response.text
        listed = response.json()
        assert [(w["value"], w["name"]) for w in listed["work_types"]] == [
            ("29682801", "Remote Support"),
            ("29682802", "Onsite Support"),
        ]
        assert "Technician" in [r["name"] for r in listed["roles"]]
        inactive = {"scoped": [{"match": {"instance": instance.name}, "work_type": "29682803"}]}
        response = await d.http.put("/api/v1/rules", json=inactive)
        assert assert_api_error(response, 400, "invalid_rules")["details"] == {"field": "scoped[0].work_type"}
        fine = {"scoped": [{"match": {"instance": instance.name}, "work_type": "29682802"}]}
        assert (await d.http.put("/api/v1/rules", json=fine)).status_code == 200
    finally:
        await d.stop()


async def test_company_tags_mapped_from_the_psa_shape_a_timers_entry(
    autotask_url: str, tmp_path: Path, fake_clock: FakeClock
) -> None:
    """Autotask sandbox: the ticket look-up reads the company's companyType, `[[company_tags.map]]` makes it a tag,
    and the tag's rule shapes the entry the timer becomes (the same notes explain gives)."""
    url = autotask_url
    instance, credentials = autotask_instance(url)
    text = (
        'approval = "one"\ncredentials = "file"\ntimezone = "UTC"\n'
        f'[[instances]]\nname = "{instance.name}"\nkind = "autotask"\norigins = ["{url}"]\napi_url = "{url}"\n'
        f'[[company_tags.map]]\ninstance = "{instance.name}"\nattribute = "companyType"\nvalue = "1"\n'
        'tags = ["customer"]\n'
        '[[rules.scoped]]\nmatch = { tag = "customer" }\nrounding = { increment_s = 1800 }\nbillable_default = "yes"\n'
    )
    d = await start_daemon(make_settings(tmp_path, config_text=text), clock=fake_clock)
    try:
        response = await d.http.put(
            f"/api/v1/psa/{instance.name}/credentials", json={"credentials": msgspec.to_builtins(credentials)}
        )
        assert response.status_code == 200, response.text
        before = await explain(d, {"seconds": 901, "instance": instance.name, "company": AT_SEED.ticket_company})
        assert before["context"]["tags"] == []  # not looked up yet: the PSA's tags are unknown
        response = await d.http.post(
            "/api/v1/timers", json={"instance": instance.name, "ticket": str(AT_SEED.service_ticket)}
        )
        assert response.status_code == 201, response.text
        timer_id = response.json()["id"]

        async def company() -> str:
            timers = (await d.http.get("/api/v1/timers")).json()["timers"]
            return str(next(t for t in timers if t["id"] == timer_id).get("company", ""))

        assert await await_until(company, what="the ticket look-up") == AT_SEED.ticket_company
        fake_clock.advance(901)
        response = await d.http.post(f"/api/v1/timers/{timer_id}/stop", json={})
        assert response.status_code == 200, response.text
        entry = response.json()["entries"][0]
        assert (entry["company"], entry["billed_seconds"]) == (AT_SEED.ticket_company, 1800)
        # Nobody chose the timer's billable flag, so the tag's billable default decides, and the dry run says the same.
        assert entry["billable"] == "yes"
        body = {"seconds": 901, "instance": instance.name, "company": AT_SEED.ticket_company}
        after = await explain(d, body)
        assert after["context"]["tags"] == ["customer"]
        assert entry["explanation"] == after["explanation"]
        sources = {n["rule"]: n["source"] for n in entry["explanation"]}
        assert (sources["rounding"], sources["billable"]) == ("tag 'customer'; config", "tag 'customer'")
    finally:
        await d.stop()
