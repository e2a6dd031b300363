"""Exports over real HTTP on a real daemon and SQLite file: CSV and XLSX (parsed with openpyxl) hold every entry the
filter selects, past any page size, in the user's zone, formulas escaped, and agree with the API. The CLI's
`entries --csv` (a real subprocess) pages through all of them with the same writer."""

from __future__ import annotations

import asyncio
import csv
import io
import random
import sys
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import openpyxl
import pytest

from daemon.clock import FakeClock
from daemon.entries.model import STATUSES, Segment
from daemon.entries.service import NewEntry
from daemon.services import SERVICES
from daemon.textsafe import csv_cell
from daemon.timers.model import TicketRef
from tests.support import RunningDaemon, assert_api_error, daemon_env, make_settings, start_daemon

CONFIG = """
timezone = "Europe/Berlin"
user_name = "pia"

[[instances]]
name = "halo"
kind = "halopsa"
origins = ["https://acme.halopsa.com"]
"""
BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=BERLIN).timestamp()
EVIL = ["=SUM(A1:A9)", "+1", "-2", "@cmd", "\t=x", '=HYPERLINK("http://evil.example")', "plain", ""]
COLUMNS = [
    "date",
    "start",
    "end",
    "hours",
    "billed_hours",
    "company",
    "instance",
    "ticket",
    "summary",
    "task",
    "work_type",
    "billable",
    "status",
    "source",
    "psa_id",
    "notes",
    "id",
    "automation",
]


async def generate(d: RunningDaemon, n: int, seed: int = 7) -> None:
    rnd = random.Random(seed)
    service = d.app[SERVICES].entries
    made = []
    for i in range(n):
        start = NOW - 120 * 86400 + i * (115 * 86400 / n) + rnd.uniform(0, 600)  # the past 4 months
        ticket = TicketRef(instance="halo", kind="halopsa", id=rnd.choice([4711, 88])) if i % 3 else None
        new = NewEntry(
            source=rnd.choice(["timer", "manual", "automation"]),
            segments=[Segment(start, start + rnd.choice([60, 900, 3601, 5400]))],
            ticket=ticket,
            task=None if ticket else rnd.choice(["Admin", EVIL[0]]),
            company=rnd.choice(["Contoso", *EVIL]),
            summary=rnd.choice(EVIL),
            notes=rnd.choice(EVIL),
            work_type=rnd.choice(["", "Remote"]),
        )
        entry, audit = service.build(new, NOW)
        entry.status = rnd.choice([s for s in STATUSES if s != "open"])  # type: ignore[assignment]
        entry.psa_ids = [str(1000 + i)] if entry.status == "posted" else []
        made.append((entry, audit))
    async with d.app[SERVICES].db.transaction() as tx:
        for entry, audit in made:
            await service.store.insert(tx, entry, audit)


@pytest.fixture(autouse=True)
def _now(fake_clock: FakeClock) -> None:
    fake_clock.set(NOW)


