"""Schema migrations: one ordered list, forward only, tracked with PRAGMA user_version.

Migration N (1-based) is MIGRATIONS[N - 1]. Never edit a released migration; append a new one.
Statements are separated by ";" at the end of a line.
"""

from __future__ import annotations

__all__ = ["MIGRATIONS"]

MIGRATIONS: list[str] = [
    # 1: foundation — settings kept by the daemon, paired clients.
    """
    CREATE TABLE meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE TABLE clients (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        origin TEXT,
        token_sha256 TEXT NOT NULL UNIQUE,
        created_at REAL NOT NULL,
        last_used_at REAL
    );
    """,
]
