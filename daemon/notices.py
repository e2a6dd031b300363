"""Notices: what changed billed time without the user's hand, kept until the user has read it.

The timer engine emits `Notice(code, message, timer_id)` effects (eviction at the limit of 9, browser offline, restart
recovery, long-run hold, idle dropped or expired, …). The timer service records them here in the same transaction
as the engine state that caused them, then pushes each to WebSocket clients as a `NoticePush`. The API lists them
(newest first, read or not) and marks them read. Any code and text is stored as it comes; `ALERT_CODES` is the one
place that decides which of them change billed time and so raise a browser notification.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from daemon.clock import Clock
from daemon.store import Database, Transaction
from daemon.store.notices import NoticeRow, NoticeStore

__all__ = ["ALERT_CODES", "NoticeList", "NoticePush", "NoticeService", "NoticeView", "alerts"]

ALERT_CODES: frozenset[str] = frozenset(
    {"evicted", "limit_reached", "browser_offline", "restart", "long_run", "idle_dropped", "idle_expired"}
)
"""Notice codes that change billed time: the extension raises a browser notification for these."""


def alerts(code: str) -> bool:
    """Whether a notice with this code changes billed time (and so deserves a browser notification)."""
    return code in ALERT_CODES


class NoticeView(msgspec.Struct, kw_only=True):
    id: int
    at: float
    code: str
    """evicted, limit_reached, browser_offline, restart, long_run, idle_dropped, idle_expired (and any new kind)."""
    message: str
    timer_id: str | None = None
    alert: bool
    """It changed billed time: worth a browser notification."""
    read: bool


class NoticeList(msgspec.Struct, kw_only=True):
    notices: list[NoticeView]
    """Newest first."""
    unread: int


class NoticePush(msgspec.Struct, tag="notice", tag_field="type", kw_only=True):
    """Pushed on the WebSocket when a notice is recorded."""

    notice: NoticeView
    unread: int


def _view(row: NoticeRow) -> NoticeView:
    notice_id, at, code, message, timer_id, read_at = row
    return NoticeView(
        id=notice_id, at=at, code=code, message=message, timer_id=timer_id, alert=alerts(code), read=read_at is not None
    )


class NoticeService:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._store = NoticeStore(db)
        self._clock = clock

    @staticmethod
    async def record(
        tx: Transaction, notices: Sequence[tuple[float, str, str, str | None]]
    ) -> tuple[list[NoticeView], int]:
        """Store (at, code, message, timer_id) notices in the open transaction; returns them and the unread total."""
        rows = await NoticeStore.add(tx, notices)
        return [_view(r) for r in rows], await NoticeStore.unread_in(tx)

    async def list(self, *, unread_only: bool = False, limit: int = 50) -> NoticeList:
        rows = await self._store.list(unread_only=unread_only, limit=limit)
        return NoticeList(notices=[_view(r) for r in rows], unread=await self._store.unread())

    async def mark_read(self, *, up_to: int | None = None, ids: Sequence[int] = ()) -> NoticeList:
        await self._store.mark_read(up_to=up_to, ids=ids, at=self._clock.now())
        return await self.list(unread_only=True)
