"""The timer engine: a pure state machine from browser facts and user commands to timers (DESIGN.md §4).

No clock, no I/O. The service loads `EngineState` (msgspec JSON), calls one entry point, persists the state and the
returned effects in one transaction, then acknowledges. Every entry point takes the time as an argument; functions
mutate the state passed in and return effects. Same inputs, same outputs (timer ids come from `next_id`).
The persisted shapes, effects and errors live in `engine_state.py` (re-exported here); segment arithmetic in
`segments.py`; the named transitions of one timer, each keeping the invariants, in `transitions.py`; browser
silence per install (rule 12) in `offline.py`.

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

import msgspec

from daemon.settings import TimingConfig
from daemon.timers import segments as seg
from daemon.timers.engine_state import (
    Billable,
    Effect,
    EngineError,
    EngineState,
    Finalized,
    InvalidInput,
    InvalidTransition,
    NoSuchTimer,
    Notice,
    PausedBy,
    PendingIdle,
    Recognize,
    Timer,
    TooManyTimers,
    adopt_legacy_view,
    attended_key,
    shown_tickets,
    update_browser,
)
from daemon.timers.events import BrowserEvent, IdleChanged
from daemon.timers.model import PALETTE, IdlePending, TicketRef, TimerView
from daemon.timers.offline import (
    end_unseen,
    finalize_long_silent,
    go_offline,
    offline_to_ordinary,
    settle_offline,
    silent_installs,
)
from daemon.timers.segments import Segment
from daemon.timers.transitions import (
    MAX_LIVE,
    by_key,
    check_cap,
    come_back,
    credit_limit,
    end_open,
    enforce_caps,
    expire_grace,
    finalize,
    free_slot,
    hold,
    id_number,
    idle_hold,
    is_live,
    label,
    leave,
    live_count,
    make_room,
    new_timer,
    open_from,
    present,
    revive,
    run,
    set_slot,
    suppress_if_shown,
    touch_attended,
    wind_down,
)

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
    "flag",
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

IDLE_DECISION_TTL_S = 3600
"""An unanswered away decision is dropped this long after the away span ended."""
MAX_NOTES = 10_000
MAX_SHORT = 200

_BILLABLE: tuple[str, ...] = ("agreement", "yes", "no")
_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")

# --- small helpers --------------------------------------------------------------------------------------------


def _gap_limit(cfg: TimingConfig) -> float:
    return 2 * cfg.heartbeat_s + 5


def _find(state: EngineState, timer_id: str) -> Timer:
    for tm in state.timers:
        if tm.id == timer_id:
            return tm
    if timer_id in state.finalized_ids:
        raise InvalidTransition(f"timer {timer_id} is finalized; change its entry instead")
    raise NoSuchTimer(f"no timer {timer_id}")


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
        if not present(state, tm):
            continue
        if tm.state == "running" and (tm.kind == "auto" or cfg.manual_idle):
            if _idle_pause(state, tm, since, cfg.long_run_s, effects):
                listed.append(tm.id)
        elif tm.state == "closing" and seg.open_segment(tm.segments) is not None:
            end_open(state, tm, since, cfg.long_run_s, effects)
    state.idle_pending = PendingIdle(since=since, timers=listed) if listed else None


def _idle_pause(state: EngineState, tm: Timer, since: float, cap: int | None, effects: list[Effect]) -> bool:
    """Idle: a running timer loses the time since the machine went idle and waits paused for the away decision.
    False if the cap finalized it instead."""
    start = tm.segments[-1].start if tm.segments else since
    seg.cut_last(tm.segments, max(since, start))
    if check_cap(state, tm, since, cap, effects):
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
            run(tm, t)
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
            if at >= tm.closing_since + cfg.grace_s:
                expire_grace(state, tm, tm.closing_since, cfg.long_run_s, effects)
    held = idle_hold(state)
    for tm in list(state.timers):
        if (
            tm.kind == "auto"
            and tm.state == "stopped"
            and not tm.stopped_by_offline
            and (until := held_until(tm, cfg)) is not None
            and at >= until
            and tm.id not in held
        ):
            finalize(state, tm, "closed", effects)


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


# --- reconcile auto timers with the browser -------------------------------------------------------------------


def _reconcile(state: EngineState, t: float, cfg: TimingConfig, effects: list[Effect]) -> None:
    """Bring the auto timers in line with what the browsers show and attend at browser time `t`."""
    shown = shown_tickets(state)
    attended, changed = _refresh_attention(state, shown)
    for tm in list(state.timers):
        if tm.kind != "auto" or tm.ticket is None or tm.state == "stopped" or not present(state, tm):
            continue
        if tm.ticket.key in shown:
            _follow_attention(state, tm, tm.ticket.key, attended, changed, t, cfg, effects)
        else:
            leave(state, tm, t, cfg.mode == "focus" and attended is not None, cfg.long_run_s, effects)
    order = [attended] if attended in shown else []
    if cfg.mode != "focus":  # focus mode starts only the attended ticket (`_start_auto`): no need to visit the rest
        order += [k for k in shown if k != attended]
    for key in order:
        _start_auto(state, shown[key], attended, t, cfg, effects)


def _refresh_attention(state: EngineState, shown: dict[str, TicketRef]) -> tuple[str | None, bool]:
    """Record the attended ticket; lift suppressions and refusals that no longer apply. Returns the attended
    ticket key and whether it changed."""
    # a silent install's tabs still hold their suppressions; with none silent that is what is shown
    anywhere = shown_tickets(state, everywhere=True) if any(v.offline for v in state.installs.values()) else shown
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
        come_back(tm)
    if tm.state == "running":
        if wanted or (tm.forced_run and not changed):
            open_from(tm, t)
        else:
            hold(state, tm, t, _unwanted_reason(state), cfg.long_run_s, effects)
    elif tm.state == "paused" and tm.paused_by != "user" and wanted:
        run(tm, t)


def _start_auto(
    state: EngineState, ticket: TicketRef, attended: str | None, t: float, cfg: TimingConfig, effects: list[Effect]
) -> None:
    """Start: a shown ticket without a live timer gets one (a new one, or its stopped one revived)."""
    key = ticket.key
    if key in state.suppressed or (cfg.mode == "focus" and key != attended):
        return
    existing = by_key(state, key)
    if existing is not None and (existing.kind == "manual" or existing.state != "stopped"):
        return
    prefer = existing.slot if existing else None
    slot = make_room(state, t, effects, prefer=prefer, exclude=existing, cap=cfg.long_run_s)
    if slot is None:
        _refuse(state, key, effects)
        return
    if existing is None:
        tm = new_timer(state, kind="auto", slot=slot, at=t, ticket=ticket, task=None)
    else:
        tm = existing
        revive(tm, slot)
    if tm.paused_by != "user":
        if _wanted(state, key, attended, cfg):
            run(tm, t)
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
        end_unseen(state, install, prev, cfg, effects)
    state.browser_seen = t
    settle_offline(state, install, t, gap, cfg, effects)
    enforce_caps(state, t, t, cfg, effects)
    touch_attended(state, t)
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
    touch_attended(state, t)
    return effects


def tick(state: EngineState, now: float, cfg: TimingConfig, *, allow_offline: bool) -> list[Effect]:
    """Time-driven transitions at daemon time `now`: long-run caps, away-decision expiry, browser silence.

    Grace and merge windows of auto timers are re-checked at `browser_seen` (browser time), not at `now`.
    With `allow_offline=False` (start-up grace) browser silence is not acted on.
    """
    effects: list[Effect] = []
    adopt_legacy_view(state, None)
    bs = state.browser_seen
    enforce_caps(state, now if bs is None else min(now, bs), now, cfg, effects)
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
        go_offline(state, silent_installs(state, now, limit), cfg, effects)
        finalize_long_silent(state, now, cfg, effects)
    _expire_auto(state, bs, cfg, effects)
    return effects


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
                    message=f"{label(tm)} was paused when the daemon restarted; resume it if you are still on it",
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
    existing = by_key(state, ticket.key) if ticket is not None else None
    if existing is not None and _take_over(state, existing, now, cfg, effects):
        _describe(existing, notes, billable, work_type, keep_blank=True)
        if ticket is not None:
            state.suppressed.pop(ticket.key, None)
        return existing, effects
    slot = free_slot(state)
    if slot is None:
        raise TooManyTimers(f"at most {MAX_LIVE} timers can be live; stop one first")
    tm = new_timer(state, kind="manual", slot=slot, at=now, ticket=ticket, task=task)
    run(tm, now)
    _describe(tm, notes, billable, work_type, keep_blank=False)
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
    if not is_live(tm) and live_count(state) >= MAX_LIVE:
        raise TooManyTimers(f"at most {MAX_LIVE} timers can be live; stop one first")
    if wind_down(state, tm, now, cfg.long_run_s, effects) < 0:
        return False
    if not is_live(tm):
        slot = free_slot(state, tm.slot)
        set_slot(tm, slot if slot is not None else 0)
    tm.kind = "manual"
    tm.closing_since = None
    tm.stopped_at = None
    tm.stopped_by_offline = False
    tm.offline_prev = None
    tm.forced_run = False
    tm.flags = [f for f in tm.flags if f != "offline"]
    tm.last_attended = now
    run(tm, now)
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
        seg.close(tm.segments, credit_limit(tm, state, now))
    tm.state = "paused"
    tm.paused_by = "user"
    tm.forced_run = False
    return []


def resume(state: EngineState, timer_id: str, now: float, cfg: TimingConfig) -> list[Effect]:
    """User resume: runs from `now`. An unattended auto timer in focus mode runs until attention next changes."""
    tm = _find(state, timer_id)
    if tm.state != "paused":
        raise InvalidTransition(f"timer {timer_id} is {tm.state} and cannot be resumed")
    run(tm, now)
    tm.last_attended = max(tm.last_attended, now)
    tm.forced_run = (
        tm.kind == "auto" and cfg.mode == "focus" and (tm.ticket is None or tm.ticket.key != state.browser.attended)
    )
    return []


def stop(state: EngineState, timer_id: str, now: float, cfg: TimingConfig) -> list[Effect]:
    """User stop: the timer ends now and is finalized at once ("stopped", or "long_run" if it hit the cap)."""
    tm = _find(state, timer_id)
    effects: list[Effect] = []
    suppress_if_shown(state, tm, "user")
    stop_at = wind_down(state, tm, now, cfg.long_run_s, effects)
    if stop_at >= 0:
        tm.stopped_at = stop_at
        finalize(state, tm, "stopped", effects)
    return effects


def discard(state: EngineState, timer_id: str, now: float) -> list[Effect]:
    """Discard: finalized as "discarded" (the service keeps a voided entry for audit)."""
    tm = _find(state, timer_id)
    effects: list[Effect] = []
    suppress_if_shown(state, tm, "user")
    tm.stopped_at = wind_down(state, tm, now, None, effects)
    finalize(state, tm, "discarded", effects)
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
    if tm.id in idle_hold(state):
        raise InvalidTransition("decide first whether to keep the away time on this ticket")
    effects: list[Effect] = []
    if tm.stopped_by_offline:
        offline_to_ordinary(state, tm, cfg, effects)
        if present(state, tm):
            finalize(state, tm, "offline", effects)
        return effects
    stop_at = wind_down(state, tm, now, cfg.long_run_s, effects)
    if stop_at >= 0:
        tm.stopped_at = stop_at
        finalize(state, tm, "closed", effects)
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


def flag(state: EngineState, timer_id: str, name: str) -> Timer:
    """Mark a live timer with a flag its entry will carry (e.g. "overlap": an automation ran on its ticket)."""
    tm = _find(state, timer_id)
    if name not in tm.flags:
        tm.flags.append(name)
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
    return seg.total(timer.segments, credit_limit(timer, state, now))


def views(state: EngineState, now: float) -> list[TimerView]:
    """What clients see: live timers by slot, then stopped ones (merge window, offline) by stop time."""
    live = sorted((tm for tm in state.timers if is_live(tm)), key=lambda tm: tm.slot)
    done = sorted(
        (tm for tm in state.timers if not is_live(tm)),
        key=lambda tm: (tm.stopped_at or 0.0, id_number(tm)),
    )
    out: list[TimerView] = []
    for tm in [*live, *done]:
        running = tm.state == "running"
        limit = credit_limit(tm, state, now)
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
                label=label(tm),
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
        seg.close(copy.segments, credit_limit(tm, state, now))
        out.append((copy, held_until(tm, cfg)))
    return out


def idle_pending_view(state: EngineState) -> IdlePending | None:
    """The away span awaiting a keep/drop decision, once the user is back (None while still away)."""
    pending = state.idle_pending
    if pending is None or pending.until is None:
        return None
    present = {tm.id for tm in state.timers}
    return IdlePending(since=pending.since, until=pending.until, timers=[i for i in pending.timers if i in present])
