"""Browser silence, per install (rule 12): offline stops, their undoing or confirming, and what long silence ends.

An install silent past the offline threshold stops the auto timers whose tickets only silent installs show
(`go_offline`); its first event afterwards undoes the stop if the events were only delayed, or confirms it
(`settle_offline`); after OFFLINE_FINALIZE_S of silence its stopped timers are finalized
(`finalize_long_silent`). Pure, like the rest of the engine.
"""

from __future__ import annotations

from typing import Literal

from daemon.settings import TimingConfig
from daemon.timers import segments as seg
from daemon.timers.engine_state import (
    Effect,
    EngineState,
    FinalReason,
    Notice,
    OfflineStop,
    Timer,
    owners,
)
from daemon.timers.transitions import end_open, finalize, is_live, make_room, open_from, present, set_slot, truncate

__all__ = [
    "OFFLINE_FINALIZE_S",
    "end_unseen",
    "finalize_long_silent",
    "go_offline",
    "offline_to_ordinary",
    "settle_offline",
    "shown_elsewhere",
    "silent_installs",
]

OFFLINE_FINALIZE_S = 2 * 3600
"""After this much browser silence, its stopped timers are finalized."""


def silent_owners(state: EngineState, tm: Timer, silent: set[str]) -> list[str] | None:
    """The installs whose silence stops `tm`: those showing its ticket (every install if none does, as for a
    closing ticket), if all of them are silent; None if one that shows it still speaks."""
    shown_by = owners(state, tm.ticket.key) if tm.ticket is not None else []
    by = shown_by or sorted(state.installs)
    return by if by and set(by) <= silent else None


def go_offline(state: EngineState, silent: set[str], cfg: TimingConfig, effects: list[Effect]) -> None:
    """Rule 12 per install: auto timers whose tickets only silent installs show stop where they were last seen."""
    stopped = False
    for tm in list(state.timers):
        if tm.kind != "auto" or not is_live(tm) or not present(state, tm):
            continue
        by = silent_owners(state, tm, silent)
        if by is not None and offline_stop(state, tm, by, cfg.long_run_s, effects):
            stopped = True
    for name in silent:
        state.installs[name].offline = True
    if stopped:
        effects.append(
            Notice(code="browser_offline", message="the browser went silent; its timers are stopped for now")
        )


def offline_stop(state: EngineState, tm: Timer, by: list[str], cap: int | None, effects: list[Effect]) -> bool:
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
        if not end_open(state, tm, bs, cap, effects):
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


def offline_to_ordinary(state: EngineState, tm: Timer, cfg: TimingConfig, effects: list[Effect]) -> None:
    """Confirm an offline stop: the timer becomes an ordinary stopped one (its merge window runs)."""
    tm.stopped_by_offline = False
    tm.offline_prev = None
    if tm.stopped_at is not None:
        truncate(state, tm, tm.stopped_at, cfg.long_run_s, effects)


def undo_offline_stop(tm: Timer, prev: OfflineStop, slot: int) -> None:
    """Undo an offline stop: the browser was there all along; the timer is as it was, in `slot`."""
    set_slot(tm, slot)
    tm.state = prev.state
    tm.paused_by = prev.paused_by
    tm.closing_since = prev.closing_since
    tm.stopped_at = None
    tm.stopped_by_offline = False
    tm.offline_prev = None
    tm.flags = [f for f in tm.flags if f != "offline"]
    if prev.reopen_from is not None:
        open_from(tm, prev.reopen_from)


def offline_held(state: EngineState, install: str) -> list[Timer]:
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


def settle_offline(
    state: EngineState, install: str, t: float, gap: bool, cfg: TimingConfig, effects: list[Effect]
) -> None:
    """Rule 12 at the first event of an install after an offline stop of its tickets: undo it (events were only
    delayed) or confirm it."""
    for tm in offline_held(state, install):
        if not present(state, tm):
            continue
        prev = tm.offline_prev
        slot = None if gap or prev is None else make_room(state, t, effects, prefer=tm.slot, exclude=tm)
        if prev is not None and slot is not None and present(state, tm):
            undo_offline_stop(tm, prev, slot)
        elif present(state, tm):
            offline_to_ordinary(state, tm, cfg, effects)


def end_unseen(state: EngineState, install: str, seen: float, cfg: TimingConfig, effects: list[Effect]) -> None:
    """`install` is back after a gap: what only it showed ends where it was last `seen` (the reconcile that
    follows restarts what it still shows)."""
    elsewhere = shown_elsewhere(state, install)
    for tm in list(state.timers):
        if tm.kind == "auto" and present(state, tm) and seg.open_segment(tm.segments) is not None:
            if tm.ticket is None or tm.ticket.key not in elsewhere:
                end_open(state, tm, seen, cfg.long_run_s, effects)


def shown_elsewhere(state: EngineState, install: str) -> set[str]:
    """Ticket keys shown in a tab of another install that is not offline."""
    return {
        tab.ticket.key
        for name, view in state.installs.items()
        if name != install and not view.offline
        for tab in view.tabs.values()
        if tab.ticket is not None
    }


def silent_installs(state: EngineState, now: float, longer_than: float) -> set[str]:
    return {name for name, view in state.installs.items() if view.seen is not None and now - view.seen > longer_than}


def finalize_long_silent(state: EngineState, now: float, cfg: TimingConfig, effects: list[Effect]) -> None:
    """After OFFLINE_FINALIZE_S of silence an install's offline-stopped timers are finalized and, while another
    install still speaks, its view is forgotten (closed or uninstalled: its stale tabs must not keep tickets
    shown; it sends a snapshot when it connects again). Once every browser has been silent that long, the stopped
    timers waiting out a merge window are finalized too and the views are kept (the machine was asleep)."""
    bs = state.browser_seen
    everyone = bs is not None and now - bs > OFFLINE_FINALIZE_S
    gone = silent_installs(state, now, OFFLINE_FINALIZE_S)
    for tm in list(state.timers):
        if tm.kind != "auto" or tm.state != "stopped":
            continue
        prev = tm.offline_prev
        if not everyone and not (
            tm.stopped_by_offline and prev is not None and prev.installs and set(prev.installs) <= gone
        ):
            continue
        reason: FinalReason = "offline" if tm.stopped_by_offline else "closed"
        offline_to_ordinary(state, tm, cfg, effects)
        if present(state, tm):
            finalize(state, tm, reason, effects)
    if not everyone:
        for name in gone:
            del state.installs[name]
