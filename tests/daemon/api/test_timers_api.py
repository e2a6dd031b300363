"""The timers API over real HTTP with a FakeClock: manual timers, pause/resume/stop, edits, discard, the limit of 9,
unknown timers, and the idle keep-or-drop decision fed by browser events."""

from __future__ import annotations

from typing import Any

import pytest

from daemon.clock import FakeClock
from daemon.timers.model import PALETTE
from tests.support import RunningDaemon, assert_api_error
from tests.support import get_entries as entries
from tests.support import get_timers as state

CONFIG = """
[[instances]]
name = "halo"
kind = "halopsa"
origins = ["https://acme.halopsa.com"]
"""


async def start(d: RunningDaemon, body: dict[str, Any]) -> dict[str, Any]:
    response = await d.http.post("/api/v1/timers", json=body)
    assert response.status_code == 201, response.text
    timer: dict[str, Any] = response.json()
    return timer


async def act(d: RunningDaemon, timer_id: str, action: str) -> dict[str, Any]:
    response = await d.http.post(f"/api/v1/timers/{timer_id}/{action}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


# --- manual timers -------------------------------------------------------------------------------------------------


async def test_start_a_manual_timer_for_a_task(tc: RunningDaemon, fake_clock: FakeClock) -> None:
    timer = await start(tc, {"task": "Admin", "notes": "inbox", "billable": "no", "work_type": "Internal"})
    assert timer["kind"] == "manual" and timer["state"] == "running" and timer["running"] is True
    assert timer["task"] == "Admin" and timer["ticket"] is None and timer["label"] == "Admin"
    assert timer["started_at"] == fake_clock.now() and timer["elapsed_s"] == 0
    assert (timer["notes"], timer["billable"], timer["work_type"]) == ("inbox", "no", "Internal")
    assert timer["slot"] == 0 and timer["colour"] == PALETTE[0]
    fake_clock.advance(90)
    got = (await tc.http.get(f"/api/v1/timers/{timer['id']}")).json()
    assert got["elapsed_s"] == 90
    assert [t["id"] for t in (await state(tc))["timers"]] == [timer["id"]]


async def test_start_a_manual_timer_for_a_ticket(tc: RunningDaemon) -> None:
    timer = await start(tc, {"ticket": "#4711"})
    assert timer["ticket"] == {"instance": "halo", "kind": "halopsa", "id": 4711, "number": None, "record": "ticket"}
    assert timer["label"] == "#4711" and timer["kind"] == "manual" and timer["task"] is None
    same = await start(tc, {"ticket": "4712", "instance": "halo"})
    assert same["ticket"]["id"] == 4712 and same["slot"] == 1


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"ticket": "1", "task": "Admin"},
        {"ticket": "not-a-number"},
        {"ticket": "1", "instance": "nowhere"},
        {"task": ""},
        {"task": "x" * 201},
        {"task": "Admin", "billable": "maybe"},
        {"task": "Admin", "colour": "#ffffff"},
        {"task": "   "},
    ],
)
async def test_bad_start_requests_are_refused_and_start_nothing(tc: RunningDaemon, body: dict[str, Any]) -> None:
    before = await state(tc)
    assert_api_error(await tc.http.post("/api/v1/timers", json=body), 422, "invalid_input")
    assert await state(tc) == before


async def test_pause_resume_stop_and_the_entry_it_creates(tc: RunningDaemon, fake_clock: FakeClock) -> None:
    t0 = fake_clock.now()
    timer = await start(tc, {"ticket": "4711", "notes": "printer"})
    tid = timer["id"]
    fake_clock.advance(100)
    paused = await act(tc, tid, "pause")
    assert paused["state"] == "paused" and paused["paused_by"] == "user" and paused["elapsed_s"] == 100
    assert_api_error(await tc.http.post(f"/api/v1/timers/{tid}/pause"), 409, "invalid_transition")
    fake_clock.advance(50)  # paused: not counted
    assert (await tc.http.get(f"/api/v1/timers/{tid}")).json()["elapsed_s"] == 100
    resumed = await act(tc, tid, "resume")
    assert resumed["state"] == "running" and resumed["paused_by"] is None
    assert_api_error(await tc.http.post(f"/api/v1/timers/{tid}/resume"), 409, "invalid_transition")
    fake_clock.advance(30)

    stopped = await act(tc, tid, "stop")

    [entry] = stopped["entries"]
    assert entry["timer_id"] == tid and entry["ticket_id"] == 4711 and entry["notes"] == "printer"
    assert entry["actual_seconds"] == 130
    assert entry["segments"] == [[t0, t0 + 100], [t0 + 150, t0 + 180]]
    assert entry["status"] == "queued"  # approval none, a ticket
    assert (await state(tc))["timers"] == []
    assert await entries(tc) == [entry]
    # The timer is gone: further actions say so, and nothing new is created.
    assert_api_error(await tc.http.post(f"/api/v1/timers/{tid}/stop"), 409, "invalid_transition")
    assert_api_error(await tc.http.get(f"/api/v1/timers/{tid}"), 404, "not_found")
    assert len(await entries(tc)) == 1


