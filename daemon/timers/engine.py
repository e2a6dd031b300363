"""The timer engine: a pure state machine from browser facts and user commands to timers (DESIGN.md §4).

No clock, no I/O. The service loads `EngineState` (msgspec JSON), calls one entry point, persists the state and the
returned effects in one transaction, then acknowledges. Every entry point takes the time as an argument; functions
mutate the state passed in and return effects. Same inputs, same outputs (timer ids come from `next_id`).
The persisted shapes, effects and errors live in `engine_state.py` (re-exported here); segment arithmetic in
`segments.py`.

Entry points
    apply_event(state, event, *, cfg, recognize, install="") -> list[Effect]   one event of one install
    tick(state, now, cfg, *, allow_offline) -> list[Effect]             time-driven transitions
    recover(state, daemon_seen, now) -> list[Effect]                    once at start after a crash
    start_manual(state, now, cfg, *, ticket=None, task=None, notes="", billable=None, work_type="")
        -> tuple[Timer, list[Effect]]
    pause(state, timer_id, now) -> list[Effect]
    resume(state, timer_id, now, cfg) -> list[Effect]
    stop(state, timer_id, now, cfg) -> list[Effect]
    discard(state, timer_id, now) -> list[Effect]
    finish(state, timer_id, now, cfg) -> list[Effect]                  "finish now": end a closed ticket's window
    edit(state, timer_id, *, notes=None, internal_notes=None, billable=None, work_type=None, colour=None) -> Timer
    resolve_idle(state, keep, now) -> list[Effect]
    views(state, now) -> list[TimerView];  idle_pending_view(state) -> IdlePending | None
    held(state, now, cfg) -> list[tuple[Timer, float | None]]          closed tickets whose entry is not final yet
    elapsed(timer, state, now) -> float

Errors (a failing command leaves the state unchanged)
    EngineError
     ├── NoSuchTimer          no timer with that id
     ├── TooManyTimers        a manual timer would be the 10th live one
     ├── InvalidTransition    e.g. resume a running timer, act on a finalized one, no away time to decide
     └── InvalidInput         e.g. start_manual with neither ticket nor task, or both; a bad colour

Effects
    Finalized(timer, reason)  the timer is over and leaves the state; reasons: closed, stopped, discarded, evicted,
                              long_run, offline. The service turns it into an entry.
    Notice(code, message, timer_id)  something to tell the user: evicted, limit_reached, long_run, idle_dropped,
                              idle_expired, browser_offline, restart.

Time
    Browser events carry browser time `at`; it never goes back (`at` before `browser_seen` counts as
    `browser_seen`). Auto timers are credited only up to `browser_seen`; manual timers up to daemon `now`.
    Auto-timer grace and merge windows are judged on browser time: an event at t expires them, and `tick` only
    re-checks them at `browser_seen`, so events queued by a disconnected extension replay exactly as if they had
    arrived live. While the browser is silent the daemon decides nothing for it except the offline stop (rule 12)
    and, after 2 h of silence (OFFLINE_FINALIZE_S), finalizing its stopped timers.

Several browsers (installs)
    Chrome and Edge, or two profiles, are separate installs with their own tab and window ids. Each has its own
    view (`EngineState.installs`): its events, snapshots included, change only that view. A ticket is shown if
    any install that is not offline shows it; attention is the active tab of the most recently focused window
    across installs (a window that counts as focused without a focus event takes attention only if no other
    install has one). Idleness is the machine's. Browser time is one clock for all installs (it never goes
    back); gaps and silence are judged per install: an install back after a gap ends only what no other install
    shows where it was last seen, and an install silent past the offline threshold stops only the timers whose
    tickets it alone (with other silent installs) shows; a ticket no tab shows waits for every install.

Choices where the rules are silent (a technician's expectations)
    - Activating a tab the daemon never saw (a non-PSA tab) is recorded as the window's active tab, so attention
      leaves the ticket; closing an unknown tab only forgets it. An update for an unknown tab adds it.
    - With no window ever focused, the window of the first active tab counts as focused; a snapshot without a
      focused window keeps the last one if it still exists, else the lowest window id with an active tab.
    - Focus mode: a ticket shown only in a background tab gets no timer and a stopped timer in its merge window
      resumes only when attended. A closing timer's open segment ends when another ticket takes attention, so two
      auto timers never count the same second in focus mode.
    - A user-paused auto timer stays paused through closing and merge-window returns; only the user resumes it.
      User resume of an unattended auto timer in focus mode runs until attention next changes.
    - Pause/resume apply to running/paused timers only; stop, discard and edit work on any timer in the state.
    - Stop or discard of a ticket timer whose ticket is still shown suppresses auto timing of it until no tab
      shows it; so does the long-run cap (its entry is held for review; the night after the cap is not timed).
      An evicted ticket is suppressed until it is attended again or no tab shows it (open mode would otherwise
      recreate it at once).
    - start_manual for a ticket that already has a timer converts that timer to manual and runs it (one timer per
      ticket); if it is a running manual timer, InvalidTransition.
    - A new idle span while an earlier away decision is unanswered drops the earlier one (Notice idle_dropped).
      A kept away span starts no earlier than the timer's start.
    - Closing, stopped and offline-held timers are listed by `views` after the live ones; a stopped timer's slot is
      the one it last held and is not reserved.
"""

from __future__ import annotations

import re
from typing import Literal

import msgspec

from daemon.settings import TimingConfig
from daemon.timers import segments as seg
from daemon.timers.engine_state import (
    Billable,
    Effect,
    EngineError,
    EngineState,
    Finalized,
    FinalReason,
    InvalidInput,
    InvalidTransition,
    Kind,
    NoSuchTimer,
    Notice,
    OfflineStop,
    PausedBy,
    PendingIdle,
    Recognize,
    Suppression,
    Timer,
    TooManyTimers,
    adopt_legacy_view,
    attended_key,
    owners,
    shown_tickets,
    update_browser,
)
from daemon.timers.events import BrowserEvent, IdleChanged
from daemon.timers.model import PALETTE, IdlePending, TicketRef, TimerView
from daemon.timers.segments import Segment

