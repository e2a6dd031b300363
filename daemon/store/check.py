"""A read-only health check of a database file for `ticketclock doctor`, without opening it for writing."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from daemon.store.migrations import MIGRATIONS

__all__ = ["check_database"]


def check_database(path: Path) -> str:
    """ "ok", or what is wrong with the file at `path` (damaged, unreadable, written by a newer version)."""
    try:
        conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
        try:
            result = conn.execute("PRAGMA quick_check").fetchone()[0]
            version = conn.execute("PRAGMA user_version").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error as exc:
        text = str(exc).lower()
        damaged = "not a database" in text or "malformed" in text or "corrupt" in text
        return f"{'damaged' if damaged else 'unreadable'} ({exc})"
    if result != "ok":
        return f"damaged ({result})"
    if version > len(MIGRATIONS):
        return f"written by a newer TicketClock (schema {version})"
    return "ok"
