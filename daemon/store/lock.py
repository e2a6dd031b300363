"""One daemon per data folder: an exclusive lock on a file beside the database, held while the daemon runs.

SQLite in WAL mode lets a second process read and write the same database, so the database alone cannot tell
that another TicketClock is using it. The lock is released by the OS when the process ends, even on kill -9.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import IO

from daemon.private import make_private

__all__ = ["DataDirLock", "DataDirLocked"]


class DataDirLocked(Exception):
    pass


class DataDirLock:
    def __init__(self, folder: Path) -> None:
        self.path = folder / "ticketclock.lock"
        self._fh: IO[bytes] | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = os.fdopen(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600), "r+b")
        make_private(self.path)
        try:
            _lock(fh)
        except OSError:
            fh.close()
            raise DataDirLocked(
                f"another TicketClock is using {self.path.parent} (stop it, or give this one --data-dir)"
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()).encode())
        fh.flush()
        self._fh = fh

    def release(self) -> None:
        if self._fh is not None:
            try:
                _unlock(self._fh)
            finally:
                self._fh.close()
                self._fh = None


if sys.platform == "win32":  # pragma: no cover - Windows
    import msvcrt

    def _lock(fh: IO[bytes]) -> None:
        fh.seek(0)
        msvcrt.locking(fh.fileno(), msvcrt.LK_NBLCK, 1)

    def _unlock(fh: IO[bytes]) -> None:
        fh.seek(0)
        msvcrt.locking(fh.fileno(), msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _lock(fh: IO[bytes]) -> None:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)

    def _unlock(fh: IO[bytes]) -> None:
        fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
