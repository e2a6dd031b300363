"""Storage: all SQL lives in this package."""

from daemon.store.db import Database, StoreCorrupt, StoreError, StoreLocked, StoreTooNew, StoreUnwritable, Transaction

__all__ = ["Database", "StoreCorrupt", "StoreError", "StoreLocked", "StoreTooNew", "StoreUnwritable", "Transaction"]