async def every_entry(d: RunningDaemon, query: dict[str, str]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    while True:
        r = await d.http.get("/api/v1/entries", params={**query, "limit": "5000", "offset": str(len(found))})
        assert r.status_code == 200, r.text
        found += r.json()["entries"]
        if len(r.json()["entries"]) < 5000:
            return found


def expected_row(e: dict[str, Any]) -> list[Any]:
    """What an export row must say for an entry as the API gives it (text cells through the one textsafe rule)."""
    start = datetime.fromtimestamp(e["started_at"], BERLIN)
    ticket = str(e["ticket_id"]) if e["ticket_id"] is not None else (e["ticket_number"] or "")
    texts = [e["company"], e["instance"], ticket, e["summary"], e["task"] or ""]
    texts += [e["work_type"], e["billable"], e["status"]]
    return [
        start.date().isoformat(),
        start.isoformat(timespec="seconds"),
        datetime.fromtimestamp(e["ended_at"], BERLIN).isoformat(timespec="seconds"),
        round(e["actual_seconds"] / 3600, 2),
        round(e["billed_seconds"] / 3600, 2),
        *(csv_cell(t) for t in texts),
        e["source"],
        ";".join(e["psa_ids"]),
        csv_cell(e["notes"]),
        e["id"],
        csv_cell(e["automation"]),
    ]


def csv_rows(text: str) -> list[list[Any]]:
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows[0] == COLUMNS
    return [[*r[:3], float(r[3]), float(r[4]), *r[5:]] for r in rows[1:]]


async def test_csv_and_xlsx_hold_every_entry(tc: RunningDaemon) -> None:
    await generate(tc, 2600)  # more than the API's page (5000 max, 500 default) and the store's page (2000)
    entries = await every_entry(tc, {})
    assert len(entries) == 2600
    want = [expected_row(e) for e in entries]

    r = await tc.http.get("/api/v1/entries/export", params={"format": "csv"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    assert r.headers["content-disposition"] == 'attachment; filename="ticketclock-entries-2026-11-30.csv"'
    got = csv_rows(r.text)
    assert got == want
    for row in got:
        for cell in row:
            assert not (isinstance(cell, str) and cell.startswith(("=", "+", "-", "@", "\t", "\r"))), row

    r = await tc.http.get("/api/v1/entries/export", params={"format": "xlsx"})
    assert r.status_code == 200
    assert r.headers["content-disposition"] == 'attachment; filename="ticketclock-entries-2026-11-30.xlsx"'
    book = openpyxl.load_workbook(io.BytesIO(r.content), read_only=True)
    sheet = list(book.active.iter_rows(values_only=True))  # type: ignore[union-attr]
    assert list(sheet[0]) == COLUMNS
    assert [[c if c is not None else "" for c in row] for row in sheet[1:]] == want
    assert all(isinstance(row[3], (int, float)) for row in sheet[1:])  # hours are numbers in the sheet


async def test_exports_take_the_entry_filters(tc: RunningDaemon) -> None:
    await generate(tc, 400)
    for query in (
        {"company": "Contoso"},
        {"status": "posted,failed"},
        {"bucket": "pending", "kind": "task"},
        {"period": "2026-10-05", "ticket": "4711"},
        {"day": "2026-10-02", "source": "manual"},
    ):
        entries = await every_entry(tc, query)
        assert entries, query
        r = await tc.http.get("/api/v1/entries/export", params={**query, "format": "csv"})
        assert csv_rows(r.text) == [expected_row(e) for e in entries], query


async def test_summary_export_matches_the_summary(tc: RunningDaemon) -> None:
    await generate(tc, 300)
    query = {"group": "company", "from": "2026-10-01", "to": "2026-12-01"}
    summary = (await tc.http.get("/api/v1/summary", params=query)).json()
    r = await tc.http.get("/api/v1/summary/export", params={**query, "format": "xlsx"})
    assert r.status_code == 200
    rows = list(openpyxl.load_workbook(io.BytesIO(r.content), read_only=True).active.iter_rows(values_only=True))  # type: ignore[union-attr]
    assert rows[0][:5] == ("key", "label", "count", "hours", "billed_hours")
    body = rows[1:-1]
    assert [(row[0] or "", row[2], row[3]) for row in body] == [
        (csv_cell(x["key"]), x["count"], round(x["seconds"] / 3600, 2)) for x in summary["rows"]
    ]
    assert rows[-1][:3] == ("total", "Total", summary["totals"]["count"])
    csv_text = (await tc.http.get("/api/v1/summary/export", params={**query, "format": "csv"})).text
    assert len(list(csv.reader(io.StringIO(csv_text)))) == len(summary["rows"]) + 2


@pytest.mark.parametrize(
    "query", [{"format": "pdf"}, {"format": "csv", "colour": "red"}, {"format": "csv", "limit": "x"}]
)
async def test_bad_export_queries_are_400(tc: RunningDaemon, query: dict[str, str]) -> None:
    assert_api_error(await tc.http.get("/api/v1/entries/export", params=query), 400, "invalid_query")
    if "limit" not in query:
        assert_api_error(await tc.http.get("/api/v1/summary/export", params=query), 400, "invalid_query")


# --- the CLI ---------------------------------------------------------------------------------------------------


@pytest.fixture
async def home_daemon(tmp_path: Path, fake_clock: FakeClock) -> AsyncIterator[tuple[Path, RunningDaemon]]:
    home = tmp_path / "home"
    d = await start_daemon(make_settings(home, config_text=CONFIG), clock=fake_clock)
    try:
        yield home, d
    finally:
        await d.stop()


@pytest.mark.slow
async def test_cli_entries_csv_pages_through_everything(home_daemon: tuple[Path, RunningDaemon]) -> None:
    home, d = home_daemon
    await generate(d, 5200)  # past the API's 500 default and its 5000 limit
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "daemon",
        "entries",
        "--csv",
        "--port",
        str(d.port),
        env=daemon_env(home),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, err.decode()
    exported = (await d.http.get("/api/v1/entries/export", params={"format": "csv"})).text
    cli_text = out.decode("utf-8")
    assert len(csv_rows(cli_text)) == 5200
    assert cli_text.replace("\r\n", "\n") == exported.replace("\r\n", "\n")
