"""The team server's storage: all of its SQL, the only importer of asyncpg."""

from daemon.server.store import audit, decisions, devices, entries, outbox, people, sessions
from daemon.server.store.db import SchemaTooNew, ServerDatabase, ServerStoreError, Tx

__all__ = [
    "SchemaTooNew",
    "ServerDatabase",
    "ServerStoreError",
    "Tx",
    "audit",
    "decisions",
    "devices",
    "entries",
    "outbox",
    "people",
    "sessions",
]
