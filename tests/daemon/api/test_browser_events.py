"""POST /api/v1/browser/events over real HTTP: acks, dedupe by seq, seq order, entries, and hostile input that must
change nothing. Time is a FakeClock; event times sit next to it so the daemon's own tick decides nothing unasked."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import aiohttp
import httpx
import pytest

from daemon.clock import FakeClock
from daemon.services import SERVICES
from tests.events import HALO_INSTANCE, batch, beat, closed, opened, url
from tests.support import RunningDaemon, assert_api_error
from tests.support import get_entries as entries
from tests.support import get_timers as timers

CONFIG = "[timing]\ngrace_s = 30\nmerge_s = 600\n" + HALO_INSTANCE  # the defaults, spelled out for the arithmetic
EVENTS = "/api/v1/browser/events"


async def send(d: RunningDaemon, body: dict[str, Any]) -> int:
    response = await d.http.post(EVENTS, json=body)
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["install"] == body["install"]
    acked: int = data["acked"]
    return acked


async def ack_of(d: RunningDaemon, install: str = "ext-a") -> int:
    """The install's ack as the API reports it (an empty batch applies nothing and answers the ack)."""
    return await send(d, batch([], install))


async def observe(d: RunningDaemon) -> tuple[dict[str, Any], list[dict[str, Any]], int, int]:
    return await timers(d), await entries(d), await ack_of(d), await ack_of(d, "ext-b")


def ticket_ids(state: dict[str, Any]) -> list[int]:
    return [t["ticket"]["id"] for t in state["timers"] if t["ticket"] is not None]


# --- acks and dedupe ---------------------------------------------------------------------------------------------


async def test_a_batch_opens_a_ticket_timer_and_acks_the_highest_seq(tc: RunningDaemon, fake_clock: FakeClock) -> None:
    t0 = fake_clock.now()
    fake_clock.advance(40)
    acked = await send(tc, batch([opened(1, t0, 7, 101), beat(2, t0 + 20), beat(3, t0 + 40)]))
    assert acked == 3
    state = await timers(tc)
    assert state["type"] == "state"
    [timer] = state["timers"]
    assert timer["ticket"] == {"instance": "halo", "kind": "halopsa", "id": 101, "number": None, "record": "ticket"}
    assert timer["kind"] == "auto" and timer["state"] == "running" and timer["running"] is True
    assert timer["started_at"] == t0
    assert timer["elapsed_s"] == 40
    assert tc.app[SERVICES].timers.acked("ext-a") == 3


async def test_replaying_a_batch_changes_nothing(tc: RunningDaemon, fake_clock: FakeClock) -> None:
    t0 = fake_clock.now()
    fake_clock.advance(60)
    first = batch([opened(1, t0, 7, 101), beat(2, t0 + 20), closed(3, t0 + 40, 7), beat(4, t0 + 60)])
    assert await send(tc, first) == 4
    before = await timers(tc), await entries(tc)
    assert ticket_ids(before[0]) == [101] and before[0]["timers"][0]["state"] == "closing"

    assert await send(tc, first) == 4
    assert await send(tc, first) == 4
    assert (await timers(tc), await entries(tc)) == before


async def test_already_acked_events_are_ignored_even_when_they_differ(tc: RunningDaemon, fake_clock: FakeClock) -> None:
    t0 = fake_clock.now()
    fake_clock.advance(40)
    assert await send(tc, batch([opened(1, t0, 7, 101), beat(2, t0 + 20), beat(3, t0 + 40)])) == 3
    before = await timers(tc)
    # Seqs 1..3 are acked: a (buggy or replayed) batch of them, whatever they say, is a no-op.
    assert await send(tc, batch([closed(2, t0 + 30, 7), opened(3, t0 + 35, 8, 202), beat(1, t0 + 40)])) == 3
    assert await timers(tc) == before
    # A batch straddling the ack applies only the fresh part.
    fake_clock.advance(20)
    assert await send(tc, batch([closed(3, t0 + 40, 7), opened(4, t0 + 60, 8, 202)])) == 4
    state = await timers(tc)
    assert sorted(ticket_ids(state)) == [101, 202]
    assert {t["ticket"]["id"]: t["state"] for t in state["timers"]} == {101: "paused", 202: "running"}