__all__ = [
    "MAX_LIVE",
    "Effect",
    "EngineError",
    "EngineState",
    "Finalized",
    "InvalidInput",
    "InvalidTransition",
    "NoSuchTimer",
    "Notice",
    "Recognize",
    "Segment",
    "Timer",
    "TooManyTimers",
    "apply_event",
    "discard",
    "edit",
    "elapsed",
    "finish",
    "held",
    "held_until",
    "idle_pending_view",
    "pause",
    "recover",
    "resolve_idle",
    "resume",
    "start_manual",
    "stop",
    "tick",
    "views",
]

MAX_LIVE = 9
"""Most live (running, paused or closing) timers at once; one per palette slot."""
OFFLINE_FINALIZE_S = 2 * 3600
"""After this much browser silence, its stopped timers are finalized."""
IDLE_DECISION_TTL_S = 3600
"""An unanswered away decision is dropped this long after the away span ended."""
RECENT_FINALIZED = 100
"""How many finalized timer ids are remembered, so late commands on them get a clear error."""
MAX_NOTES = 10_000
MAX_SHORT = 200

_BILLABLE: tuple[str, ...] = ("agreement", "yes", "no")
_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")

# --- small helpers --------------------------------------------------------------------------------------------


def _gap_limit(cfg: TimingConfig) -> float:
    return 2 * cfg.heartbeat_s + 5


def _is_live(tm: Timer) -> bool:
    return tm.state != "stopped"


def _live_count(state: EngineState) -> int:
    return sum(1 for tm in state.timers if _is_live(tm))


def _label(tm: Timer) -> str:
    if tm.ticket is not None:
        if tm.ticket.id is not None:
            return f"#{tm.ticket.id}"
        return f"#{tm.ticket.number or ''}"
    return tm.task or ""


def _id_number(tm: Timer) -> int:
    return int(tm.id[1:]) if tm.id[1:].isdigit() else 0


def _present(state: EngineState, tm: Timer) -> bool:
    return any(t is tm for t in state.timers)


def _by_key(state: EngineState, key: str) -> Timer | None:
    for tm in state.timers:
        if tm.ticket is not None and tm.ticket.key == key:
            return tm
    return None


def _find(state: EngineState, timer_id: str) -> Timer:
    for tm in state.timers:
        if tm.id == timer_id:
            return tm
    if timer_id in state.finalized_ids:
        raise InvalidTransition(f"timer {timer_id} is finalized; change its entry instead")
    raise NoSuchTimer(f"no timer {timer_id}")


def _credit_limit(tm: Timer, state: EngineState, now: float) -> float:
    """Up to when the open segment of `tm` is credited, as seen at daemon time `now`."""
    if tm.kind == "manual":
        return now
    bs = state.browser_seen
    limit = now if bs is None else min(now, bs)
    if tm.state == "closing" and tm.closing_since is not None:
        limit = min(limit, tm.closing_since)
    return limit


def _open(tm: Timer, at: float) -> None:
    """Open a segment at `at`, never before the timer started (daemon and browser clocks differ slightly)."""
    seg.open_at(tm.segments, max(at, tm.started_at))


def _set_slot(tm: Timer, slot: int) -> None:
    tm.slot = slot
    if not tm.colour_custom:
        tm.colour = PALETTE[slot]


def _free_slot(state: EngineState, prefer: int | None = None) -> int | None:
    used = {tm.slot for tm in state.timers if _is_live(tm)}
    if prefer is not None and 0 <= prefer < MAX_LIVE and prefer not in used:
        return prefer
    for slot in range(MAX_LIVE):
        if slot not in used:
            return slot
    return None


def _drop(state: EngineState, tm: Timer, reason: FinalReason, effects: list[Effect]) -> None:
    """Remove a timer whose segments are already settled and emit Finalized."""
    if seg.open_segment(tm.segments) is not None:  # never expected; settle rather than invent time
        seg.close(tm.segments, tm.stopped_at if tm.stopped_at is not None else tm.segments[-1].start)
    if tm.stopped_at is None:
        tm.stopped_at = tm.segments[-1].end if tm.segments else tm.started_at
    tm.state = "stopped"
    tm.closing_since = None
    tm.forced_run = False
    tm.stopped_by_offline = False
    tm.offline_prev = None
    state.timers = [t for t in state.timers if t is not tm]
    state.finalized_ids = [*state.finalized_ids, tm.id][-RECENT_FINALIZED:]
    effects.append(Finalized(timer=tm, reason=reason))


def _long_run(state: EngineState, tm: Timer, moment: float, effects: list[Effect]) -> None:
    """Finalize at the cap. A ticket still shown stays untimed until the user starts it or closes and reopens it:
    timing it again at once would bill the rest of the night unreviewed."""
    seg.truncate(tm.segments, moment)
    if "long_run" not in tm.flags:
        tm.flags.append("long_run")
    tm.stopped_at = moment
    _suppress_if_shown(state, tm, "long_run")
    untimed = " and stays untimed until you start it or close and reopen it" if tm.ticket is not None else ""
    effects.append(
        Notice(
            code="long_run",
            message=f"{_label(tm)} reached the long-run cap and was stopped for review{untimed}",
            timer_id=tm.id,
        )
    )
    _drop(state, tm, "long_run", effects)


def _check_cap(state: EngineState, tm: Timer, limit: float, cap: int | None, effects: list[Effect]) -> bool:
    """Finalize `tm` at the moment it reached the cap, if it did by `limit`. True if it was finalized."""
    if cap is None:
        return False
    moment = seg.cap_moment(tm.segments, limit, cap)
    if moment is None:
        return False
    _long_run(state, tm, moment, effects)
    return True


def _end_open(state: EngineState, tm: Timer, at: float, cap: int | None, effects: list[Effect]) -> bool:
    """Close the open segment at `at` (cap-aware). False if the cap finalized the timer instead."""
    seg.close(tm.segments, at)
    return not _check_cap(state, tm, at, cap, effects)


