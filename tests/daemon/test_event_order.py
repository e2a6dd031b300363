"""Batches that overtake each other, against a real daemon subprocess (issue 8, item 3).

A client posting concurrently or retrying out of order delivers a later batch before an earlier one. The daemon
must never acknowledge past the missing seqs: the later batch is refused with `seq_gap` naming the seq it expects,
the earlier one is applied when it arrives, the later one is resent, and the whole 40 minutes are on the ticket.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.events import HALO_INSTANCE, batch, beat, closed, opened
from tests.support import daemon_output, spawn_daemon, stop_process

pytestmark = pytest.mark.slow

CONFIG = "[timing]\ngrace_s = 1\nmerge_s = 1\n" + HALO_INSTANCE


@pytest.fixture
def client(tmp_path: Path) -> Iterator[httpx.Client]:
    home = tmp_path / "home"
    (home / "config").mkdir(parents=True)
    (home / "config" / "config.toml").write_text(CONFIG, encoding="utf-8")
    proc = spawn_daemon(home)
    port = proc.port
    try:
        token = (home / "data" / "token").read_text(encoding="utf-8").strip()
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {token}"}, timeout=30
        ) as http:
            yield http
    except BaseException:
        out, err = daemon_output(home)
        print(f"daemon stdout:\n{out}\ndaemon stderr:\n{err}")
        raise
    finally:
        stop_process(proc)


def forty_minutes(t0: float) -> tuple[dict[str, Any], dict[str, Any]]:
    """Ticket 101 open for 2400 s: the first 20 minutes in one batch, the next 20 and the close in another."""
    first = batch([opened(1, t0, 7, 101), *[beat(1 + i, t0 + 20 * i) for i in range(1, 61)]])
    later = batch([*[beat(61 + i, t0 + 20 * (60 + i)) for i in range(1, 61)], closed(122, t0 + 2400, 7)])
    later["events"].append(beat(123, t0 + 2410))  # past grace and merge: the entry is made
    return first, later


def ticket_seconds(http: httpx.Client) -> list[float]:
    found = http.get("/api/v1/entries").json()["entries"]
    return [e["actual_seconds"] for e in found if e["ticket_id"] == 101]


def test_the_later_batch_first_is_refused_and_the_forty_minutes_survive(client: httpx.Client) -> None:
    first, later = forty_minutes(time.time() - 3000)
    refused = client.post("/api/v1/browser/events", json=later)
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"]["code"] == "seq_gap"
    assert refused.json()["error"]["details"] == {"expected": 1}
    assert client.post("/api/v1/browser/events", json=batch([])).json()["acked"] == 0, "nothing was acknowledged"
    assert client.post("/api/v1/browser/events", json=first).json()["acked"] == 61
    assert client.post("/api/v1/browser/events", json=later).json()["acked"] == 123
    assert ticket_seconds(client) == [2400]


def test_concurrent_posts_in_any_order_lose_nothing(client: httpx.Client) -> None:
    """Both batches posted at once from two threads, each resent while refused, as a client following the
    contract does: whichever order they land in, the ticket gets its 2400 s once."""
    first, later = forty_minutes(time.time() - 3000)
    answers: dict[str, int] = {}

    def post_until_applied(name: str, body: dict[str, Any]) -> None:
        with httpx.Client(base_url=client.base_url, headers=client.headers, timeout=30) as http:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                response = http.post("/api/v1/browser/events", json=body)
                if response.status_code == 200:
                    answers[name] = response.json()["acked"]
                    return
                assert response.status_code == 409 and response.json()["error"]["code"] == "seq_gap", response.text

    threads = [threading.Thread(target=post_until_applied, args=item) for item in (("later", later), ("first", first))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert answers["later"] == 123 and answers["first"] in (61, 123)
    assert ticket_seconds(client) == [2400]