async def test_events_are_applied_in_seq_order_not_list_order(tc: RunningDaemon, fake_clock: FakeClock) -> None:
    t0 = fake_clock.now()
    fake_clock.advance(60)
    shuffled = [beat(3, t0 + 40), beat(4, t0 + 60), opened(1, t0, 7, 101), beat(2, t0 + 20)]
    assert await send(tc, batch(shuffled)) == 4
    [timer] = (await timers(tc))["timers"]
    # In list order the tab would open at t0+60 (time never goes back) and have 0 s.
    assert timer["started_at"] == t0
    assert timer["elapsed_s"] == 60


async def test_two_installs_are_acknowledged_independently(tc: RunningDaemon, fake_clock: FakeClock) -> None:
    t0 = fake_clock.now()
    fake_clock.advance(100)
    assert await send(tc, batch([opened(1, t0, 7, 101), *[beat(s, t0 + 20 * (s - 1)) for s in range(2, 6)]])) == 5
    assert await send(tc, batch([beat(1, t0 + 90), beat(2, t0 + 100)], install="ext-b")) == 2
    assert await ack_of(tc, "ext-a") == 5
    assert await ack_of(tc, "ext-b") == 2
    # Install b's seq 3 is new for b although install a acked far beyond it.
    assert await send(tc, batch([beat(3, t0 + 100)], install="ext-b")) == 3
    assert await ack_of(tc, "ext-a") == 5
    rows = dict(sqlite3.connect(tc.settings.db_path).execute("SELECT install, acked_seq FROM installs").fetchall())
    assert rows == {"ext-a": 5, "ext-b": 3}


# --- entries -------------------------------------------------------------------------------------------------------


async def finalize(d: RunningDaemon, clock: FakeClock, seconds: float) -> None:
    """Let daemon time pass with the browser silent, then tick (grace and merge windows run out on daemon time)."""
    clock.advance(seconds)
    await d.app[SERVICES].timers.tick()


async def test_a_closed_ticket_becomes_a_queued_entry_with_exact_seconds(
    tc: RunningDaemon, fake_clock: FakeClock
) -> None:
    t0 = fake_clock.now()
    events = [opened(1, t0, 7, 101)]
    events += [beat(1 + i, t0 + 20 * i) for i in range(1, 31)]  # heartbeats every 20 s up to t0+600
    events.append(closed(32, t0 + 600, 7))
    fake_clock.set(t0 + 600)
    assert await send(tc, batch(events)) == 32
    # Inside grace + merge window: nothing final yet, the entry is listed as open.
    assert [e["status"] for e in await entries(tc)] == ["open"]
    [timer] = (await timers(tc))["timers"]
    assert timer["state"] == "closing"

    await finalize(tc, fake_clock, 30 + 600 + 61)
    assert (await timers(tc))["timers"] == []
    [entry] = await entries(tc)
    assert entry["ticket_id"] == 101 and entry["instance"] == "halo" and entry["source"] == "timer"
    assert entry["actual_seconds"] == 600
    assert entry["started_at"] == t0 and entry["ended_at"] == t0 + 600
    assert entry["status"] == "queued"  # approval "none"
    history = (await tc.http.get(f"/api/v1/entries/{entry['id']}")).json()["history"]
    assert [(h["from_status"], h["to_status"]) for h in history] == [(None, "pending"), ("pending", "queued")]