def _truncate(state: EngineState, tm: Timer, at: float, cap: int | None, effects: list[Effect]) -> bool:
    seg.truncate(tm.segments, at)
    return not _check_cap(state, tm, at, cap, effects)


def _wind_down(state: EngineState, tm: Timer, now: float, cap: int | None, effects: list[Effect]) -> float:
    """Settle the segments of a timer the user ends at `now`; returns the stop moment (-1 if cap finalized it)."""
    if tm.state == "stopped":
        at = tm.stopped_at if tm.stopped_at is not None else now
        return at if _truncate(state, tm, at, cap, effects) else -1.0
    if tm.state == "closing" and tm.closing_since is not None:
        at = tm.closing_since
        return at if _truncate(state, tm, at, cap, effects) else -1.0
    at = _credit_limit(tm, state, now)
    return at if _end_open(state, tm, at, cap, effects) else -1.0


def _enforce_caps(
    state: EngineState, auto_limit: float, manual_limit: float, cfg: TimingConfig, effects: list[Effect]
) -> None:
    for tm in list(state.timers):
        if tm.kind == "manual":
            limit = manual_limit
        elif tm.state == "closing" and tm.closing_since is not None:
            limit = min(auto_limit, tm.closing_since)
        else:
            limit = auto_limit
        _check_cap(state, tm, limit, cfg.long_run_s, effects)


def _suppress_if_shown(state: EngineState, tm: Timer, why: Suppression) -> None:
    if tm.ticket is not None and tm.ticket.key in shown_tickets(state, everywhere=True):
        state.suppressed[tm.ticket.key] = why


def _idle_hold(state: EngineState) -> set[str]:
    return set(state.idle_pending.timers) if state.idle_pending is not None else set()


# --- attention ----------------------------------------------------------------------------------------------


def _touch_attended(state: EngineState, at: float) -> None:
    key = state.browser.attended
    if key is None:
        return
    tm = _by_key(state, key)
    if tm is not None and _is_live(tm):
        tm.last_attended = max(tm.last_attended, at)


# --- idle -----------------------------------------------------------------------------------------------------


def _go_idle(state: EngineState, event: IdleChanged, t: float, cfg: TimingConfig, effects: list[Effect]) -> None:
    b = state.browser
    if b.idle != "active":
        return  # already idle or locked: nothing changes
    since = min(event.since if event.since is not None else t, t)
    b.idle = "locked" if event.state == "locked" else "idle"
    b.idle_since = since
    if state.idle_pending is not None:
        state.idle_pending = None
        effects.append(Notice(code="idle_dropped", message="an earlier away time was not decided and is dropped"))
    listed: list[str] = []
    for tm in list(state.timers):
        if not _present(state, tm):
            continue
        if tm.state == "running" and (tm.kind == "auto" or cfg.manual_idle):
            if _idle_pause(state, tm, since, cfg.long_run_s, effects):
                listed.append(tm.id)
        elif tm.state == "closing" and seg.open_segment(tm.segments) is not None:
            _end_open(state, tm, since, cfg.long_run_s, effects)
    state.idle_pending = PendingIdle(since=since, timers=listed) if listed else None


def _idle_pause(state: EngineState, tm: Timer, since: float, cap: int | None, effects: list[Effect]) -> bool:
    """Idle: a running timer loses the time since the machine went idle and waits paused for the away decision.
    False if the cap finalized it instead."""
    start = tm.segments[-1].start if tm.segments else since
    seg.cut_last(tm.segments, max(since, start))
    if _check_cap(state, tm, since, cap, effects):
        return False
    tm.state = "paused"
    tm.paused_by = "idle"
    tm.forced_run = False
    return True


def _go_active(state: EngineState, t: float, cfg: TimingConfig, effects: list[Effect]) -> None:
    b = state.browser
    if b.idle == "active":
        return
    b.idle = "active"
    b.idle_since = None
    pending = state.idle_pending
    if pending is not None and pending.until is None:
        pending.until = max(t, pending.since)
    for tm in state.timers:
        if tm.paused_by != "idle" or tm.state != "paused":
            continue
        if tm.kind == "manual":
            _run(tm, t)
        else:
            tm.paused_by = "attention"  # the reconcile that follows resumes it if attention says so


# --- time-driven transitions ----------------------------------------------------------------------------------


def _expire_idle_decision(state: EngineState, at: float, effects: list[Effect]) -> None:
    pending = state.idle_pending
    if pending is not None and pending.until is not None and at >= pending.until + IDLE_DECISION_TTL_S:
        state.idle_pending = None
        effects.append(Notice(code="idle_expired", message="the away time was not decided in time and is dropped"))


def _expire_auto(state: EngineState, at: float, cfg: TimingConfig, effects: list[Effect]) -> None:
    """Grace and merge windows of auto timers, judged at browser time `at`."""
    for tm in list(state.timers):
        if tm.kind == "auto" and tm.state == "closing" and tm.closing_since is not None:
            since = tm.closing_since
            if at >= since + cfg.grace_s and _truncate(state, tm, since, cfg.long_run_s, effects):
                tm.state = "stopped"
                tm.stopped_at = since
                tm.closing_since = None
                tm.forced_run = False
    held = _idle_hold(state)
    for tm in list(state.timers):
        if (
            tm.kind == "auto"
            and tm.state == "stopped"
            and not tm.stopped_by_offline
            and (until := held_until(tm, cfg)) is not None
            and at >= until
            and tm.id not in held
        ):
            _drop(state, tm, "closed", effects)


def held_until(tm: Timer, cfg: TimingConfig) -> float | None:
    """When the merge window of a closed auto timer ends and its entry is finalized (browser time).

    None for a timer that is not closed, and for one held by an offline stop (it waits for the browser).
    """
    if tm.kind != "auto" or tm.stopped_by_offline:
        return None
    if tm.state == "closing" and tm.closing_since is not None:
        return tm.closing_since + max(cfg.grace_s, cfg.merge_s)
    if tm.state == "stopped" and tm.stopped_at is not None:
        return tm.stopped_at + cfg.merge_s
    return None


