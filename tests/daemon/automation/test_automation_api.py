"""The automation API's edges through a real daemon: per-automation settings (validated, saved, kept across a
restart, reset), bad runs refused with a 4xx that changes nothing, the token scope (scripts yes, paired browser
extensions no), and `ticketclock log-run` / `ticketclock entries --csv` as real subprocesses."""

from __future__ import annotations

import csv
import io
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from daemon.api.automation import routes as automation_routes
from daemon.api.security import CLIENT_TAGS, SCRIPT_TAGS
from tests.daemon.api.test_clients import as_client, paired
from tests.daemon.automation.world import World, automation, world_of
from tests.daemon.test_cli_security import cli
from tests.support import RunningDaemon, assert_api_error, make_settings, start_daemon

CONFIG = """
[[automations]]
name = "From config"
minutes = 15
"""


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with world_of(tmp_path, ["connectwise"]) as made:
        yield made


async def test_settings_come_from_the_config_until_a_put_and_survive_a_restart(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, config_text=CONFIG)
    daemon = await start_daemon(settings)
    try:
        view = (await daemon.http.get("/api/v1/automations")).json()
        assert view["source"] == "config"
        assert [(a["name"], a["minutes"], a["apply_to"], a["log_as"]) for a in view["automations"]] == [
            ("From config", 15, "all", "starter")
        ]
        body = {"automations": [automation("Saved", apply_to="tag:managed", log_as="assignee", overlap="absorb")]}
        put = await daemon.http.put("/api/v1/automations", json=body)
        assert put.status_code == 200, put.text
        assert put.json()["source"] == "stored"
    finally:
        await daemon.stop()
    daemon = await start_daemon(daemon.settings)
    try:
        view = (await daemon.http.get("/api/v1/automations")).json()
        assert (view["source"], [a["name"] for a in view["automations"]]) == ("stored", ["Saved"])
        assert view["automations"][0]["overlap"] == "absorb"
        reset = (await daemon.http.delete("/api/v1/automations")).json()
        assert (reset["source"], [a["name"] for a in reset["automations"]]) == ("config", ["From config"])
    finally:
        await daemon.stop()


@pytest.mark.parametrize(
    ("automations", "field"),
    [
        ([{"name": "A", "apply_to": "some"}], "automations[0].apply_to"),
        ([{"name": "A", "log_as": "bob"}], "automations[0].log_as"),
        ([{"name": "A", "minutes": 0}], "automations[0].minutes"),
        ([{"name": "A", "notes": "{ticket}"}], "automations[0].notes"),
        ([{"name": "A"}, {"name": "a "}], "automations[1].name"),
        ([{"name": "A", "overlap": "both"}], "automations[0].overlap"),
        ([{"name": "A", "colour": "red"}], "automations[0].colour"),
    ],
)
async def test_a_bad_put_names_the_field_and_changes_nothing(
    daemon: RunningDaemon, automations: list[dict[str, Any]], field: str
) -> None:
    assert (await daemon.http.put("/api/v1/automations", json={"automations": [{"name": "Kept"}]})).status_code == 200
    response = await daemon.http.put("/api/v1/automations", json={"automations": automations})
    error = assert_api_error(response, 400, "invalid_automations")
    assert error["details"]["field"] == field, error
    view = (await daemon.http.get("/api/v1/automations")).json()
    assert [a["name"] for a in view["automations"]] == ["Kept"]


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"finished_at": 1_000.0, "started_at": 2_000.0}, 422),  # ends before it starts
        ({"started_at": 0.0, "finished_at": 200_000.0}, 422),  # longer than 24 h
        ({"finished_at": time.time() + 7200, "started_at": time.time() + 7000}, 422),  # far in the future
        ({"ticket": "not a ticket"}, 422),
        ({"instance": "nowhere"}, 422),
        ({"run_id": ""}, 422),
        ({"surprise": 1}, 422),
        ({"ticket": None}, 422),
    ],
)
async def test_a_bad_run_is_refused_and_nothing_is_recorded(world: World, change: dict[str, Any], status: int) -> None:
    sb = world.sandboxes["connectwise"]
    body = {
        "automation": "Any",
        "instance": sb.name,
        "ticket": "48211",
        "run_id": uuid.uuid4().hex,
        "started_at": time.time() - 600,
        "finished_at": time.time() - 300,
        **change,
    }
    response = await world.api.post("/api/v1/automation-runs", json=body)
    assert_api_error(response, status)
    assert await world.runs() == []
    assert (await world.api.get("/api/v1/entries")).json()["entries"] == []


def test_the_automation_routes_carry_the_scripts_tag_which_paired_clients_lack() -> None:
    assert {r.tag for r in automation_routes} == {"automation"} <= SCRIPT_TAGS
    assert SCRIPT_TAGS.isdisjoint(CLIENT_TAGS)


async def test_scripts_with_the_cli_token_may_report_runs_but_a_paired_extension_may_not(daemon: RunningDaemon) -> None:
    _, token = await paired(daemon)
    for method, path, body in (
        ("POST", "/api/v1/automation-runs", {"automation": "x", "run_id": "1", "ticket": 1, "started_at": 1}),
        ("GET", "/api/v1/automation-runs", None),
        ("GET", "/api/v1/automations", None),
        ("PUT", "/api/v1/automations", {"automations": []}),
    ):
        response = await as_client(daemon, method, path, token, **({"json": body} if body is not None else {}))
        assert_api_error(response, 403, "cli_only")
    assert (await daemon.http.get("/api/v1/automation-runs")).json() == {"runs": []}


async def test_log_run_prints_the_outcome_and_the_entry_shows_its_automation_in_the_csv(world: World) -> None:
    await world.automations(automation("Reset password", minutes=20))
    settings = world.daemon.settings
    home = settings.data_dir.parent
    common = ["--data-dir", str(settings.data_dir), "--port", str(world.daemon.port)]
    end = time.time() - 600
    flags = [
        "--automation", "Reset password",
        "--ticket", "48211",
        "--run-id", "rmm-7731",
        "--started-at", str(end - 60),
        "--finished-at", str(end),
        "--started-by", "jdoe",
        "--outcome", "success",
    ]  # fmt: skip
    first = await cli(home, "log-run", *common, *flags)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("logged: entry "), first.stdout
    again = await cli(home, "log-run", *common, *flags)
    assert again.returncode == 0, again.stderr
    assert "repeat: this run id was already recorded" in again.stdout
    assert first.stdout.split()[2] == again.stdout.split()[2]  # the same entry
    other = ["--automation", "Unknown", *flags[2:4], "--run-id", "rmm-7732", *flags[6:10]]
    skipped = await cli(home, "log-run", *common, *other)
    assert skipped.stdout.strip() == "skipped: no automation named 'Unknown' is configured", skipped.stdout
    missing = await cli(home, "log-run", *common, "--automation", "Reset password")
    assert missing.returncode == 2 and "--ticket" in missing.stderr

    exported = await cli(home, "entries", *common, "--csv")
    assert exported.returncode == 0, exported.stderr
    rows = list(csv.DictReader(io.StringIO(exported.stdout)))
    assert [(r["automation"], r["source"], r["hours"]) for r in rows] == [("Reset password", "automation", "0.33")]
    listed = await cli(home, "entries", *common)
    assert "[automation: Reset password]" in listed.stdout
