"""The team server's storage: all of its SQL, the only importer of asyncpg."""

from daemon.server.store import (
    admin,
    audit,
    decisions,
    devices,
    entries,
    integrations,
    outbox,
    people,
    psa,
    sessions,
    signins,
    team,
)
from daemon.server.store.db import SchemaTooNew, ServerDatabase, ServerStoreError, Tx

__all__ = [
    "SchemaTooNew",
    "ServerDatabase",
    "ServerStoreError",
    "Tx",
    "admin",
    "audit",
    "decisions",
    "devices",
    "entries",
    "integrations",
    "outbox",
    "people",
    "psa",
    "sessions",
    "signins",
    "team",
]