def _silent_owners(state: EngineState, tm: Timer, silent: set[str]) -> list[str] | None:
    """The installs whose silence stops `tm`: those showing its ticket (every install if none does, as for a
    closing ticket), if all of them are silent; None if one that shows it still speaks."""
    shown_by = owners(state, tm.ticket.key) if tm.ticket is not None else []
    by = shown_by or sorted(state.installs)
    return by if by and set(by) <= silent else None


def _go_offline(state: EngineState, silent: set[str], cfg: TimingConfig, effects: list[Effect]) -> None:
    """Rule 12 per install: auto timers whose tickets only silent installs show stop where they were last seen."""
    stopped = False
    for tm in list(state.timers):
        if tm.kind != "auto" or not _is_live(tm) or not _present(state, tm):
            continue
        by = _silent_owners(state, tm, silent)
        if by is not None and _offline_stop(state, tm, by, cfg.long_run_s, effects):
            stopped = True
    for name in silent:
        state.installs[name].offline = True
    if stopped:
        effects.append(
            Notice(code="browser_offline", message="the browser went silent; its timers are stopped for now")
        )


def _offline_stop(state: EngineState, tm: Timer, by: list[str], cap: int | None, effects: list[Effect]) -> bool:
    """Offline stop: a live auto timer stops where the silent installs `by` were last seen, remembering how to
    undo it. False if the cap finalized it instead."""
    bs = max(state.installs[name].seen or 0.0 for name in by)
    open_seg = seg.open_segment(tm.segments)
    prev_state: Literal["running", "paused", "closing"] = (
        "closing" if tm.state == "closing" else "running" if tm.state == "running" else "paused"
    )
    prev = OfflineStop(state=prev_state, paused_by=tm.paused_by, closing_since=tm.closing_since, installs=by)
    if open_seg is not None:
        prev.reopen_from = max(bs, open_seg.start)
        if not _end_open(state, tm, bs, cap, effects):
            return False
    tm.stopped_at = tm.closing_since if tm.state == "closing" and tm.closing_since is not None else bs
    tm.state = "stopped"
    tm.paused_by = "offline"
    tm.closing_since = None
    tm.forced_run = False
    tm.stopped_by_offline = True
    tm.offline_prev = prev
    if "offline" not in tm.flags:
        tm.flags.append("offline")
    return True


def _offline_to_ordinary(state: EngineState, tm: Timer, cfg: TimingConfig, effects: list[Effect]) -> None:
    """Confirm an offline stop: the timer becomes an ordinary stopped one (its merge window runs)."""
    tm.stopped_by_offline = False
    tm.offline_prev = None
    if tm.stopped_at is not None:
        _truncate(state, tm, tm.stopped_at, cfg.long_run_s, effects)


def _undo_offline_stop(tm: Timer, prev: OfflineStop, slot: int) -> None:
    """Undo an offline stop: the browser was there all along; the timer is as it was, in `slot`."""
    _set_slot(tm, slot)
    tm.state = prev.state
    tm.paused_by = prev.paused_by
    tm.closing_since = prev.closing_since
    tm.stopped_at = None
    tm.stopped_by_offline = False
    tm.offline_prev = None
    tm.flags = [f for f in tm.flags if f != "offline"]
    if prev.reopen_from is not None:
        _open(tm, prev.reopen_from)


def _offline_held(state: EngineState, install: str) -> list[Timer]:
    """Timers stopped by the silence of `install` (or of any install), by slot."""
    return sorted(
        (
            tm
            for tm in state.timers
            if tm.stopped_by_offline
            and (tm.offline_prev is None or not tm.offline_prev.installs or install in tm.offline_prev.installs)
        ),
        key=lambda tm: tm.slot,
    )


def _settle_offline(
    state: EngineState, install: str, t: float, gap: bool, cfg: TimingConfig, effects: list[Effect]
) -> None:
    """Rule 12 at the first event of an install after an offline stop of its tickets: undo it (events were only
    delayed) or confirm it."""
    for tm in _offline_held(state, install):
        if not _present(state, tm):
            continue
        prev = tm.offline_prev
        slot = None if gap or prev is None else _make_room(state, t, effects, prefer=tm.slot, exclude=tm)
        if prev is not None and slot is not None and _present(state, tm):
            _undo_offline_stop(tm, prev, slot)
        elif _present(state, tm):
            _offline_to_ordinary(state, tm, cfg, effects)


# --- slots and eviction ---------------------------------------------------------------------------------------


def _make_room(
    state: EngineState,
    at: float,
    effects: list[Effect],
    *,
    prefer: int | None = None,
    exclude: Timer | None = None,
    cap: int | None = None,
) -> int | None:
    """A slot for an automatic timer, evicting the least recently attended live auto timer if need be.

    The attended ticket's timer and timers created at this very moment are never evicted. None if every
    live timer is manual (or protected).
    """
    slot = _free_slot(state, prefer)
    if slot is not None:
        return slot
    attended = state.browser.attended
    candidates = [
        tm
        for tm in state.timers
        if tm.kind == "auto"
        and _is_live(tm)
        and tm is not exclude
        and not (tm.ticket is not None and tm.ticket.key == attended)
        and not (tm.started_at == at and tm.last_attended == at)
    ]
    if not candidates:
        return None
    victim = min(candidates, key=lambda tm: (tm.last_attended, tm.started_at, _id_number(tm)))
    stop_at = _wind_down(state, victim, at, cap, effects)
    if stop_at >= 0:
        victim.stopped_at = stop_at
        effects.append(
            Notice(
                code="evicted",
                message=f"{_label(victim)} was closed to make room: at most {MAX_LIVE} timers run at once",
                timer_id=victim.id,
            )
        )
        _suppress_if_shown(state, victim, "evicted")
        _drop(state, victim, "evicted", effects)
    return _free_slot(state, prefer)  # the victim's slot is free now, whichever way it was finalized