async def test_stopping_a_task_timer_leaves_its_entry_pending(tc: RunningDaemon, fake_clock: FakeClock) -> None:
    timer = await start(tc, {"task": "Team meeting"})
    fake_clock.advance(1800)
    [entry] = (await act(tc, timer["id"], "stop"))["entries"]
    assert entry["task"] == "Team meeting" and entry["actual_seconds"] == 1800 and entry["status"] == "pending"


async def test_patch_changes_what_the_user_may_change(tc: RunningDaemon, fake_clock: FakeClock) -> None:
    tid = (await start(tc, {"task": "Admin"}))["id"]
    response = await tc.http.patch(
        f"/api/v1/timers/{tid}",
        json={"notes": "n", "internal_notes": "i", "billable": "yes", "work_type": "Remote", "colour": "#00FF00"},
    )
    assert response.status_code == 200, response.text
    got = response.json()
    assert (got["notes"], got["internal_notes"], got["billable"], got["work_type"]) == ("n", "i", "yes", "Remote")
    assert got["colour"] == "#00ff00"
    assert (await tc.http.get(f"/api/v1/timers/{tid}")).json() == got
    restored = (await tc.http.patch(f"/api/v1/timers/{tid}", json={"colour": ""})).json()
    assert restored["colour"] == PALETTE[restored["slot"]] and restored["notes"] == "n"
    fake_clock.advance(120)
    [entry] = (await act(tc, tid, "stop"))["entries"]
    assert (entry["notes"], entry["internal_notes"], entry["billable"], entry["work_type"]) == (
        "n",
        "i",
        "yes",
        "Remote",
    )


@pytest.mark.parametrize(
    "body",
    [
        {"colour": "red"},
        {"colour": "#12345"},
        {"colour": "#gggggg"},
        {"colour": "#1234567"},
        {"billable": "sometimes"},
        {"notes": 5},
        {"slot": 3},
        {"notes": "x" * 10_001},
    ],
)
async def test_bad_patches_are_refused_and_change_nothing(tc: RunningDaemon, body: dict[str, Any]) -> None:
    tid = (await start(tc, {"task": "Admin", "notes": "keep"}))["id"]
    before = await state(tc)
    assert_api_error(await tc.http.patch(f"/api/v1/timers/{tid}", json=body), 422, "invalid_input")
    assert await state(tc) == before


async def test_delete_discards_and_keeps_a_voided_entry_for_audit(tc: RunningDaemon, fake_clock: FakeClock) -> None:
    tid = (await start(tc, {"ticket": "4711"}))["id"]
    fake_clock.advance(600)
    response = await tc.http.delete(f"/api/v1/timers/{tid}")
    assert response.status_code == 204 and response.content == b""
    assert (await state(tc))["timers"] == []
    [entry] = await entries(tc)
    assert entry["timer_id"] == tid and entry["status"] == "voided"
    assert entry["status_reason"] == "discarded by the user"
    assert entry["actual_seconds"] == 600
    history = (await tc.http.get(f"/api/v1/entries/{entry['id']}")).json()["history"]
    assert [(h["from_status"], h["to_status"], h["comment"]) for h in history] == [
        (None, "pending", "discarded"),
        ("pending", "voided", "discarded by the user"),
    ]
    assert_api_error(await tc.http.delete(f"/api/v1/timers/{tid}"), 409, "invalid_transition")
    assert len(await entries(tc)) == 1