async def test_reopening_inside_the_merge_window_continues_the_entry(tc: RunningDaemon, fake_clock: FakeClock) -> None:
    t0 = fake_clock.now()
    fake_clock.set(t0 + 400)
    # Worked 0..100, closed the tab, reopened it at 300 (past the 30 s grace, inside the merge window) until 400.
    events = [opened(1, t0, 7, 101), *[beat(1 + i, t0 + 20 * i) for i in range(1, 6)], closed(7, t0 + 100, 7)]
    events += [beat(8 + i, t0 + 120 + 20 * i) for i in range(9)]  # seqs 8..16, t0+120..t0+280
    events += [opened(17, t0 + 300, 8, 101), *[beat(17 + i, t0 + 300 + 20 * i) for i in range(1, 6)]]
    events.append(closed(23, t0 + 400, 8))
    assert await send(tc, batch(events)) == 23
    await finalize(tc, fake_clock, 30 + 600 + 61)
    [entry] = await entries(tc)
    assert entry["actual_seconds"] == 100 + 100
    assert entry["segments"] == [[t0, t0 + 100], [t0 + 300, t0 + 400]]


async def test_an_entry_under_a_minute_is_voided_as_too_short(tc: RunningDaemon, fake_clock: FakeClock) -> None:
    t0 = fake_clock.now()
    fake_clock.set(t0 + 40)
    assert await send(tc, batch([opened(1, t0, 7, 101), beat(2, t0 + 20), closed(3, t0 + 40, 7)])) == 3
    await finalize(tc, fake_clock, 30 + 600 + 61)
    [entry] = await entries(tc)
    assert entry["actual_seconds"] == 40
    assert entry["status"] == "voided"
    assert entry["status_reason"] == "too_short"


# --- hostile input ---------------------------------------------------------------------------------------------------


def raw(body: Any) -> bytes:
    return json.dumps(body).encode()