def _new_timer(
    state: EngineState, *, kind: Kind, slot: int, at: float, ticket: TicketRef | None, task: str | None
) -> Timer:
    tm = Timer(
        id=f"t{state.next_id}",
        slot=slot,
        colour=PALETTE[slot],
        kind=kind,
        ticket=ticket,
        task=task,
        state="paused",
        started_at=at,
        last_attended=at,
    )
    state.next_id += 1
    state.timers.append(tm)
    return tm


# --- named transitions of one timer ---------------------------------------------------------------------------
# Each keeps the invariants: a running timer has an open segment, a paused or stopped one has none, a closing one
# has one only while its grace runs unattended (open mode).


def _run(tm: Timer, at: float) -> None:
    """Start or resume: the timer runs from `at`."""
    _open(tm, at)
    tm.state = "running"
    tm.paused_by = None


def _hold(state: EngineState, tm: Timer, at: float, by: PausedBy, cap: int | None, effects: list[Effect]) -> bool:
    """A running timer stops counting at `at` (attention left it, or the machine went idle). False if the cap
    finalized it instead."""
    if not _end_open(state, tm, at, cap, effects):
        return False
    tm.state = "paused"
    tm.paused_by = by
    tm.forced_run = False
    return True


def _leave(state: EngineState, tm: Timer, t: float, end_now: bool, cap: int | None, effects: list[Effect]) -> None:
    """Close: no tab shows the ticket any more; grace starts at `t`. With `end_now` (focus mode, another ticket
    attended) the open segment ends at once."""
    if tm.state in ("running", "paused"):
        tm.state = "closing"
        tm.closing_since = t
        tm.forced_run = False
    if end_now and seg.open_segment(tm.segments) is not None:
        _end_open(state, tm, t, cap, effects)


def _return(tm: Timer) -> None:
    """A closing ticket is shown again within its grace: back to running, or to paused if it was paused."""
    tm.closing_since = None
    tm.state = "running" if tm.paused_by is None else "paused"


def _revive(tm: Timer, slot: int) -> None:
    """A stopped timer's ticket is shown again within its merge window: it takes a slot and waits paused."""
    _set_slot(tm, slot)
    tm.stopped_at = None
    tm.flags = [f for f in tm.flags if f != "offline"]
    if tm.paused_by != "user":
        tm.paused_by = "attention"
    tm.state = "paused"


# --- reconcile auto timers with the browser -------------------------------------------------------------------


def _reconcile(state: EngineState, t: float, cfg: TimingConfig, effects: list[Effect]) -> None:
    """Bring the auto timers in line with what the browsers show and attend at browser time `t`."""
    shown = shown_tickets(state)
    attended, changed = _refresh_attention(state, shown)
    for tm in list(state.timers):
        if tm.kind != "auto" or tm.ticket is None or tm.state == "stopped" or not _present(state, tm):
            continue
        if tm.ticket.key in shown:
            _follow_attention(state, tm, tm.ticket.key, attended, changed, t, cfg, effects)
        else:
            _leave(state, tm, t, cfg.mode == "focus" and attended is not None, cfg.long_run_s, effects)
    order = ([attended] if attended in shown else []) + [k for k in shown if k != attended]
    for key in order:
        _start_auto(state, shown[key], attended, t, cfg, effects)


def _refresh_attention(state: EngineState, shown: dict[str, TicketRef]) -> tuple[str | None, bool]:
    """Record the attended ticket; lift suppressions and refusals that no longer apply. Returns the attended
    ticket key and whether it changed."""
    anywhere = shown_tickets(state, everywhere=True)  # a silent install's tabs still hold their suppressions
    attended = attended_key(state)
    changed = attended != state.browser.attended
    state.browser.attended = attended
    for key in list(state.suppressed):
        if key not in anywhere or (state.suppressed[key] == "evicted" and key == attended):
            del state.suppressed[key]
    state.refused = [k for k in state.refused if k in shown]
    return attended, changed


def _wanted(state: EngineState, key: str, attended: str | None, cfg: TimingConfig) -> bool:
    """Whether the auto timer of a shown ticket should run: not idle, and attended in focus mode."""
    return state.browser.idle == "active" and (cfg.mode != "focus" or key == attended)


def _unwanted_reason(state: EngineState) -> PausedBy:
    return "idle" if state.browser.idle != "active" else "attention"


def _follow_attention(
    state: EngineState,
    tm: Timer,
    key: str,
    attended: str | None,
    changed: bool,
    t: float,
    cfg: TimingConfig,
    effects: list[Effect],
) -> None:
    """Attend or leave-attention for the live auto timer of a shown ticket."""
    wanted = _wanted(state, key, attended, cfg)
    if tm.state == "closing":
        _return(tm)
    if tm.state == "running":
        if wanted or (tm.forced_run and not changed):
            _open(tm, t)
        else:
            _hold(state, tm, t, _unwanted_reason(state), cfg.long_run_s, effects)
    elif tm.state == "paused" and tm.paused_by != "user" and wanted:
        _run(tm, t)


def _start_auto(
    state: EngineState, ticket: TicketRef, attended: str | None, t: float, cfg: TimingConfig, effects: list[Effect]
) -> None:
    """Start: a shown ticket without a live timer gets one (a new one, or its stopped one revived)."""
    key = ticket.key
    if key in state.suppressed or (cfg.mode == "focus" and key != attended):
        return
    existing = _by_key(state, key)
    if existing is not None and (existing.kind == "manual" or existing.state != "stopped"):
        return
    prefer = existing.slot if existing else None
    slot = _make_room(state, t, effects, prefer=prefer, exclude=existing, cap=cfg.long_run_s)
    if slot is None:
        _refuse(state, key, effects)
        return
    if existing is None:
        tm = _new_timer(state, kind="auto", slot=slot, at=t, ticket=ticket, task=None)
    else:
        tm = existing
        _revive(tm, slot)
    if tm.paused_by != "user":
        if _wanted(state, key, attended, cfg):
            _run(tm, t)
        else:
            tm.paused_by = _unwanted_reason(state)
    if key == attended:
        tm.last_attended = t


