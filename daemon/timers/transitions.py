"""Timer transitions: the named moves of one timer, each keeping the engine's invariants (DESIGN.md §4).

Invariants every function here keeps: a running timer has an open segment and a paused or stopped one has none;
segments stay ordered without overlap and never start before the timer; at most MAX_LIVE timers are live, each in
its own slot; one timer per ticket; a finalized timer leaves the state exactly once (with one `Finalized` effect).

The transitions, by name (the engine's reconcile, idle and expiry steps are made of them):
    start          new_timer + run; a stopped timer whose ticket is shown again: revive
    attend         run (paused, not by the user -> running)
    leave          hold (running -> paused by attention or idle)
    close          leave (no tab shows the ticket -> closing); come_back (shown again within grace)
    grace-expire   expire_grace (closing -> stopped at the close)
    merge-expire   finalize(..., "closed") once `held_until` has passed (engine `_expire_auto`)
    idle           engine `_idle_pause` (running -> paused by idle, away time cut) and `_go_active`
    evict          make_room -> evict: the least recently attended auto timer is finalized "evicted"
    cap            check_cap -> long_run: finalized "long_run" at the moment the cap was reached
    per-install    offline.py: offline_stop, undo_offline_stop, offline_to_ordinary
Pure: no clock, no I/O; every function takes the time as an argument and mutates the state passed in.
"""

from __future__ import annotations

from daemon.settings import TimingConfig
from daemon.timers import segments as seg
from daemon.timers.engine_state import (
    Effect,
    EngineState,
    Finalized,
    FinalReason,
    Kind,
    Notice,
    PausedBy,
    Suppression,
    Timer,
    shown_tickets,
)
from daemon.timers.model import PALETTE, TicketRef

__all__ = [
    "MAX_LIVE",
    "RECENT_FINALIZED",
    "by_key",
    "check_cap",
    "come_back",
    "credit_limit",
    "end_open",
    "enforce_caps",
    "evict",
    "expire_grace",
    "finalize",
    "free_slot",
    "hold",
    "id_number",
    "idle_hold",
    "is_live",
    "label",
    "leave",
    "live_count",
    "long_run",
    "make_room",
    "new_timer",
    "open_from",
    "present",
    "revive",
    "run",
    "set_slot",
    "suppress_if_shown",
    "touch_attended",
    "truncate",
    "wind_down",
]

MAX_LIVE = 9
"""Most live (running, paused or closing) timers at once; one per palette slot."""
RECENT_FINALIZED = 100
"""How many finalized timer ids are remembered, so late commands on them get a clear error."""


# --- reading --------------------------------------------------------------------------------------------------


def is_live(tm: Timer) -> bool:
    return tm.state != "stopped"


def live_count(state: EngineState) -> int:
    return sum(1 for tm in state.timers if is_live(tm))


def label(tm: Timer) -> str:
    if tm.ticket is not None:
        if tm.ticket.id is not None:
            return f"#{tm.ticket.id}"
        return f"#{tm.ticket.number or ''}"
    return tm.task or ""


def id_number(tm: Timer) -> int:
    return int(tm.id[1:]) if tm.id[1:].isdigit() else 0


def present(state: EngineState, tm: Timer) -> bool:
    return any(t is tm for t in state.timers)


def by_key(state: EngineState, key: str) -> Timer | None:
    for tm in state.timers:
        if tm.ticket is not None and tm.ticket.key == key:
            return tm
    return None


def credit_limit(tm: Timer, state: EngineState, now: float) -> float:
    """Up to when the open segment of `tm` is credited, as seen at daemon time `now`."""
    if tm.kind == "manual":
        return now
    bs = state.browser_seen
    limit = now if bs is None else min(now, bs)
    if tm.state == "closing" and tm.closing_since is not None:
        limit = min(limit, tm.closing_since)
    return limit


def open_from(tm: Timer, at: float) -> None:
    """Open a segment at `at`, never before the timer started (daemon and browser clocks differ slightly)."""
    seg.open_at(tm.segments, max(at, tm.started_at))


