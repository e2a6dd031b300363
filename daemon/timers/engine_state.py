"""The timer engine's persisted state, its effects and errors, and the browser model's pure updates.

Everything here is a msgspec Struct that round-trips through `msgspec.json.encode/decode(..., type=EngineState)`.
New fields always get defaults; existing field types never change. The transitions live in `engine.py`, which
re-exports the names most callers need.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import msgspec

from daemon.timers.events import (
    BrowserEvent,
    Heartbeat,
    IdleChanged,
    Snapshot,
    TabActivated,
    TabClosed,
    TabOpened,
    TabUpdated,
    WindowFocused,
)
from daemon.timers.model import TicketRef
from daemon.timers.segments import Segment

__all__ = [
    "Billable",
    "Browser",
    "Effect",
    "EngineError",
    "EngineState",
    "FinalReason",
    "Finalized",
    "InvalidInput",
    "InvalidTransition",
    "Kind",
    "NoSuchTimer",
    "Notice",
    "OfflineStop",
    "PausedBy",
    "PendingIdle",
    "Recognize",
    "Suppression",
    "Tab",
    "Timer",
    "TimerStateName",
    "TooManyTimers",
    "attended_key",
    "shown_tickets",
    "update_browser",
]

Kind = Literal["auto", "manual"]
TimerStateName = Literal["running", "paused", "closing", "stopped"]
PausedBy = Literal["user", "attention", "idle", "offline", "restart"]
Billable = Literal["agreement", "yes", "no"]
FinalReason = Literal["closed", "stopped", "discarded", "evicted", "long_run", "offline"]
Suppression = Literal["user", "evicted", "long_run"]
"""Why a shown ticket gets no auto timer: stopped or discarded by the user, evicted, or past the long-run cap."""
Recognize = Callable[[str, str, str | None], TicketRef | None]


# --- errors ---------------------------------------------------------------------------------------------------


class EngineError(Exception):
    code = "engine_error"


class NoSuchTimer(EngineError):
    code = "no_such_timer"


class TooManyTimers(EngineError):
    code = "too_many_timers"


class InvalidTransition(EngineError):
    code = "invalid_transition"


class InvalidInput(EngineError):
    code = "invalid_input"


# --- state ----------------------------------------------------------------------------------------------------


class Tab(msgspec.Struct, kw_only=True):
    window: int
    url: str
    title: str = ""
    page_ticket: str | None = None
    ticket: TicketRef | None = None


class Browser(msgspec.Struct, kw_only=True):
    tabs: dict[int, Tab] = {}
    active: dict[int, int] = {}
    """Window id -> its active tab id (possibly a tab the daemon was never told about)."""
    focused_window: int = -1
    """The last focused window; losing focus (-1) does not change it."""
    idle: Literal["active", "idle", "locked"] = "active"
    idle_since: float | None = None
    attended: str | None = None
    """Ticket key attended as of the last event."""


class OfflineStop(msgspec.Struct, kw_only=True):
    """What an offline stop undoes if the browser turns out to have been there all along."""

    state: Literal["running", "paused", "closing"]
    paused_by: PausedBy | None = None
    closing_since: float | None = None
    reopen_from: float | None = None


class Timer(msgspec.Struct, kw_only=True):
    id: str
    slot: int
    colour: str
    colour_custom: bool = False
    kind: Kind
    ticket: TicketRef | None = None
    task: str | None = None
    state: TimerStateName = "running"
    paused_by: PausedBy | None = None
    segments: list[Segment] = []
    notes: str = ""
    internal_notes: str = ""
    billable: Billable = "agreement"
    work_type: str = ""
    started_at: float
    last_attended: float
    closing_since: float | None = None
    stopped_at: float | None = None
    flags: list[str] = []
    stopped_by_offline: bool = False
    offline_prev: OfflineStop | None = None
    forced_run: bool = False
    """Resumed by the user while not attended (focus mode): runs until attention changes."""


class PendingIdle(msgspec.Struct, kw_only=True):
    since: float
    until: float | None = None
    timers: list[str] = []


class EngineState(msgspec.Struct, kw_only=True):
    version: int = 1
    next_id: int = 1
    timers: list[Timer] = []
    browser: Browser = msgspec.field(default_factory=Browser)
    browser_seen: float | None = None
    idle_pending: PendingIdle | None = None
    suppressed: dict[str, Suppression] = {}
    """Ticket keys that get no auto timer for now, and why."""
    refused: list[str] = []
    """Ticket keys already told that the limit refused them (one notice each)."""
    finalized_ids: list[str] = []


# --- effects --------------------------------------------------------------------------------------------------


class Finalized(msgspec.Struct, tag="finalized", tag_field="type", kw_only=True):
    timer: Timer
    reason: FinalReason


class Notice(msgspec.Struct, tag="notice", tag_field="type", kw_only=True):
    code: str
    message: str
    timer_id: str | None = None


Effect = Finalized | Notice


# --- browser model ------------------------------------------------------------------------------------------


def shown_tickets(b: Browser) -> dict[str, TicketRef]:
    out: dict[str, TicketRef] = {}
    for tab_id in sorted(b.tabs):
        ticket = b.tabs[tab_id].ticket
        if ticket is not None and ticket.key not in out:
            out[ticket.key] = ticket
    return out


def attended_key(b: Browser) -> str | None:
    if b.idle != "active":
        return None
    tab_id = b.active.get(b.focused_window)
    if tab_id is None:
        return None
    tab = b.tabs.get(tab_id)
    if tab is None or tab.ticket is None:
        return None
    return tab.ticket.key


def update_browser(state: EngineState, event: BrowserEvent, recognize: Recognize) -> None:
    b = state.browser
    match event:
        case TabOpened() | TabUpdated():
            old = b.tabs.get(event.tab)
            window = event.window if event.window >= 0 or old is None else old.window
            b.tabs[event.tab] = Tab(
                window=window,
                url=event.url,
                title=event.title,
                page_ticket=event.page_ticket,
                ticket=recognize(event.url, event.title, event.page_ticket),
            )
            if isinstance(event, TabOpened) and event.active:
                b.active[window] = event.tab
                if b.focused_window < 0:
                    b.focused_window = window
        case TabActivated():
            known = b.tabs.get(event.tab)
            if known is not None and event.window >= 0:
                known.window = event.window
            window = event.window if event.window >= 0 or known is None else known.window
            b.active[window] = event.tab
            if b.focused_window < 0:
                b.focused_window = window
        case TabClosed():
            b.tabs.pop(event.tab, None)
            b.active = {w: t for w, t in b.active.items() if t != event.tab}
        case WindowFocused():
            if event.window >= 0:
                b.focused_window = event.window
        case Snapshot():
            b.tabs = {}
            b.active = {}
            for info in event.tabs:
                b.tabs[info.tab] = Tab(
                    window=info.window,
                    url=info.url,
                    title=info.title,
                    page_ticket=info.page_ticket,
                    ticket=recognize(info.url, info.title, info.page_ticket),
                )
                if info.active:
                    b.active[info.window] = info.tab
            windows = {tab.window for tab in b.tabs.values()} | set(b.active)
            if event.focused_window >= 0:
                b.focused_window = event.focused_window
            elif b.focused_window not in windows:
                b.focused_window = min(b.active) if b.active else -1
        case IdleChanged() | Heartbeat():
            pass