def _refuse(state: EngineState, key: str, effects: list[Effect]) -> None:
    """Cap: no slot and nothing to evict; the ticket is told once that it is not timed."""
    if key in state.refused:
        return
    state.refused.append(key)
    effects.append(
        Notice(
            code="limit_reached",
            message=f"{MAX_LIVE} timers are live and none can make room: the opened ticket is not timed",
        )
    )


# --- entry points ---------------------------------------------------------------------------------------------


def apply_event(
    state: EngineState, event: BrowserEvent, *, cfg: TimingConfig, recognize: Recognize, install: str = ""
) -> list[Effect]:
    """Apply one browser event of `install` (already validated, `at` clamped for skew) at browser time."""
    effects: list[Effect] = []
    adopt_legacy_view(state, install)
    t = event.at if state.browser_seen is None else max(event.at, state.browser_seen)
    view = state.installs.get(install)
    prev = view.seen if view is not None else None
    gap = prev is not None and t - prev > _gap_limit(cfg)
    if gap and prev is not None:
        # This browser was away: what only it showed ends where it was last seen; reconcile restarts it at t.
        elsewhere = _shown_elsewhere(state, install)
        for tm in list(state.timers):
            if tm.kind == "auto" and _present(state, tm) and seg.open_segment(tm.segments) is not None:
                if tm.ticket is None or tm.ticket.key not in elsewhere:
                    _end_open(state, tm, prev, cfg.long_run_s, effects)
    state.browser_seen = t
    _settle_offline(state, install, t, gap, cfg, effects)
    _enforce_caps(state, t, t, cfg, effects)
    _touch_attended(state, t)
    _expire_idle_decision(state, t, effects)
    _expire_auto(state, t, cfg, effects)
    update_browser(state, install, event, recognize, t)
    if isinstance(event, IdleChanged):
        if event.state == "active":
            _go_active(state, t, cfg, effects)
        else:
            _go_idle(state, event, t, cfg, effects)
    _reconcile(state, t, cfg, effects)
    _expire_auto(state, t, cfg, effects)
    _touch_attended(state, t)
    return effects


def tick(state: EngineState, now: float, cfg: TimingConfig, *, allow_offline: bool) -> list[Effect]:
    """Time-driven transitions at daemon time `now`: long-run caps, away-decision expiry, browser silence.

    Grace and merge windows of auto timers are re-checked at `browser_seen` (browser time), not at `now`.
    With `allow_offline=False` (start-up grace) browser silence is not acted on.
    """
    effects: list[Effect] = []
    adopt_legacy_view(state, None)
    bs = state.browser_seen
    _enforce_caps(state, now if bs is None else min(now, bs), now, cfg, effects)
    _expire_idle_decision(state, now, effects)
    if bs is None:
        return effects
    if allow_offline:
        limit = max(_gap_limit(cfg), 60)
        if now - bs > limit:
            # Every browser is silent. Tickets already closed before the silence finish their grace and merge
            # windows on daemon time: a closed browser must not hold their entries back. (A late replay would at
            # worst split an entry.)
            _expire_auto(state, now, cfg, effects)
        _go_offline(state, _silent(state, now, limit), cfg, effects)
        _finalize_long_silent(state, now, cfg, effects)
    _expire_auto(state, bs, cfg, effects)
    return effects


def _shown_elsewhere(state: EngineState, install: str) -> set[str]:
    """Ticket keys shown in a tab of another install that is not offline."""
    return {
        tab.ticket.key
        for name, view in state.installs.items()
        if name != install and not view.offline
        for tab in view.tabs.values()
        if tab.ticket is not None
    }


def _silent(state: EngineState, now: float, longer_than: float) -> set[str]:
    return {name for name, view in state.installs.items() if view.seen is not None and now - view.seen > longer_than}


def _finalize_long_silent(state: EngineState, now: float, cfg: TimingConfig, effects: list[Effect]) -> None:
    """After OFFLINE_FINALIZE_S of silence an install's offline-stopped timers are finalized and, while another
    install still speaks, its view is forgotten (closed or uninstalled: its stale tabs must not keep tickets
    shown; it sends a snapshot when it connects again). Once every browser has been silent that long, the stopped
    timers waiting out a merge window are finalized too and the views are kept (the machine was asleep)."""
    bs = state.browser_seen
    everyone = bs is not None and now - bs > OFFLINE_FINALIZE_S
    gone = _silent(state, now, OFFLINE_FINALIZE_S)
    for tm in list(state.timers):
        if tm.kind != "auto" or tm.state != "stopped":
            continue
        prev = tm.offline_prev
        if not everyone and not (
            tm.stopped_by_offline and prev is not None and prev.installs and set(prev.installs) <= gone
        ):
            continue
        reason: FinalReason = "offline" if tm.stopped_by_offline else "closed"
        _offline_to_ordinary(state, tm, cfg, effects)
        if _present(state, tm):
            _drop(state, tm, reason, effects)
    if not everyone:
        for name in gone:
            del state.installs[name]


def recover(state: EngineState, daemon_seen: float, now: float) -> list[Effect]:
    """After a crash: running manual timers end at `daemon_seen` and wait paused ("restart").

    Auto timers need nothing: they were only ever credited up to `browser_seen`.
    """
    effects: list[Effect] = []
    at = min(daemon_seen, now)
    for tm in state.timers:
        if tm.kind == "manual" and tm.state == "running":
            seg.close(tm.segments, at)
            tm.state = "paused"
            tm.paused_by = "restart"
            effects.append(
                Notice(
                    code="restart",
                    message=f"{_label(tm)} was paused when the daemon restarted; resume it if you are still on it",
                    timer_id=tm.id,
                )
            )
    return effects


