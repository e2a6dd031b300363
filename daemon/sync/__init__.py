"""The team sync (issue 13): this daemon's entries up to the team server it joined, the team's decisions down."""

from daemon.store.sync import SyncState
from daemon.sync.service import CREDENTIAL_KEY, SyncService

__all__ = ["CREDENTIAL_KEY", "SyncService", "SyncState"]