def hostile_cases(t: float) -> list[tuple[str, bytes, str, int, str | None]]:
    """(name, body, content type, status, code). Every body also carries a valid event that opens ticket 909."""
    ok = opened(100, t, 9, 909)

    def with_bad(bad: dict[str, Any]) -> bytes:
        return raw(batch([ok, bad]))

    deep = b'{"install":"ext-a","events":[' + b"[" * 100_000 + b"]" * 100_000 + b"]}"
    nested_title = b'{"install":"ext-a","events":[{"type":"heartbeat","seq":101,"at":1,"x":' + b"[" * 50_000
    return [
        ("seq as a string", with_bad({"type": "heartbeat", "seq": "101", "at": t}), "application/json", 422, None),
        ("at as a string", with_bad({"type": "heartbeat", "seq": 101, "at": "now"}), "application/json", 422, None),
        ("tab as a float", with_bad({**opened(101, t, 1.5, 909)}), "application/json", 422, None),  # type: ignore[arg-type]
        ("events not a list", raw({"install": "ext-a", "events": {"0": ok}}), "application/json", 422, None),
        ("install missing", raw({"events": [ok]}), "application/json", 422, None),
        ("install empty", raw({"install": "", "events": [ok]}), "application/json", 422, None),
        ("install too long", raw({"install": "x" * 500, "events": [ok]}), "application/json", 422, None),
        ("unknown batch field", raw({**batch([ok]), "admin": True}), "application/json", 422, None),
        ("unknown event field", with_bad({**beat(101, t), "evil": 1}), "application/json", 422, None),
        ("unknown event type", with_bad({"type": "format_disk", "seq": 101, "at": t}), "application/json", 422, None),
        ("missing type", with_bad({"seq": 101, "at": t}), "application/json", 422, None),
        ("missing seq", with_bad({"type": "heartbeat", "at": t}), "application/json", 422, None),
        ("missing at", with_bad({"type": "heartbeat", "seq": 101}), "application/json", 422, None),
        ("negative seq", with_bad(beat(-1, t)), "application/json", 422, None),
        ("seq past 2**53", with_bad(beat(2**60, t)), "application/json", 422, None),
        ("seq past 64 bits", with_bad(beat(2**70, t)), "application/json", 422, None),
        ("huge at", with_bad(beat(101, 1e300)), "application/json", 422, None),
        ("huge tab id", with_bad({**opened(101, t, 2**40, 909)}), "application/json", 422, None),
        ("negative at", with_bad(beat(101, -5)), "application/json", 422, None),
        (
            "NaN",
            with_bad(beat(101, t)).replace(f'"at": {t}}}]'.encode(), b'"at": NaN}]'),
            "application/json",
            400,
            None,
        ),
        ("Infinity", raw(batch([ok])).replace(f'"at": {t}'.encode(), b'"at": Infinity'), "application/json", 400, None),
        (
            "1e999 overflows to inf",
            raw(batch([ok])).replace(f'"at": {t}'.encode(), b'"at": 1e999'),
            "application/json",
            422,
            None,
        ),
        ("url of 100 KB", raw(batch([{**ok, "url": url(909) + "&q=" + "a" * 100_000}])), "application/json", 422, None),
        ("title of 100 KB", raw(batch([{**ok, "title": "t" * 100_000}])), "application/json", 422, None),
        ("10,000 events", raw(batch([beat(100 + i, t) for i in range(10_000)])), "application/json", 422, None),
        ("2 MB body", raw(batch([{**ok, "title": "t" * 2_000_000}])), "application/json", 413, "payload_too_large"),
        ("deeply nested JSON", deep, "application/json", 422, None),
        ("nesting that never ends", nested_title, "application/json", 422, None),
        ("non-UTF-8 bytes", raw(batch([ok])).replace(b"acme", b"ac\xff\xfe"), "application/json", 400, "invalid_json"),
        ("truncated JSON", raw(batch([ok]))[:-5], "application/json", 400, "invalid_json"),
        ("empty body", b"", "application/json", 400, "invalid_json"),
        ("JSON null", b"null", "application/json", 422, None),
        ("a bare list", raw([ok]), "application/json", 422, None),
        ("text/plain", raw(batch([ok])), "text/plain", 415, "unsupported_media_type"),
        ("form encoded", b"install=ext-a", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
    ]


CASE_NAMES = [c[0] for c in hostile_cases(0.0)]


@pytest.mark.parametrize("name", CASE_NAMES)
async def test_hostile_input_gets_a_4xx_and_changes_nothing(
    tc: RunningDaemon, fake_clock: FakeClock, name: str
) -> None:
    t0 = fake_clock.now()
    fake_clock.advance(20)
    assert await send(tc, batch([opened(1, t0, 7, 101), beat(2, t0 + 20)])) == 2
    assert await send(tc, batch([beat(1, t0 + 20)], install="ext-b")) == 1
    before = await observe(tc)
    [(_, body, content_type, status, code)] = [c for c in hostile_cases(fake_clock.now()) if c[0] == name]

    response = await tc.http.post(EVENTS, content=body, headers={"Content-Type": content_type})

    error = assert_api_error(response, status, code)
    if status == 422 and code is None:
        assert error["code"] == "invalid_input", error
    assert await observe(tc) == before
    assert (await tc.http.get("/api/v1/health")).status_code == 200
    # The daemon still takes a valid batch.
    fake_clock.advance(20)
    assert await send(tc, batch([opened(3, t0 + 40, 8, 202)])) == 3
    assert sorted(ticket_ids(await timers(tc))) == [101, 202]


@pytest.mark.parametrize(
    ("label", "offset"),
    [("1970", None), ("31 days ago", -31 * 86_400), ("2100", None), ("two days ahead", 2 * 86_400)],
)
async def test_events_far_in_the_past_or_future_refuse_the_whole_batch(
    tc: RunningDaemon, fake_clock: FakeClock, label: str, offset: float | None
) -> None:
    t0 = fake_clock.now()
    fake_clock.advance(20)
    assert await send(tc, batch([opened(1, t0, 7, 101), beat(2, t0 + 20)])) == 2
    before = await observe(tc)
    bad_at = {"1970": 86_400.0, "2100": 4_102_444_800.0}.get(label, t0 + (offset or 0))
    body = batch([opened(3, t0 + 20, 8, 202), beat(4, bad_at), beat(5, t0 + 20), beat(6, bad_at)])

    error = assert_api_error(await tc.http.post(EVENTS, json=body), 422, "invalid_events")

    assert error["details"] == {"seqs": [4, 6]}
    assert await observe(tc) == before  # ticket 202 was not opened: the valid events were refused too


async def test_ten_thousand_events_name_the_limit(tc: RunningDaemon, fake_clock: FakeClock) -> None:
    t = fake_clock.now()
    response = await tc.http.post(EVENTS, json=batch([beat(1 + i, t) for i in range(10_000)]))
    error = assert_api_error(response, 422, "invalid_input")
    assert "1000" in error["message"]
    assert await ack_of(tc) == 0
    assert await send(tc, batch([beat(1 + i, t) for i in range(1000)])) == 1000  # exactly the limit is fine


async def test_a_slightly_early_event_is_clamped_to_daemon_time(tc: RunningDaemon, fake_clock: FakeClock) -> None:
    t0 = fake_clock.now()
    assert await send(tc, batch([opened(1, t0 + 3600, 7, 101)])) == 1  # browser clock an hour fast
    [timer] = (await timers(tc))["timers"]
    assert timer["started_at"] == t0


async def test_a_request_without_the_token_changes_nothing(tc: RunningDaemon, fake_clock: FakeClock) -> None:
    before = await observe(tc)
    async with httpx.AsyncClient(base_url=tc.base_url) as anonymous:
        response = await anonymous.post(EVENTS, json=batch([opened(1, fake_clock.now(), 7, 101)]))
    assert_api_error(response, 401, "unauthorized")
    assert await observe(tc) == before


# --- recognition -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"url": url(4711)}, {"instance": "halo", "kind": "halopsa", "id": 4711, "number": None, "record": "ticket"}),
        (
            {"url": "https://acme.halopsa.com/tickets?id=12", "title": "x"},
            {"instance": "halo", "kind": "halopsa", "id": 12, "number": None, "record": "ticket"},
        ),
        ({"url": "https://acme.halopsa.com/tickets?area=1&view=all"}, None),
        ({"url": "https://acme.halopsa.com/"}, None),
        ({"url": "https://evil.example/ticket?id=5"}, None),
        ({"url": "not a url at all"}, None),
    ],
)
async def test_recognize_names_the_ticket_of_a_ticket_page_only(
    tc: RunningDaemon, body: dict[str, Any], expected: dict[str, Any] | None
) -> None:
    response = await tc.http.post("/api/v1/tickets/recognize", json=body)
    assert response.status_code == 200, response.text
    assert response.json() == {"ticket": expected}