async def test_a_tenth_manual_timer_is_refused_and_nothing_changes(tc: RunningDaemon) -> None:
    ids = [(await start(tc, {"task": f"Task {i}"}))["id"] for i in range(9)]
    assert len(set(ids)) == 9
    assert sorted(t["slot"] for t in (await state(tc))["timers"]) == list(range(9))
    before = await state(tc)
    error = assert_api_error(await tc.http.post("/api/v1/timers", json={"task": "Task 10"}), 409, "too_many_timers")
    assert "9" in error["message"]
    assert_api_error(await tc.http.post("/api/v1/timers", json={"ticket": "5"}), 409, "too_many_timers")
    assert await state(tc) == before
    assert await entries(tc) == []
    # Stopping one frees a slot.
    await act(tc, ids[4], "stop")
    assert (await start(tc, {"task": "Task 10"}))["slot"] == 4


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/timers/t999"),
        ("PATCH", "/api/v1/timers/t999"),
        ("DELETE", "/api/v1/timers/t999"),
        ("POST", "/api/v1/timers/t999/pause"),
        ("POST", "/api/v1/timers/t999/resume"),
        ("POST", "/api/v1/timers/t999/stop"),
        ("POST", "/api/v1/timers/nonsense%00/stop"),
    ],
)
async def test_an_unknown_timer_is_404(tc: RunningDaemon, method: str, path: str) -> None:
    await start(tc, {"task": "Admin"})
    before = await state(tc)
    kwargs: dict[str, Any] = {"json": {"notes": "x"}} if method == "PATCH" else {}
    assert_api_error(await tc.http.request(method, path, **kwargs), 404, "not_found")
    assert await state(tc) == before


# --- idle ------------------------------------------------------------------------------------------------------------


async def away_seven_minutes(d: RunningDaemon, clock: FakeClock) -> tuple[float, str]:
    """Work on ticket 101 from t0; no input from t0+300; idle reported at t0+600 (since t0+300); back at t0+720;
    heartbeats every 20 s throughout, to t0+780. Returns (t0, timer id)."""
    t0 = clock.now()
    url = "https://acme.halopsa.com/ticket?id=101"
    events: list[dict[str, Any]] = [
        {"type": "tab_opened", "seq": 1, "at": t0, "tab": 7, "window": 1, "url": url, "active": True}
    ]
    seq = 1
    for at in range(20, 781, 20):
        seq += 1
        events.append({"type": "heartbeat", "seq": seq, "at": t0 + at})
        if at == 600:
            seq += 1
            events.append({"type": "idle", "seq": seq, "at": t0 + 600, "state": "idle", "since": t0 + 300})
        if at == 720:
            seq += 1
            events.append({"type": "idle", "seq": seq, "at": t0 + 720, "state": "active"})
    clock.set(t0 + 780)
    response = await d.http.post("/api/v1/browser/events", json={"install": "ext-a", "events": events})
    assert response.status_code == 200, response.text
    assert response.json()["acked"] == seq
    body = await state(d)
    [timer] = body["timers"]
    assert timer["state"] == "running"
    assert timer["elapsed_s"] == 300 + 60
    assert body["idle_pending"] == {"since": t0 + 300, "until": t0 + 720, "timers": [timer["id"]]}
    return t0, timer["id"]


@pytest.mark.parametrize(("keep", "seconds"), [(True, 780), (False, 360)])
async def test_the_away_time_is_kept_or_dropped(
    tc: RunningDaemon, fake_clock: FakeClock, keep: bool, seconds: int
) -> None:
    _, _tid = await away_seven_minutes(tc, fake_clock)
    response = await tc.http.post("/api/v1/idle/resolve", json={"keep": keep})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["idle_pending"] is None
    [timer] = body["timers"]
    assert timer["elapsed_s"] == seconds
    assert ("idle_kept" in timer["flags"]) is keep
    assert await state(tc) == body
    # Decided once: a second decision has nothing to decide.
    assert_api_error(await tc.http.post("/api/v1/idle/resolve", json={"keep": True}), 409, "invalid_transition")
    assert (await state(tc))["timers"][0]["elapsed_s"] == seconds


async def test_idle_resolve_without_away_time_or_with_a_bad_body(tc: RunningDaemon) -> None:
    before = await state(tc)
    assert_api_error(await tc.http.post("/api/v1/idle/resolve", json={"keep": True}), 409, "invalid_transition")
    assert_api_error(await tc.http.post("/api/v1/idle/resolve", json={"keep": "yes"}), 422, "invalid_input")
    assert_api_error(await tc.http.post("/api/v1/idle/resolve", json={}), 422, "invalid_input")
    assert await state(tc) == before


async def test_a_running_manual_timer_is_paused_by_idle_too(tc: RunningDaemon, fake_clock: FakeClock) -> None:
    t0 = fake_clock.now()
    tid = (await start(tc, {"task": "Admin"}))["id"]
    fake_clock.set(t0 + 600)
    idle = {"type": "idle", "seq": 1, "at": t0 + 600, "state": "idle", "since": t0 + 300}
    assert (await tc.http.post("/api/v1/browser/events", json={"install": "x", "events": [idle]})).status_code == 200
    timer = (await tc.http.get(f"/api/v1/timers/{tid}")).json()
    assert timer["state"] == "paused" and timer["paused_by"] == "idle" and timer["elapsed_s"] == 300