def _check_text(notes: str | None, internal_notes: str | None, work_type: str | None) -> None:
    for name, value, limit in (
        ("notes", notes, MAX_NOTES),
        ("internal_notes", internal_notes, MAX_NOTES),
        ("work_type", work_type, MAX_SHORT),
    ):
        if value is not None and len(value) > limit:
            raise InvalidInput(f"{name} is longer than {limit} characters")


def _check_billable(billable: str | None) -> None:
    if billable is not None and billable not in _BILLABLE:
        raise InvalidInput(f"billable must be one of {', '.join(_BILLABLE)}")


def start_manual(
    state: EngineState,
    now: float,
    cfg: TimingConfig,
    *,
    ticket: TicketRef | None = None,
    task: str | None = None,
    notes: str = "",
    billable: Billable | None = None,
    work_type: str = "",
) -> tuple[Timer, list[Effect]]:
    """Start a timer by hand for a ticket or a task. A ticket that has a timer gets that timer, made manual."""
    task = _check_manual(ticket, task, notes, billable, work_type)
    effects: list[Effect] = []
    existing = _by_key(state, ticket.key) if ticket is not None else None
    if existing is not None and _take_over(state, existing, now, cfg, effects):
        _describe(existing, notes, billable, work_type, keep_blank=True)
        if ticket is not None:
            state.suppressed.pop(ticket.key, None)
        return existing, effects
    slot = _free_slot(state)
    if slot is None:
        raise TooManyTimers(f"at most {MAX_LIVE} timers can be live; stop one first")
    tm = _new_timer(state, kind="manual", slot=slot, at=now, ticket=ticket, task=task)
    _run(tm, now)
    _describe(tm, notes, billable if billable is not None else "agreement", work_type, keep_blank=False)
    if ticket is not None:
        state.suppressed.pop(ticket.key, None)
    return tm, effects


def _check_manual(
    ticket: TicketRef | None, task: str | None, notes: str, billable: Billable | None, work_type: str
) -> str | None:
    """Refuse a bad start_manual before anything changes; returns the task name, stripped."""
    if (ticket is None) == (task is None):
        raise InvalidInput("give either a ticket or a task")
    if task is not None:
        task = task.strip()
        if not task or len(task) > MAX_SHORT:
            raise InvalidInput(f"a task needs a name of 1 to {MAX_SHORT} characters")
    _check_text(notes, None, work_type)
    _check_billable(billable)
    return task


def _take_over(state: EngineState, tm: Timer, now: float, cfg: TimingConfig, effects: list[Effect]) -> bool:
    """Start by hand a ticket's existing timer: it becomes a running manual timer from `now`. False if settling
    its time first finalized it at the long-run cap (a new timer is started then)."""
    if tm.kind == "manual" and tm.state == "running":
        raise InvalidTransition(f"timer {tm.id} already runs for this ticket")
    if not _is_live(tm) and _live_count(state) >= MAX_LIVE:
        raise TooManyTimers(f"at most {MAX_LIVE} timers can be live; stop one first")
    if _wind_down(state, tm, now, cfg.long_run_s, effects) < 0:
        return False
    if not _is_live(tm):
        slot = _free_slot(state, tm.slot)
        _set_slot(tm, slot if slot is not None else 0)
    tm.kind = "manual"
    tm.closing_since = None
    tm.stopped_at = None
    tm.stopped_by_offline = False
    tm.offline_prev = None
    tm.forced_run = False
    tm.flags = [f for f in tm.flags if f != "offline"]
    tm.last_attended = now
    _run(tm, now)
    return True


def _describe(tm: Timer, notes: str, billable: Billable | None, work_type: str, *, keep_blank: bool) -> None:
    """Set what start_manual was given; with `keep_blank`, an empty value keeps what the timer has."""
    if notes or not keep_blank:
        tm.notes = notes
    if billable is not None:
        tm.billable = billable
    if work_type or not keep_blank:
        tm.work_type = work_type


def pause(state: EngineState, timer_id: str, now: float) -> list[Effect]:
    """User pause: the timer stays paused until the user resumes it (attention and idle do not)."""
    tm = _find(state, timer_id)
    if not (tm.state == "running" or (tm.state == "paused" and tm.paused_by != "user")):
        raise InvalidTransition(f"timer {timer_id} is {tm.state} and cannot be paused")
    if tm.state == "running":
        seg.close(tm.segments, _credit_limit(tm, state, now))
    tm.state = "paused"
    tm.paused_by = "user"
    tm.forced_run = False
    return []


def resume(state: EngineState, timer_id: str, now: float, cfg: TimingConfig) -> list[Effect]:
    """User resume: runs from `now`. An unattended auto timer in focus mode runs until attention next changes."""
    tm = _find(state, timer_id)
    if tm.state != "paused":
        raise InvalidTransition(f"timer {timer_id} is {tm.state} and cannot be resumed")
    _run(tm, now)
    tm.last_attended = max(tm.last_attended, now)
    tm.forced_run = (
        tm.kind == "auto" and cfg.mode == "focus" and (tm.ticket is None or tm.ticket.key != state.browser.attended)
    )
    return []


def stop(state: EngineState, timer_id: str, now: float, cfg: TimingConfig) -> list[Effect]:
    """User stop: the timer ends now and is finalized at once ("stopped", or "long_run" if it hit the cap)."""
    tm = _find(state, timer_id)
    effects: list[Effect] = []
    _suppress_if_shown(state, tm, "user")
    stop_at = _wind_down(state, tm, now, cfg.long_run_s, effects)
    if stop_at >= 0:
        tm.stopped_at = stop_at
        _drop(state, tm, "stopped", effects)
    return effects


def discard(state: EngineState, timer_id: str, now: float) -> list[Effect]:
    """Discard: finalized as "discarded" (the service keeps a voided entry for audit)."""
    tm = _find(state, timer_id)
    effects: list[Effect] = []
    _suppress_if_shown(state, tm, "user")
    tm.stopped_at = _wind_down(state, tm, now, None, effects)
    _drop(state, tm, "discarded", effects)
    return effects


