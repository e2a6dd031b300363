"""Exports of entries and summaries: the columns, and the CSV and XLSX writers that the API and the CLI share.

Every text cell goes through `daemon.textsafe.csv_cell` (one rule: a cell a spreadsheet would read as a formula
gets a leading apostrophe; control characters are removed). Dates are ISO in the technician's zone, hours are
decimals with two places.

XLSX is written by XlsxWriter in `constant_memory` mode: each row is flushed to a temporary file as it is written,
so memory stays flat however many rows there are (openpyxl's write-only mode would do too; XlsxWriter is faster,
has no dependencies and is actively kept). Its string-to-formula/number/URL guessing is switched off: text stays
text.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from daemon.entries.model import BUCKETS, Entry
from daemon.textsafe import csv_cell

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo  # imported on first use (daemon.entries.periods.zone)

__all__ = ["ENTRY_COLUMNS", "SUMMARY_COLUMNS", "CsvWriter", "XlsxFile", "entry_cells", "summary_cells"]

Cell = str | float | int

ENTRY_COLUMNS = (
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
)
SUMMARY_COLUMNS = ("key", "label", "count", "hours", "billed_hours", *(f"{b}_hours" for b in BUCKETS))


def hours(seconds: int) -> float:
    return round(seconds / 3600, 2)


def entry_cells(e: Entry, tz: ZoneInfo) -> list[Cell]:
    start = datetime.fromtimestamp(e.started_at, tz)
    ticket = str(e.ticket_id) if e.ticket_id is not None else (e.ticket_number or "")
    return [
        start.date().isoformat(),
        start.isoformat(timespec="seconds"),
        datetime.fromtimestamp(e.ended_at, tz).isoformat(timespec="seconds"),
        hours(e.actual_seconds),
        hours(e.billed_seconds),
        e.company,
        e.instance,
        ticket,
        e.summary,
        e.task or "",
        e.work_type,
        e.billable,
        e.status,
        e.source,
        ";".join(e.psa_ids),
        e.notes,
        e.id,
        e.automation,
    ]


def summary_cells(key: str, label: str, count: int, seconds: int, billed: int, buckets: dict[str, int]) -> list[Cell]:
    return [key, label, count, hours(seconds), hours(billed), *(hours(buckets[b]) for b in BUCKETS)]


class CsvWriter:
    """Rows to CSV text, a batch at a time (for streaming)."""

    def __init__(self) -> None:
        self._buffer = io.StringIO()
        self._csv = csv.writer(self._buffer, lineterminator="\r\n")

    def rows(self, rows: Iterable[Sequence[Cell]]) -> str:
        for row in rows:
            self._csv.writerow(f"{c:.2f}" if isinstance(c, float) else csv_cell(c) for c in row)
        text = self._buffer.getvalue()
        self._buffer.seek(0)
        self._buffer.truncate()
        return text


class XlsxFile:
    """One worksheet written row by row to `path` (constant memory); `close` finishes the file."""

    def __init__(self, path: Path, sheet: str) -> None:
        import xlsxwriter  # ~40 ms: loaded by the first XLSX export, not by every daemon start

        self._book = xlsxwriter.Workbook(
            str(path),
            {
                "constant_memory": True,
                "strings_to_formulas": False,
                "strings_to_numbers": False,
                "strings_to_urls": False,
            },
        )
        self._sheet = self._book.add_worksheet(sheet)
        self._hours = self._book.add_format({"num_format": "0.00"})
        self._row = 0

    def rows(self, rows: Iterable[Sequence[Cell]]) -> None:
        for row in rows:
            for col, c in enumerate(row):
                if isinstance(c, float):
                    self._sheet.write_number(self._row, col, c, self._hours)
                elif isinstance(c, int):
                    self._sheet.write_number(self._row, col, c)
                else:
                    self._sheet.write_string(self._row, col, str(csv_cell(c)))
            self._row += 1

    def close(self) -> None:
        self._book.close()
