"""Storage: all SQL lives in this package, and only it imports aiosqlite.

Services see `Database.transaction()` (`async with db.transaction() as tx`) and the store classes (`EntryStore`,
`OutboxStore`, `NoticeStore`, `EngineStore`, `ClientStore`), whose methods take and return domain types; writes that
must commit together take the open `tx`. A PostgreSQL store would provide the same classes and its own `Transaction`.
"""

from daemon.store.db import Database, StoreCorrupt, StoreError, StoreLocked, StoreTooNew, StoreUnwritable, Transaction

__all__ = ["Database", "StoreCorrupt", "StoreError", "StoreLocked", "StoreTooNew", "StoreUnwritable", "Transaction"]