def set_slot(tm: Timer, slot: int) -> None:
    tm.slot = slot
    if not tm.colour_custom:
        tm.colour = PALETTE[slot]


def free_slot(state: EngineState, prefer: int | None = None) -> int | None:
    used = {tm.slot for tm in state.timers if is_live(tm)}
    if prefer is not None and 0 <= prefer < MAX_LIVE and prefer not in used:
        return prefer
    for slot in range(MAX_LIVE):
        if slot not in used:
            return slot
    return None


# --- finalizing and the long-run cap ---------------------------------------------------------------------------


def finalize(state: EngineState, tm: Timer, reason: FinalReason, effects: list[Effect]) -> None:
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


def long_run(state: EngineState, tm: Timer, moment: float, effects: list[Effect]) -> None:
    """Finalize at the cap. A ticket still shown stays untimed until the user starts it or closes and reopens it:
    timing it again at once would bill the rest of the night unreviewed."""
    seg.truncate(tm.segments, moment)
    if "long_run" not in tm.flags:
        tm.flags.append("long_run")
    tm.stopped_at = moment
    suppress_if_shown(state, tm, "long_run")
    untimed = " and stays untimed until you start it or close and reopen it" if tm.ticket is not None else ""
    effects.append(
        Notice(
            code="long_run",
            message=f"{label(tm)} reached the long-run cap and was stopped for review{untimed}",
            timer_id=tm.id,
        )
    )
    finalize(state, tm, "long_run", effects)


def check_cap(state: EngineState, tm: Timer, limit: float, cap: int | None, effects: list[Effect]) -> bool:
    """Finalize `tm` at the moment it reached the cap, if it did by `limit`. True if it was finalized.

    The cap is the timer's own (`Timer.long_run_s`, resolved by the service from its scope) where it has one, else
    `cap` (the config's `timing.long_run_s`); None: no cap at all."""
    if cap is None:
        return False
    if tm.long_run_s is not None:
        cap = tm.long_run_s
    moment = seg.cap_moment(tm.segments, limit, cap)
    if moment is None:
        return False
    long_run(state, tm, moment, effects)
    return True


def end_open(state: EngineState, tm: Timer, at: float, cap: int | None, effects: list[Effect]) -> bool:
    """Close the open segment at `at` (cap-aware). False if the cap finalized the timer instead."""
    seg.close(tm.segments, at)
    return not check_cap(state, tm, at, cap, effects)


def truncate(state: EngineState, tm: Timer, at: float, cap: int | None, effects: list[Effect]) -> bool:
    seg.truncate(tm.segments, at)
    return not check_cap(state, tm, at, cap, effects)


def wind_down(state: EngineState, tm: Timer, now: float, cap: int | None, effects: list[Effect]) -> float:
    """Settle the segments of a timer the user ends at `now`; returns the stop moment (-1 if cap finalized it)."""
    if tm.state == "stopped":
        at = tm.stopped_at if tm.stopped_at is not None else now
        return at if truncate(state, tm, at, cap, effects) else -1.0
    if tm.state == "closing" and tm.closing_since is not None:
        at = tm.closing_since
        return at if truncate(state, tm, at, cap, effects) else -1.0
    at = credit_limit(tm, state, now)
    return at if end_open(state, tm, at, cap, effects) else -1.0


def enforce_caps(
    state: EngineState, auto_limit: float, manual_limit: float, cfg: TimingConfig, effects: list[Effect]
) -> None:
    for tm in list(state.timers):
        if tm.kind == "manual":
            limit = manual_limit
        elif tm.state == "closing" and tm.closing_since is not None:
            limit = min(auto_limit, tm.closing_since)
        else:
            limit = auto_limit
        check_cap(state, tm, limit, cfg.long_run_s, effects)


