"""Exports: any filtered entry list or summary as CSV or XLSX, streamed, without a row cap.

CSV goes out page by page as the store yields it. XLSX is a zip that can only be finished at the end: its rows are
written page by page to a temporary file (XlsxWriter, constant memory), which is then streamed and removed.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Mapping
from pathlib import Path

from aiohttp import web

from daemon.api.entries import FILTERS, read_filter
from daemon.api.errors import ApiError
from daemon.api.routing import Route
from daemon.api.summary import PARAMS, summarize
from daemon.entries.export import ENTRY_COLUMNS, SUMMARY_COLUMNS, CsvWriter, XlsxFile, entry_cells, summary_cells
from daemon.services import SERVICES

__all__ = ["routes"]

CHUNK = 256 * 1024
TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def _format(q: Mapping[str, str]) -> str:
    fmt = q.get("format", "csv")
    if fmt not in TYPES:
        raise ApiError(400, "invalid_query", "format: csv or xlsx")
    return fmt


async def _start(request: web.Request, kind: str, fmt: str) -> web.StreamResponse:
    day = request.app[SERVICES].entries.today().isoformat()
    response = web.StreamResponse(
        headers={
            "Content-Type": TYPES[fmt],
            "Content-Disposition": f'attachment; filename="ticketclock-{kind}-{day}.{fmt}"',
            "Cache-Control": "no-store",
        }
    )
    await response.prepare(request)
    return response


async def _send_file(response: web.StreamResponse, path: Path) -> None:
    with path.open("rb") as f:
        while chunk := await asyncio.to_thread(f.read, CHUNK):
            await response.write(chunk)
    await response.write_eof()


async def export_entries(request: web.Request) -> web.StreamResponse:
    entries = request.app[SERVICES].entries
    fmt = _format(request.query)
    f = read_filter(request.query, entries, extra=frozenset({"format"}))
    tz = entries.zone
    if fmt == "csv":
        writer = CsvWriter()
        response = await _start(request, "entries", fmt)
        await response.write(writer.rows([ENTRY_COLUMNS]).encode())
        async for page in entries.store.every(f):
            await response.write(writer.rows(entry_cells(e, tz) for e in page).encode())
        await response.write_eof()
        return response
    with tempfile.TemporaryDirectory(prefix="ticketclock-export-") as tmp:
        path = Path(tmp) / "entries.xlsx"
        book = XlsxFile(path, "Entries")
        book.rows([ENTRY_COLUMNS])
        async for page in entries.store.every(f):
            book.rows(entry_cells(e, tz) for e in page)
        await asyncio.to_thread(book.close)
        response = await _start(request, "entries", fmt)
        await _send_file(response, path)
    return response


async def export_summary(request: web.Request) -> web.StreamResponse:
    entries = request.app[SERVICES].entries
    fmt = _format(request.query)
    query = {k: v for k, v in request.query.items() if k != "format"}
    unknown = set(query) - set(FILTERS) - {"group"}
    if unknown:
        raise ApiError(400, "invalid_query", f"unknown query parameter(s): {', '.join(sorted(unknown))}")
    summary = await summarize(entries, query, request.app[SERVICES].timers.open_entries())
    rows = [summary_cells(r.key, r.label, r.count, r.seconds, r.billed_seconds, r.buckets) for r in summary.rows]
    t = summary.totals
    rows.append(summary_cells("total", "Total", t.count, t.seconds, t.billed_seconds, t.buckets))
    if fmt == "csv":
        response = await _start(request, "summary", fmt)
        await response.write(CsvWriter().rows([SUMMARY_COLUMNS, *rows]).encode())
        await response.write_eof()
        return response
    with tempfile.TemporaryDirectory(prefix="ticketclock-export-") as tmp:
        path = Path(tmp) / "summary.xlsx"
        book = XlsxFile(path, "Summary")
        book.rows([SUMMARY_COLUMNS, *rows])
        await asyncio.to_thread(book.close)
        response = await _start(request, "summary", fmt)
        await _send_file(response, path)
    return response


_ENTRY_PARAMS = {k: v for k, v in FILTERS.items() if k not in ("limit", "offset")}

routes = [
    Route(
        "GET",
        "/api/v1/entries/export",
        export_entries,
        "Entries (any filter) as CSV or XLSX, streamed, every row",
        "entries",
        params={
            "format": "csv (default) or xlsx",
            **{k: v for k, v in FILTERS.items() if k not in ("limit", "offset")},
        },
    ),
    Route(
        "GET",
        "/api/v1/summary/export",
        export_summary,
        "A summary (any group and filter) as CSV or XLSX, with a total row",
        "entries",
        params={"format": "csv (default) or xlsx", **PARAMS},
    ),
]
