"""`POST /api/v1/entries` names a work order (`"work_order": "88"` or `"kind": "work_order"`); bad combinations get
the one error shape and change nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import RunningDaemon, assert_api_error, make_settings, start_daemon

CONFIG = """
[[instances]]
name = "acme-cw"
kind = "connectwise"
origins = ["https://na.myconnectwise.net"]
options = { member = "jdoe" }

[[tasks]]
name = "Admin"
post = { instance = "acme-cw", charge_code = 12 }
"""


@pytest.fixture
async def daemon(tmp_path: Path) -> AsyncIterator[RunningDaemon]:
    running = await start_daemon(make_settings(tmp_path, config_text=CONFIG))
    try:
        yield running
    finally:
        await running.stop()


def body(d: RunningDaemon, **target: Any) -> dict[str, Any]:
    now = d.clock.now()
    return {"started_at": now - 3600, "ended_at": now - 1800, **target}


async def test_work_orders_and_tasks_carry_their_kind(daemon: RunningDaemon) -> None:
    made = []
    for target in ({"work_order": "88"}, {"ticket": "88", "kind": "work_order"}, {"ticket": "89"}, {"task": "Admin"}):
        response = await daemon.http.post("/api/v1/entries", json=body(daemon, **target))
        assert response.status_code == 201, response.text
        made.append(response.json())
    assert [(e["kind"], e["ticket_id"], e["instance"], e["status"]) for e in made] == [
        ("work_order", 88, "acme-cw", "queued"),
        ("work_order", 88, "acme-cw", "queued"),
        ("ticket", 89, "acme-cw", "queued"),
        ("task", None, "acme-cw", "queued"),
    ]


@pytest.mark.parametrize(
    ("target", "status", "code"),
    [
        ({"ticket": "88", "work_order": "88"}, 422, "invalid_input"),
        ({"task": "Admin", "kind": "work_order"}, 422, "invalid_input"),
        ({"ticket": "88", "kind": "project"}, 422, None),
        ({"work_order": 88}, 422, None),
    ],
)
async def test_bad_work_orders_are_refused(
    daemon: RunningDaemon, target: dict[str, Any], status: int, code: str | None
) -> None:
    response = await daemon.http.post("/api/v1/entries", json=body(daemon, **target))
    assert_api_error(response, status, code)
    assert (await daemon.http.get("/api/v1/entries")).json()["entries"] == []