def finish(state: EngineState, timer_id: str, now: float, cfg: TimingConfig) -> list[Effect]:
    """ "Finish now": a closed ticket's timer (grace, merge window or offline hold) is finalized at once, as its
    window would have ended it. Reopening the ticket afterwards starts a new timer and a new entry.

    A timer that is running or paused again (the ticket was reopened) cannot be finished this way, and neither can
    one whose away time is still to be decided (finishing it would throw that choice away).
    """
    tm = _find(state, timer_id)
    if tm.kind != "auto" or tm.state not in ("closing", "stopped"):
        raise InvalidTransition(f"timer {timer_id} is {tm.state}: only a closed ticket's held entry can be finished")
    if tm.id in _idle_hold(state):
        raise InvalidTransition("decide first whether to keep the away time on this ticket")
    effects: list[Effect] = []
    if tm.stopped_by_offline:
        _offline_to_ordinary(state, tm, cfg, effects)
        if _present(state, tm):
            _drop(state, tm, "offline", effects)
        return effects
    stop_at = _wind_down(state, tm, now, cfg.long_run_s, effects)
    if stop_at >= 0:
        tm.stopped_at = stop_at
        _drop(state, tm, "closed", effects)
    return effects


def edit(
    state: EngineState,
    timer_id: str,
    *,
    notes: str | None = None,
    internal_notes: str | None = None,
    billable: Billable | None = None,
    work_type: str | None = None,
    colour: str | None = None,
) -> Timer:
    """Change what the user may change; None leaves a field as it is, colour "" restores the slot's colour."""
    tm = _find(state, timer_id)
    _check_text(notes, internal_notes, work_type)
    _check_billable(billable)
    if colour is not None and colour != "" and not _COLOUR.match(colour):
        raise InvalidInput("colour must look like #rrggbb")
    if notes is not None:
        tm.notes = notes
    if internal_notes is not None:
        tm.internal_notes = internal_notes
    if billable is not None:
        tm.billable = billable
    if work_type is not None:
        tm.work_type = work_type
    if colour == "":
        tm.colour_custom = False
        tm.colour = PALETTE[tm.slot]
    elif colour is not None:
        tm.colour_custom = True
        tm.colour = colour.lower()
    return tm


def resolve_idle(state: EngineState, keep: bool, now: float) -> list[Effect]:
    """Keep the away span on the timers that were running when it began, or drop it.

    A kept span that pushes a timer past the long-run cap is finalized at the cap by the next tick or event.
    """
    pending = state.idle_pending
    if pending is None or pending.until is None:
        raise InvalidTransition("there is no away time to decide")
    if keep:
        for timer_id in pending.timers:
            tm = next((t for t in state.timers if t.id == timer_id), None)
            if tm is None:
                continue
            start = max(pending.since, tm.started_at)
            seg.add_span(tm.segments, start, pending.until)
            if tm.state == "stopped" and tm.stopped_at is not None:
                tm.stopped_at = max(tm.stopped_at, pending.until)
            if "idle_kept" not in tm.flags:
                tm.flags.append("idle_kept")
    state.idle_pending = None
    return []


# --- reading --------------------------------------------------------------------------------------------------


def elapsed(timer: Timer, state: EngineState, now: float) -> float:
    """Seconds credited to `timer` as of daemon time `now` (auto timers only up to `browser_seen`)."""
    return seg.total(timer.segments, _credit_limit(timer, state, now))


def views(state: EngineState, now: float) -> list[TimerView]:
    """What clients see: live timers by slot, then stopped ones (merge window, offline) by stop time."""
    live = sorted((tm for tm in state.timers if _is_live(tm)), key=lambda tm: tm.slot)
    done = sorted(
        (tm for tm in state.timers if not _is_live(tm)),
        key=lambda tm: (tm.stopped_at or 0.0, _id_number(tm)),
    )
    out: list[TimerView] = []
    for tm in [*live, *done]:
        running = tm.state == "running"
        limit = _credit_limit(tm, state, now)
        open_seg = seg.open_segment(tm.segments)
        as_of = max(limit, open_seg.start) if running and open_seg is not None else now
        out.append(
            TimerView(
                id=tm.id,
                slot=tm.slot,
                colour=tm.colour,
                kind=tm.kind,
                state=tm.state,
                paused_by=tm.paused_by,
                ticket=tm.ticket,
                task=tm.task,
                label=_label(tm),
                summary="",
                company="",
                elapsed_s=seg.total(tm.segments, limit),
                as_of=as_of,
                running=running,
                notes=tm.notes,
                internal_notes=tm.internal_notes,
                billable=tm.billable,
                work_type=tm.work_type,
                started_at=tm.started_at,
                last_attended=tm.last_attended,
                flags=list(tm.flags),
            )
        )
    return out


def held(state: EngineState, now: float, cfg: TimingConfig) -> list[tuple[Timer, float | None]]:
    """Closed tickets whose entry is not final yet: a copy of each timer with its time settled as finishing it now
    would settle it, and when its merge window ends (`held_until`). The state is not changed."""
    out: list[tuple[Timer, float | None]] = []
    for tm in state.timers:
        if tm.kind != "auto" or tm.state not in ("closing", "stopped"):
            continue
        copy = msgspec.structs.replace(
            tm, segments=[Segment(s.start, s.end) for s in tm.segments], flags=list(tm.flags)
        )
        if tm.state == "closing" and tm.closing_since is not None:
            seg.truncate(copy.segments, tm.closing_since)
        elif tm.stopped_at is not None:
            seg.truncate(copy.segments, tm.stopped_at)
        seg.close(copy.segments, _credit_limit(tm, state, now))
        out.append((copy, held_until(tm, cfg)))
    return out


def idle_pending_view(state: EngineState) -> IdlePending | None:
    """The away span awaiting a keep/drop decision, once the user is back (None while still away)."""
    pending = state.idle_pending
    if pending is None or pending.until is None:
        return None
    present = {tm.id for tm in state.timers}
    return IdlePending(since=pending.since, until=pending.until, timers=[i for i in pending.timers if i in present])