def suppress_if_shown(state: EngineState, tm: Timer, why: Suppression) -> None:
    if tm.ticket is not None and tm.ticket.key in shown_tickets(state, everywhere=True):
        state.suppressed[tm.ticket.key] = why


def idle_hold(state: EngineState) -> set[str]:
    return set(state.idle_pending.timers) if state.idle_pending is not None else set()


def touch_attended(state: EngineState, at: float) -> None:
    key = state.browser.attended
    if key is None:
        return
    tm = by_key(state, key)
    if tm is not None and is_live(tm):
        tm.last_attended = max(tm.last_attended, at)


# --- slots and eviction ---------------------------------------------------------------------------------------


def make_room(
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
    slot = free_slot(state, prefer)
    if slot is not None:
        return slot
    attended = state.browser.attended
    candidates = [
        tm
        for tm in state.timers
        if tm.kind == "auto"
        and is_live(tm)
        and tm is not exclude
        and not (tm.ticket is not None and tm.ticket.key == attended)
        and not (tm.started_at == at and tm.last_attended == at)
    ]
    if not candidates:
        return None
    victim = min(candidates, key=lambda tm: (tm.last_attended, tm.started_at, id_number(tm)))
    evict(state, victim, at, cap, effects)
    return free_slot(state, prefer)  # the victim's slot is free now, whichever way it was finalized


def evict(state: EngineState, victim: Timer, at: float, cap: int | None, effects: list[Effect]) -> None:
    """Evict: the timer ends at `at` and is finalized "evicted" (or "long_run" if it reached the cap first)."""
    stop_at = wind_down(state, victim, at, cap, effects)
    if stop_at >= 0:
        victim.stopped_at = stop_at
        effects.append(
            Notice(
                code="evicted",
                message=f"{label(victim)} was closed to make room: at most {MAX_LIVE} timers run at once",
                timer_id=victim.id,
            )
        )
        suppress_if_shown(state, victim, "evicted")
        finalize(state, victim, "evicted", effects)


def new_timer(
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


def run(tm: Timer, at: float) -> None:
    """Start or resume: the timer runs from `at`."""
    open_from(tm, at)
    tm.state = "running"
    tm.paused_by = None


def hold(state: EngineState, tm: Timer, at: float, by: PausedBy, cap: int | None, effects: list[Effect]) -> bool:
    """A running timer stops counting at `at` (attention left it, or the machine went idle). False if the cap
    finalized it instead."""
    if not end_open(state, tm, at, cap, effects):
        return False
    tm.state = "paused"
    tm.paused_by = by
    tm.forced_run = False
    return True


def leave(state: EngineState, tm: Timer, t: float, end_now: bool, cap: int | None, effects: list[Effect]) -> None:
    """Close: no tab shows the ticket any more; grace starts at `t`. With `end_now` (focus mode, another ticket
    attended) the open segment ends at once."""
    if tm.state in ("running", "paused"):
        tm.state = "closing"
        tm.closing_since = t
        tm.forced_run = False
    if end_now and seg.open_segment(tm.segments) is not None:
        end_open(state, tm, t, cap, effects)


def come_back(tm: Timer) -> None:
    """A closing ticket is shown again within its grace: back to running, or to paused if it was paused."""
    tm.closing_since = None
    tm.state = "running" if tm.paused_by is None else "paused"


def expire_grace(state: EngineState, tm: Timer, since: float, cap: int | None, effects: list[Effect]) -> None:
    """Grace expired: a closing timer stops where its ticket was closed (`since`); its merge window runs."""
    if truncate(state, tm, since, cap, effects):
        tm.state = "stopped"
        tm.stopped_at = since
        tm.closing_since = None
        tm.forced_run = False


def revive(tm: Timer, slot: int) -> None:
    """A stopped timer's ticket is shown again within its merge window: it takes a slot and waits paused."""
    set_slot(tm, slot)
    tm.stopped_at = None
    tm.flags = [f for f in tm.flags if f != "offline"]
    if tm.paused_by != "user":
        tm.paused_by = "attention"
    tm.state = "paused"
