"""Approval queues and the bulk endpoint over real HTTP (approval "two"): per-id results, a reject needs a comment
before anything changes, and the audit trail names the viewer."""

from __future__ import annotations

from typing import Any

from tests.support import RunningDaemon, assert_api_error

CONFIG = """
approval = "two"
user_name = "pia"
"""


async def task_entry(d: RunningDaemon, name: str, submit: bool = True) -> str:
    now = d.clock.now()
    r = await d.http.post("/api/v1/entries", json={"started_at": now - 7200, "seconds": 3600, "task": name})
    assert r.status_code == 201, r.text
    entry_id: str = r.json()["id"]
    if submit:
        assert (await d.http.post(f"/api/v1/entries/{entry_id}/submit")).status_code == 200
    return entry_id


async def queue(d: RunningDaemon, level: int) -> dict[str, Any]:
    r = await d.http.get("/api/v1/approvals", params={"level": str(level)})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def statuses(d: RunningDaemon) -> dict[str, str]:
    return {e["id"]: e["status"] for e in (await d.http.get("/api/v1/entries")).json()["entries"]}


async def test_two_levels_in_bulk(tc: RunningDaemon) -> None:
    a, b, c = [await task_entry(tc, name) for name in ("Admin", "Training", "Internal meeting")]
    pending = await task_entry(tc, "Admin", submit=False)
    first = await queue(tc, 1)
    assert (first["level"], first["levels"]) == (1, 2)
    assert sorted(e["id"] for e in first["entries"]) == sorted([a, b, c])

    r = await tc.http.post("/api/v1/approvals", json={"ids": [a, b, "nope", pending, a], "action": "approve"})
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [(x["id"], x["ok"]) for x in results] == [(a, True), (b, True), ("nope", False), (pending, False)]
    assert results[0]["entry"]["status"] == "approved_l1"
    assert results[2]["error"]["code"] == "not_found" and results[3]["error"]["code"] == "invalid_transition"
    assert sorted(e["id"] for e in (await queue(tc, 2))["entries"]) == sorted([a, b])
    assert [e["id"] for e in (await queue(tc, 1))["entries"]] == [c]

    before = await statuses(tc)
    error = assert_api_error(
        await tc.http.post("/api/v1/approvals", json={"ids": [a, c], "action": "reject", "comment": "  "}),
        422,
        "invalid_input",
    )
    assert "comment" in error["message"]
    assert await statuses(tc) == before

    r = await tc.http.post("/api/v1/approvals", json={"ids": [a, c], "action": "reject", "comment": "wrong task"})
    assert [x["entry"]["status"] for x in r.json()["results"]] == ["rejected", "rejected"]
    assert r.json()["results"][0]["entry"]["status_reason"] == "wrong task"
    r = await tc.http.post("/api/v1/approvals", json={"ids": [b], "action": "approve", "comment": "fine"})
    assert r.json()["results"][0]["entry"]["status"] == "approved"
    history = (await tc.http.get(f"/api/v1/entries/{a}")).json()["history"]
    assert [(h["actor"], h["to_status"]) for h in history] == [
        ("pia", "pending"),
        ("pia", "submitted"),
        ("pia", "approved_l1"),
        ("pia", "rejected"),
    ]
    assert history[-1]["comment"] == "wrong task"


async def test_bad_approval_requests(tc: RunningDaemon) -> None:
    for params in ({"level": "3"}, {"level": "x"}, {"state": "1"}):
        assert_api_error(await tc.http.get("/api/v1/approvals", params=params), 400, "invalid_query")
    for body in ({"ids": [], "action": "approve"}, {"ids": ["a"], "action": "void"}, {"ids": "a", "action": "approve"}):
        assert_api_error(await tc.http.post("/api/v1/approvals", json=body), 422, "invalid_input")