async def test_recognize_refuses_bad_bodies(tc: RunningDaemon) -> None:
    assert_api_error(await tc.http.post("/api/v1/tickets/recognize", json={}), 422, "invalid_input")
    assert_api_error(await tc.http.post("/api/v1/tickets/recognize", json={"url": "x" * 10_000}), 422, "invalid_input")
    assert_api_error(
        await tc.http.post("/api/v1/tickets/recognize", json={"url": url(1), "extra": 1}), 422, "invalid_input"
    )


# --- never acknowledge past a gap (issue 8, item 3) -----------------------------------------------------------


async def test_a_later_batch_first_is_refused_naming_the_expected_seq_and_nothing_vanishes(
    tc: RunningDaemon, fake_clock: FakeClock
) -> None:
    """Two batches overtake each other (a retry, concurrent posts): the later one is refused, not acknowledged past
    the missing seqs, so the earlier one still counts when it arrives; then the later one is resent."""
    t0 = fake_clock.now()
    fake_clock.advance(2400)
    first = batch([opened(1, t0, 7, 101), *[beat(1 + i, t0 + 20 * i) for i in range(1, 61)]])  # 0..1200 s
    later = batch([beat(61 + i, t0 + 20 * (60 + i)) for i in range(1, 61)])  # 1220..2400 s
    before = await observe(tc)

    error = assert_api_error(await tc.http.post(EVENTS, json=later), 409, "seq_gap")

    assert error["details"] == {"expected": 1}
    assert "seq 1" in error["message"]
    assert await observe(tc) == before
    assert await send(tc, first) == 61
    assert await send(tc, later) == 121
    [timer] = (await timers(tc))["timers"]
    assert timer["elapsed_s"] == 2400


