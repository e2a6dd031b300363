"""`ticketclock entries` names a task entry by its task even when the task posts to a PSA (its entry then has an
instance): real CLI subprocesses against a real daemon subprocess."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.daemon.test_cli_timers import api, ok
from tests.support import spawn_daemon, stop_process

pytestmark = pytest.mark.slow

CONFIG = """
[[instances]]
name = "acme-cw"
kind = "connectwise"
api_url = "http://127.0.0.1:9"
options = { member = "jdoe" }

[[tasks]]
name = "Admin"
post = { instance = "acme-cw", charge_code = 12 }
"""


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "home"
    (folder / "config").mkdir(parents=True)
    config = folder / "config" / "config.toml"
    config.write_text(CONFIG, encoding="utf-8")
    proc = spawn_daemon(folder)
    config.write_text(f"port = {proc.port}\n{CONFIG}", encoding="utf-8")
    try:
        yield folder
    finally:
        stop_process(proc)


def test_entries_names_a_posting_task_by_its_task(home: Path) -> None:
    now = time.time()
    with api(home) as http:
        made = http.post("/api/v1/entries", json={"task": "Admin", "started_at": now - 3600, "ended_at": now - 1800})
    assert made.status_code == 201, made.text
    entry = made.json()
    assert (entry["instance"], entry["status"]) == ("acme-cw", "queued")  # no credentials: it waits in the outbox
    line = next(x for x in ok(home, "entries").splitlines() if x.startswith(entry["id"][:8]))
    assert "Admin" in line and "#None" not in line, line
