"""The timer engine's persisted state, its effects and errors, and the browser model's pure updates.

Everything here is a msgspec Struct that round-trips through `msgspec.json.encode/decode(..., type=EngineState)`.
New fields always get defaults; existing field types never change; defaults never change either, because the
persisted state omits fields at their default (`omit_defaults`: the part rewritten by every event stays small).
The transitions live in `engine.py`, which re-exports the names most callers need.
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
    "InstallView",
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
    "adopt_legacy_view",
    "attended_key",
    "owners",
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


class Tab(msgspec.Struct, kw_only=True, omit_defaults=True):
    window: int
    url: str
    title: str = ""
    page_ticket: str | None = None
    ticket: TicketRef | None = None


class Browser(msgspec.Struct, kw_only=True, omit_defaults=True):
    """What holds for the whole machine: idleness and the attended ticket.

    `tabs`, `active` and `focused_window` are the layout from before browsers were kept per install; a state
    that still has them moves them into `EngineState.installs` on first use (`adopt_legacy_view`)."""

    tabs: dict[int, Tab] = {}
    active: dict[int, int] = {}
    focused_window: int = -1
    idle: Literal["active", "idle", "locked"] = "active"
    idle_since: float | None = None
    attended: str | None = None
    """Ticket key attended as of the last event."""


class InstallView(msgspec.Struct, kw_only=True, dict=True, omit_defaults=True):
    """One browser install's view (Chrome and Edge, or two profiles, each have one): tab ids are its own.

    `dict=True` only gives `_shown_by` (below) somewhere to cache the tickets its tabs show; never encoded.
    """

    tabs: dict[int, Tab] = {}
    active: dict[int, int] = {}
    """Window id -> its active tab id (possibly a tab the daemon was never told about)."""
    focused_window: int = -1
    """The last focused window; losing focus (-1) does not change it."""
    focused_at: float | None = None
    """When (the event's own time) this install last reported a focused window: the latest across installs has
    attention, so a focus change queued in one browser and delivered late does not outrank a newer one."""
    seen: float | None = None
    """Browser time of its last event."""
    offline: bool = False
    """Silent too long (set by `tick`): its tabs show nothing until it speaks again."""


class OfflineStop(msgspec.Struct, kw_only=True, omit_defaults=True):
    """What an offline stop undoes if the browser turns out to have been there all along."""

    state: Literal["running", "paused", "closing"]
    paused_by: PausedBy | None = None
    closing_since: float | None = None
    reopen_from: float | None = None
    installs: list[str] = []
    """The silent installs that showed the ticket; an event from one of them settles the stop (empty: any)."""


class Timer(msgspec.Struct, kw_only=True, omit_defaults=True):
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
    billable: Billable | None = None
    """None: not chosen; the rules' billable default decides when the entry is made (daemon/rules)."""
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
    board: str = ""
    """The ticket's board / queue / team, once its PSA look-up gave it (set by the service; reaches the entry)."""
    long_run_s: int | None = None
    """This timer's long-run cap where the rules scoped to its context (instance, company/tags, board) set one that
    differs from `timing.long_run_s`; None: the config's. Set by the service, read by the engine (`check_cap`)."""


class PendingIdle(msgspec.Struct, kw_only=True, omit_defaults=True):
    since: float
    until: float | None = None
    timers: list[str] = []


class EngineState(msgspec.Struct, kw_only=True, dict=True, omit_defaults=True):
    """`dict=True` only gives `shown_tickets` somewhere to cache its answer; never encoded."""

    version: int = 1
    next_id: int = 1
    timers: list[Timer] = []
    browser: Browser = msgspec.field(default_factory=Browser)
    browser_seen: float | None = None
    """Browser time of the latest event from any install (browser time never goes back)."""
    installs: dict[str, InstallView] = {}
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


def shown_tickets(state: EngineState, *, everywhere: bool = False) -> dict[str, TicketRef]:
    """Tickets shown in a tab of any install that is not offline (of any install at all with `everywhere`), in
    install then tab-id order (the first tab of a ticket names it); read-only.

    Every browser event asks for it, with several installs of many tabs each, and most events change no tabs: the
    answer is cached with the per-install answers (`_shown_by`, themselves cached until their tabs change) it was
    merged from, and given again while they are the same objects in the same order."""
    parts = [_shown_by(view) for name, view in sorted(state.installs.items()) if everywhere or not view.offline]
    slot = "_shown_everywhere" if everywhere else "_shown_online"
    cached: tuple[list[dict[str, TicketRef]], dict[str, TicketRef]] | None = state.__dict__.get(slot)
    if (
        cached is not None
        and len(cached[0]) == len(parts)
        and all(a is b for a, b in zip(cached[0], parts, strict=True))
    ):
        return cached[1]
    out: dict[str, TicketRef] = {}
    for shown in parts:
        if not out:
            out.update(shown)
            continue
        for key, ticket in shown.items():
            out.setdefault(key, ticket)
    state.__dict__[slot] = (parts, out)
    return out


def _shown_by(view: InstallView) -> dict[str, TicketRef]:
    """The tickets one install's tabs show, in tab-id order; read-only. Every browser event asks for it and few
    change the tabs, so it is cached with the tabs dict it was made from until `_tabs_changed` (or the dict is
    replaced)."""
    cached: tuple[dict[int, Tab], dict[str, TicketRef]] | None = view.__dict__.get("_shown")
    if cached is not None and cached[0] is view.tabs:
        return cached[1]
    out: dict[str, TicketRef] = {}
    tabs = view.tabs
    for tab_id in sorted(tabs):
        ticket = tabs[tab_id].ticket
        if ticket is not None:
            out.setdefault(ticket.key, ticket)
    view.__dict__["_shown"] = (tabs, out)
    return out


def _tabs_changed(view: InstallView) -> None:
    """Call after adding, replacing or removing one of `view.tabs` in place."""
    view.__dict__.pop("_shown", None)


def owners(state: EngineState, key: str) -> list[str]:
    """The installs with a tab showing ticket `key` (offline ones included)."""
    return [
        name
        for name in sorted(state.installs)
        if any(tab.ticket is not None and tab.ticket.key == key for tab in state.installs[name].tabs.values())
    ]


def attended_key(state: EngineState) -> str | None:
    """The ticket in the active tab of the most recently focused window across installs (None while idle)."""
    if state.browser.idle != "active":
        return None
    focused = [
        (v.focused_at or 0.0, name) for name, v in state.installs.items() if not v.offline and v.focused_window >= 0
    ]
    if not focused:
        return None
    view = state.installs[max(focused)[1]]
    tab_id = view.active.get(view.focused_window)
    if tab_id is None:
        return None
    tab = view.tabs.get(tab_id)
    if tab is None or tab.ticket is None:
        return None
    return tab.ticket.key


def adopt_legacy_view(state: EngineState, install: str | None) -> None:
    """Move a pre-install browser view into `installs` (as `install`, or "" until one speaks); rename "" then."""
    b = state.browser
    if b.tabs or b.active or b.focused_window >= 0:
        state.installs[""] = InstallView(
            tabs=b.tabs,
            active=b.active,
            focused_window=b.focused_window,
            focused_at=state.browser_seen,
            seen=state.browser_seen,
        )
        b.tabs, b.active, b.focused_window = {}, {}, -1
    if install is not None and install != "" and "" in state.installs and install not in state.installs:
        state.installs[install] = state.installs.pop("")
        for tm in state.timers:
            if tm.offline_prev is not None:
                tm.offline_prev.installs = [install if i == "" else i for i in tm.offline_prev.installs]


def update_browser(state: EngineState, install: str, event: BrowserEvent, recognize: Recognize, t: float) -> None:
    """Apply one event of `install` to its own view at browser time `t`; other installs' views are untouched."""
    b = state.installs.setdefault(install, InstallView())
    b.seen = t
    b.offline = False
    match event:
        case TabOpened() | TabUpdated():
            _tab_changed(state, b, event, recognize, t)
        case TabActivated():
            _tab_activated(state, b, event, t)
        case TabClosed():
            b.tabs.pop(event.tab, None)
            _tabs_changed(b)
            b.active = {w: tab for w, tab in b.active.items() if tab != event.tab}
        case WindowFocused():
            if event.window >= 0:
                b.focused_window = event.window
                b.focused_at = event.at
        case Snapshot():
            _snapshot(state, b, event, recognize, t)
        case IdleChanged() | Heartbeat():
            pass


def _tab_changed(
    state: EngineState, b: InstallView, event: TabOpened | TabUpdated, recognize: Recognize, t: float
) -> None:
    old = b.tabs.get(event.tab)
    window = event.window if event.window >= 0 or old is None else old.window
    b.tabs[event.tab] = Tab(
        window=window,
        url=event.url,
        title=event.title,
        page_ticket=event.page_ticket,
        ticket=recognize(event.url, event.title, event.page_ticket),
    )
    _tabs_changed(b)
    if isinstance(event, TabOpened) and event.active:
        b.active[window] = event.tab
        if b.focused_window < 0:
            _focus_implicitly(state, b, window, t)


def _tab_activated(state: EngineState, b: InstallView, event: TabActivated, t: float) -> None:
    known = b.tabs.get(event.tab)
    if known is not None and event.window >= 0:
        known.window = event.window
    window = event.window if event.window >= 0 or known is None else known.window
    b.active[window] = event.tab
    if b.focused_window < 0:
        _focus_implicitly(state, b, window, t)


def _snapshot(state: EngineState, b: InstallView, event: Snapshot, recognize: Recognize, t: float) -> None:
    """The install's whole layout replaces its view; focus is kept or inferred when the snapshot names none."""
    b.tabs = {}
    b.active = {}
    _tabs_changed(b)
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
        b.focused_at = event.at
    elif b.focused_window not in windows:
        b.focused_window = -1
        if b.active:
            _focus_implicitly(state, b, min(b.active), t)


def _focus_implicitly(state: EngineState, b: InstallView, window: int, t: float) -> None:
    """A window counts as focused without a focus event (none was ever reported for this install). It takes
    attention only if no other install has a focused window: a browser starting in the background must not."""
    b.focused_window = window
    others = any(v is not b and not v.offline and v.focused_window >= 0 for v in state.installs.values())
    if not others:
        b.focused_at = t