async def test_after_says_which_seqs_are_not_coming(tc: RunningDaemon, fake_clock: FakeClock) -> None:
    t0 = fake_clock.now()
    fake_clock.advance(100)
    assert await send(tc, batch([opened(1, t0, 7, 101), beat(2, t0 + 20)])) == 2
    # Seqs 3 and 4 were dropped by the client for good: it says so with `after`.
    skip = {**batch([beat(5, t0 + 40), beat(6, t0 + 60)]), "after": 4}
    error = assert_api_error(await tc.http.post(EVENTS, json=skip), 409, "seq_gap")
    assert error["details"] == {"expected": 3}  # "after 4" claims 3 and 4 were sent: they were not applied
    assert await send(tc, {**skip, "after": 2}) == 6
    assert await send(tc, {**batch([beat(7, t0 + 80)]), "after": 6}) == 7
    # Without `after`, a jump is a gap.
    assert_api_error(await tc.http.post(EVENTS, json=batch([beat(9, t0 + 100)])), 409, "seq_gap")
    # Repeats alone are answered with the ack, whatever `after` says.
    assert await send(tc, {**batch([beat(6, t0 + 60)]), "after": 99}) == 7
    [timer] = (await timers(tc))["timers"]
    assert timer["elapsed_s"] == 80


async def test_the_websocket_refuses_a_gap_the_same_way(tc: RunningDaemon, fake_clock: FakeClock) -> None:
    t0 = fake_clock.now()
    fake_clock.advance(40)
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(f"{tc.base_url}/api/v1/ws", headers={"Origin": tc.base_url})
        await ws.send_json({"type": "hello", "install": "ext-a", "instance": "i-1", "token": tc.token})
        frames: list[dict[str, Any]] = []

        async def next_frame(kind: str) -> dict[str, Any]:
            while True:
                frame = json.loads(await ws.receive_str(timeout=10))
                frames.append(frame)
                if frame["type"] == kind:
                    return frame
                assert frame["type"] in ("config", "state"), f"expected {kind}, got {frame}"

        assert (await next_frame("welcome"))["acked"] == 0
        await ws.send_json(batch([beat(3, t0 + 40)]))
        error = await next_frame("error")
        assert error["code"] == "seq_gap" and error["details"] == {"expected": 1}
        await ws.send_json(batch([opened(1, t0, 7, 101), beat(2, t0 + 20)]))
        assert (await next_frame("ack"))["seq"] == 2
        await ws.send_json(batch([beat(3, t0 + 40)]))
        assert (await next_frame("ack"))["seq"] == 3
        await ws.close()
    [timer] = (await timers(tc))["timers"]
    assert timer["elapsed_s"] == 40


async def test_two_browsers_keep_their_own_tabs(tc: RunningDaemon, fake_clock: FakeClock) -> None:
    """Chrome and Edge report tabs with the same ids; Edge's snapshot does not close Chrome's ticket."""
    t0 = fake_clock.now()
    fake_clock.advance(600)
    assert await send(tc, batch([opened(1, t0, 1, 101), beat(2, t0 + 20)], "chrome")) == 2
    edge_tabs = [{"tab": 1, "window": 1, "url": "https://acme.halopsa.com/tickets", "active": True}]
    assert await send(tc, batch([{"type": "snapshot", "seq": 1, "at": t0 + 30, "tabs": edge_tabs}], "edge")) == 1
    assert await send(tc, batch([beat(1 + i, t0 + 20 * i) for i in range(2, 31)], "chrome")) == 31
    [timer] = (await timers(tc))["timers"]
    assert timer["ticket"]["id"] == 101 and timer["state"] == "running" and timer["elapsed_s"] == 600
