"""ConnectWise PSA look-alike for tests, benchmarks and the demo (see app.py)."""

from daemon.sandbox.connectwise.app import API_PREFIX, CW_STORE, create_app, demo_instance, stored_entries
from daemon.sandbox.connectwise.pages import spa_hash, ticket_urls
from daemon.sandbox.connectwise.store import SEED, CwStore

__all__ = [
    "API_PREFIX",
    "CW_STORE",
    "SEED",
    "CwStore",
    "create_app",
    "demo_instance",
    "spa_hash",
    "stored_entries",
    "ticket_urls",
]
