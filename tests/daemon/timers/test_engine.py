"""The timer engine on fake time: exact seconds per ticket for the situations a technician meets.

Every step of every scenario goes through `Sim`, which also checks that the state survives a JSON round trip and
that the structural invariants hold. Browser time advances with heartbeats every 20 s unless a test says otherwise
(the engine treats a silence longer than 2 * heartbeat + 5 s as the browser being away).
"""

from __future__ import annotations

import random
from typing import Any, Literal

import msgspec
import pytest

from daemon.settings import TimingConfig
from daemon.timers import segments as seg
from daemon.timers.engine import (
    MAX_LIVE,
    Effect,
    EngineError,
    EngineState,
    Finalized,
    InvalidInput,
    InvalidTransition,
    NoSuchTimer,
    Notice,
    Timer,
    TooManyTimers,
    apply_event,
    discard,
    edit,
    elapsed,
    idle_pending_view,
    pause,
    recover,
    resolve_idle,
    resume,
    start_manual,
    stop,
    tick,
    views,
)
from daemon.timers.events import (
    BrowserEvent,
    Heartbeat,
    IdleChanged,
    Snapshot,
    TabActivated,
    TabClosed,
    TabInfo,
    TabOpened,
    TabUpdated,
    WindowFocused,
)
from daemon.timers.model import PALETTE, TicketRef

FOCUS = TimingConfig()
OPEN = TimingConfig(mode="open")
T0 = 1_000_000.0


def ref(n: int) -> TicketRef:
    return TicketRef(instance="halo", kind="halopsa", id=n)


def url(n: int | None) -> str:
    return f"https://acme.halopsa.com/ticket?id={n}" if n is not None else "https://acme.halopsa.com/tickets"


def recognize(u: str, title: str, page_ticket: str | None) -> TicketRef | None:
    marker = "/ticket?id="
    return ref(int(u.split(marker, 1)[1])) if marker in u else None


_state_decoder = msgspec.json.Decoder(EngineState)
_effects_decoder = msgspec.json.Decoder(list[Effect])


def roundtrip(state: EngineState) -> None:
    data = msgspec.json.encode(state)
    assert _state_decoder.decode(data) == state


def check_invariants(state: EngineState, now: float) -> None:
    live = [tm for tm in state.timers if tm.state != "stopped"]
    assert len(live) <= MAX_LIVE
    assert len({tm.slot for tm in live}) == len(live)
    keys = [tm.ticket.key for tm in state.timers if tm.ticket is not None]
    assert len(keys) == len(set(keys)), "one timer per ticket"
    for tm in state.timers:
        check_segments(tm)
        opened = seg.open_segment(tm.segments)
        if tm.state == "running":
            assert opened is not None, tm
        if tm.state in ("paused", "stopped"):
            assert opened is None, tm
        limit = max(now, state.browser_seen or now)
        assert elapsed(tm, state, now) <= limit - tm.started_at + 1e-6


def check_segments(tm: Timer) -> None:
    for i, s in enumerate(tm.segments):
        assert s.start >= tm.started_at - 1e-9
        if s.end is None:
            assert i == len(tm.segments) - 1, "only the last segment may be open"
        else:
            assert s.end > s.start
        if i:
            prev_end = tm.segments[i - 1].end
            assert prev_end is not None and prev_end <= s.start


def spans(tm: Timer) -> list[tuple[float, float | None]]:
    return [(s.start - T0, None if s.end is None else s.end - T0) for s in tm.segments]


class Sim:
    """Drives the engine like the service does; times are offsets from T0."""

    def __init__(self, cfg: TimingConfig = FOCUS) -> None:
        self.cfg = cfg
        self.state = EngineState()
        self.seq = 0
        self.effects: list[Effect] = []
        self.log: list[BrowserEvent] = []

    # browser -------------------------------------------------------------------------------------------------
    def ev(
        self, event_type: type[Any], at: float, *, hb: bool = True, install: str = "", **fields: Any
    ) -> list[Effect]:
        if hb:
            self.heartbeats_until(at)
        self.seq += 1
        event = event_type(seq=self.seq, at=T0 + at, **fields)
        return self.apply(event, install=install)

    def apply(self, event: BrowserEvent, *, install: str = "") -> list[Effect]:
        self.log.append(event)
        out = apply_event(self.state, event, cfg=self.cfg, recognize=recognize, install=install)
        self._after(out, event.at)
        return out

    def heartbeats_until(self, at: float) -> None:
        bs = self.state.browser_seen
        if bs is None:
            return
        t = bs - T0 + 20
        while t < at:
            self.seq += 1
            self.apply(Heartbeat(seq=self.seq, at=T0 + t))
            t += 20

    def open(
        self,
        at: float,
        tab: int,
        n: int | None,
        *,
        window: int = 1,
        active: bool = True,
        hb: bool = True,
        install: str = "",
    ) -> None:
        self.ev(TabOpened, at, hb=hb, install=install, tab=tab, window=window, url=url(n), active=active)

    def nav(self, at: float, tab: int, n: int | None, *, window: int = 1) -> None:
        self.ev(TabUpdated, at, tab=tab, window=window, url=url(n))

    def activate(self, at: float, tab: int, *, window: int = 1) -> None:
        self.ev(TabActivated, at, tab=tab, window=window)

    def close(self, at: float, tab: int) -> None:
        self.ev(TabClosed, at, tab=tab)

    def focus(self, at: float, window: int, *, install: str = "") -> None:
        self.ev(WindowFocused, at, hb=not install, install=install, window=window)

    def hb(self, at: float, *, hb: bool = True, install: str = "") -> list[Effect]:
        return self.ev(Heartbeat, at, hb=hb, install=install)

    def idle(self, at: float, *, since: float | None = None, state: str = "idle") -> None:
        self.ev(IdleChanged, at, state=state, since=None if since is None else T0 + since)

    def back(self, at: float) -> None:
        self.ev(IdleChanged, at, state="active")

    # daemon ------------------------------------------------------------------------------------------------
    def tick(self, now: float, *, allow_offline: bool = True) -> list[Effect]:
        out = tick(self.state, T0 + now, self.cfg, allow_offline=allow_offline)
        self._after(out, T0 + now)
        return out

    def _after(self, out: list[Effect], now: float) -> None:
        self.effects += out
        roundtrip(self.state)
        assert _effects_decoder.decode(msgspec.json.encode(out)) == out
        check_invariants(self.state, now)
        for effect in out:
            if isinstance(effect, Finalized):
                check_segments(effect.timer)
                assert seg.open_segment(effect.timer.segments) is None

    # reading -----------------------------------------------------------------------------------------------
    def timer(self, n: int) -> Timer:
        found = [tm for tm in self.state.timers if tm.ticket is not None and tm.ticket.id == n]
        assert found, f"no timer for ticket {n}"
        return found[0]

    def has_timer(self, n: int) -> bool:
        return any(tm.ticket is not None and tm.ticket.id == n for tm in self.state.timers)

    def secs(self, n: int, now: float | None = None) -> float:
        at = self.state.browser_seen if now is None else T0 + now
        assert at is not None
        return elapsed(self.timer(n), self.state, at)

    def finalized(self, reason: str | None = None) -> list[Finalized]:
        return [e for e in self.effects if isinstance(e, Finalized) and (reason is None or e.reason == reason)]

    def notices(self, code: str) -> list[Notice]:
        return [e for e in self.effects if isinstance(e, Notice) and e.code == code]


def total(tm: Timer) -> float:
    return seg.total(tm.segments, 0.0)


def frozen(state: EngineState) -> bytes:
    return msgspec.json.encode(state)


# --- attention and modes --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cfg", "expected"),
    [
        pytest.param(FOCUS, {1: 90, 2: 110}, id="focus"),
        pytest.param(OPEN, {1: 200, 2: 140}, id="open"),
    ],
)
def test_tab_switches_credit_exact_seconds(cfg: TimingConfig, expected: dict[int, float]) -> None:
    sim = Sim(cfg)
    sim.open(0, 1, 1)
    sim.open(60, 2, 2)
    sim.activate(100, 1)
    sim.activate(130, 2)
    sim.hb(200)
    assert {n: sim.secs(n) for n in expected} == expected


def test_focus_background_tab_gets_no_timer_until_attended() -> None:
    sim = Sim()
    sim.open(0, 1, 1)
    sim.open(10, 2, 2, active=False)
    assert not sim.has_timer(2)
    sim.activate(50, 2)
    sim.hb(100)
    assert (sim.secs(1), sim.secs(2)) == (50, 50)
    assert sim.timer(1).paused_by == "attention"


def test_focus_non_ticket_tab_takes_attention_away() -> None:
    sim = Sim()
    sim.open(0, 1, 1)
    sim.activate(30, 99)  # a tab the daemon was never told about (not a PSA page)
    sim.hb(90)
    assert sim.secs(1) == 30
    sim.activate(100, 1)
    sim.hb(120)
    assert sim.secs(1) == 50


def test_reload_within_grace_is_seamless() -> None:
    sim = Sim()
    sim.open(0, 1, 1)
    sim.nav(100, 1, None)  # navigates to a loading / non-ticket URL
    assert sim.timer(1).state == "closing"
    sim.nav(110, 1, 1)
    sim.hb(200)
    tm = sim.timer(1)
    assert tm.state == "running"
    assert spans(tm) == [(0, None)]
    assert sim.secs(1) == 200


def test_close_then_grace_expiry_ends_at_close_time_and_merge_window_finalizes() -> None:
    sim = Sim()
    sim.open(0, 1, 1)
    sim.close(100, 1)
    sim.hb(120)
    assert sim.timer(1).state == "closing"
    sim.hb(140)
    tm = sim.timer(1)
    assert tm.state == "stopped" and tm.stopped_at == T0 + 100
    assert spans(tm) == [(0, 100)]
    sim.hb(690)
    assert sim.has_timer(1)
    sim.hb(700)
    [done] = sim.finalized()
    assert done.reason == "closed"
    assert total(done.timer) == 100 and done.timer.segments[-1].end == T0 + 100
    assert not sim.state.timers


def test_reopen_within_merge_window_continues_same_timer_gap_excluded() -> None:
    sim = Sim()
    sim.open(0, 1, 1)
    first_id = sim.timer(1).id
    sim.close(100, 1)
    sim.open(400, 2, 1)
    sim.hb(500)
    tm = sim.timer(1)
    assert tm.id == first_id and tm.state == "running"
    assert spans(tm) == [(0, 100), (400, None)]
    assert sim.secs(1) == 200
    assert not sim.finalized()


def test_reopen_after_merge_window_finalizes_first_and_starts_new() -> None:
    sim = Sim()
    sim.open(0, 1, 1)
    first_id = sim.timer(1).id
    sim.close(100, 1)
    sim.open(800, 2, 1)
    [done] = sim.finalized("closed")
    assert done.timer.id == first_id and total(done.timer) == 100
    tm = sim.timer(1)
    assert tm.id != first_id and spans(tm) == [(800, None)]


def test_two_tabs_of_one_ticket_share_one_timer() -> None:
    sim = Sim()
    sim.open(0, 1, 7)
    sim.open(10, 2, 7)
    assert len(sim.state.timers) == 1
    sim.close(50, 2)  # Chrome then activates the neighbour, the other tab of the same ticket
    sim.activate(50, 1)
    sim.hb(200)
    tm = sim.timer(7)
    assert tm.state == "running" and spans(tm) == [(0, None)]


@pytest.mark.parametrize(
    ("cfg", "expected"),
    [
        pytest.param(FOCUS, {1: 200, 2: 100}, id="focus"),
        pytest.param(OPEN, {1: 300, 2: 300}, id="open"),
    ],
)
def test_two_windows_focus_changes_and_focus_loss(cfg: TimingConfig, expected: dict[int, float]) -> None:
    sim = Sim(cfg)
    sim.open(0, 1, 1, window=1)
    sim.open(0, 2, 2, window=2)
    sim.focus(0, 1)
    sim.focus(100, 2)
    sim.focus(150, -1)  # browser lost focus: remote-control tool in front, nothing pauses
    sim.focus(200, 1)
    sim.hb(300)
    assert {n: sim.secs(n) for n in expected} == expected


def test_focus_loss_keeps_the_attended_timer_running() -> None:
    sim = Sim()
    sim.open(0, 1, 1)
    sim.focus(10, -1)
    sim.hb(600)
    assert sim.timer(1).state == "running" and sim.secs(1) == 600


# --- idle -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("keep", "expected"), [(True, 1000), (False, 580)])
def test_idle_seven_minutes_keep_or_drop(keep: bool, expected: float) -> None:
    sim = Sim()
    sim.open(0, 1, 1)
    sim.idle(720, since=420)  # the idle threshold (300 s) passed at 720: away since 420
    tm = sim.timer(1)
    assert tm.state == "paused" and tm.paused_by == "idle" and spans(tm) == [(0, 420)]
    assert idle_pending_view(sim.state) is None  # still away: nothing to decide yet
    sim.back(840)  # 7 minutes away
    pending = idle_pending_view(sim.state)
    assert pending is not None and (pending.since, pending.until) == (T0 + 420, T0 + 840)
    assert pending.timers == [tm.id]
    assert sim.timer(1).state == "running"
    sim.hb(1000)
    resolve_idle(sim.state, keep, T0 + 1000)
    roundtrip(sim.state)
    assert sim.secs(1) == expected
    assert ("idle_kept" in sim.timer(1).flags) is keep
    if keep:
        assert spans(sim.timer(1)) == [(0, None)]
    assert idle_pending_view(sim.state) is None
    with pytest.raises(InvalidTransition):
        resolve_idle(sim.state, keep, T0 + 1001)


def test_screen_lock_pauses_at_lock_and_resumes_on_return() -> None:
    sim = Sim()
    sim.open(0, 1, 1)
    sim.idle(500, state="locked")
    sim.idle(600, since=550)  # idle while already locked changes nothing
    sim.back(800)
    sim.hb(900)
    assert sim.secs(1) == 600
    assert spans(sim.timer(1)) == [(0, 500), (800, None)]


def test_idle_pauses_manual_timers_unless_configured() -> None:
    for manual_idle, expected in ((True, 580), (False, 1000)):
        sim = Sim(TimingConfig(manual_idle=manual_idle))
        sim.hb(0)
        tm, _ = start_manual(sim.state, T0, sim.cfg, task="Internal meeting")
        sim.idle(720, since=420)
        sim.back(840)
        sim.hb(1000)
        if manual_idle:
            resolve_idle(sim.state, False, T0 + 1000)
        else:
            assert idle_pending_view(sim.state) is None  # nothing was paused: nothing to decide
        assert elapsed(tm, sim.state, T0 + 1000) == expected


def test_unresolved_idle_holds_merge_window_for_an_hour() -> None:
    sim = Sim()
    sim.open(0, 1, 1)
    sim.idle(720, since=420)
    sim.close(730, 1)  # the tab went away while the user was away
    sim.back(840)
    tm_id = sim.timer(1).id
    sim.hb(2000)  # merge window (stopped at 730 + 600) has passed but the decision is open
    assert sim.timer(1).state == "stopped"
    sim.hb(840 + 3600)
    assert sim.notices("idle_expired")
    [done] = sim.finalized("closed")
    assert done.timer.id == tm_id and total(done.timer) == 420


def test_kept_idle_on_a_timer_in_its_merge_window() -> None:
    sim = Sim()
    sim.open(0, 1, 1)
    sim.idle(720, since=420)
    sim.close(730, 1)
    sim.back(840)
    sim.hb(900)
    resolve_idle(sim.state, True, T0 + 900)
    sim.hb(840 + 600)
    [done] = sim.finalized("closed")
    assert spans(done.timer) == [(0, 840)]


# --- limit of nine --------------------------------------------------------------------------------------------


def test_tenth_auto_ticket_evicts_least_recently_attended() -> None:
    sim = Sim()
    for n in range(1, 10):
        sim.open(n * 10, n, n)
    sim.activate(100, 1)  # ticket 1 attended again: ticket 2 is now the least recently attended
    assert len(sim.state.timers) == 9
    sim.open(110, 10, 10)
    [evicted] = sim.finalized("evicted")
    assert evicted.timer.ticket == ref(2)
    assert [n.timer_id for n in sim.notices("evicted")] == [evicted.timer.id]
    assert sim.timer(10).state == "running" and sim.timer(10).slot == evicted.timer.slot
    assert len([tm for tm in sim.state.timers if tm.state != "stopped"]) == 9
    # attending the evicted ticket's tab again times it again (evicting the next least recent)
    sim.activate(120, 2)
    assert sim.timer(2).state == "running"
    assert sim.finalized("evicted")[-1].timer.ticket == ref(3)


def test_open_mode_evicted_ticket_is_not_recreated_while_open() -> None:
    sim = Sim(OPEN)
    for n in range(1, 11):
        sim.open(n * 10, n, n)
    assert len(sim.finalized("evicted")) == 1
    sim.hb(300)
    assert len(sim.finalized("evicted")) == 1
    assert not sim.has_timer(1)


def test_manual_tenth_is_refused_and_state_unchanged() -> None:
    sim = Sim()
    for n in range(9):
        start_manual(sim.state, T0 + n, sim.cfg, task=f"task {n}")
    before = frozen(sim.state)
    with pytest.raises(TooManyTimers):
        start_manual(sim.state, T0 + 10, sim.cfg, task="one too many")
    assert frozen(sim.state) == before
    # an automatic one is not created either, and the user is told once
    sim.open(20, 1, 1)
    sim.hb(60)
    assert not sim.has_timer(1)
    assert len(sim.notices("limit_reached")) == 1
    assert sorted(tm.colour for tm in sim.state.timers) == sorted(PALETTE)


def test_slots_take_lowest_free_and_distinct_colours() -> None:
    sim = Sim(OPEN)
    for n in range(1, 4):
        sim.open(n, n, n)
    assert [sim.timer(n).slot for n in (1, 2, 3)] == [0, 1, 2]
    stop(sim.state, sim.timer(2).id, T0 + 10, sim.cfg)
    tm, _ = start_manual(sim.state, T0 + 11, sim.cfg, task="x")
    assert (tm.slot, tm.colour) == (1, PALETTE[1])


# --- long runs, gaps, crediting -------------------------------------------------------------------------------


def test_long_run_cap_stops_at_the_exact_moment() -> None:
    sim = Sim(TimingConfig(long_run_s=3600))
    sim.open(0, 1, 1)
    sim.hb(3590)
    assert sim.has_timer(1)
    sim.hb(3610)
    [done] = sim.finalized("long_run")
    assert total(done.timer) == 3600 and done.timer.stopped_at == T0 + 3600
    assert "long_run" in done.timer.flags
    assert sim.notices("long_run")


@pytest.mark.parametrize("cfg", [TimingConfig(long_run_s=3600), TimingConfig(long_run_s=3600, mode="open")])
def test_after_the_long_run_cap_the_open_ticket_stays_untimed_until_the_user_acts(cfg: TimingConfig) -> None:
    """11 h on an open tab with a 1 h cap: one 1 h entry held for review, nothing timed for the rest of the night."""
    sim = Sim(cfg)
    sim.open(0, 1, 1)
    sim.hb(11 * 3600)
    sim.tick(11 * 3600)
    [done] = sim.finalized()
    assert done.reason == "long_run" and total(done.timer) == 3600
    assert not sim.has_timer(1), "no new timer starts on the same open tab"
    [notice] = sim.notices("long_run")
    assert "untimed until you start it or close and reopen it" in notice.message
    # Closing and reopening the ticket times it again, from the reopening.
    sim.close(11 * 3600 + 10, 1)
    sim.open(11 * 3600 + 20, 2, 1)
    sim.hb(11 * 3600 + 80)
    assert sim.secs(1) == 60
    # Or the user starts it by hand while it stays open.
    sim2 = Sim(cfg)
    sim2.open(0, 1, 1)
    sim2.hb(2 * 3600)
    assert not sim2.has_timer(1)
    start_manual(sim2.state, T0 + 2 * 3600, sim2.cfg, ticket=ref(1))
    assert sim2.timer(1).kind == "manual" and sim2.secs(1, 2 * 3600 + 30) == 30


def test_a_manual_timer_capped_on_an_open_ticket_does_not_hand_over_to_an_auto_timer() -> None:
    cfg = TimingConfig(long_run_s=3600, mode="open")
    sim = Sim(cfg)
    sim.open(0, 1, 1)
    start_manual(sim.state, T0 + 5, cfg, ticket=ref(1))
    sim.hb(5000)
    sim.tick(5000)
    [done] = sim.finalized("long_run")
    assert total(done.timer) == 3600 and not sim.has_timer(1)


def test_long_run_cap_for_manual_timer_is_computed_not_tick_time() -> None:
    cfg = TimingConfig(long_run_s=3600)
    state = EngineState()
    tm, _ = start_manual(state, T0, cfg, task="Server migration")
    pause(state, tm.id, T0 + 1000)
    resume(state, tm.id, T0 + 2000, cfg)
    out = tick(state, T0 + 9999, cfg, allow_offline=True)
    [done] = [e for e in out if isinstance(e, Finalized)]
    assert done.reason == "long_run" and total(done.timer) == 3600
    assert spans(done.timer) == [(0, 1000), (2000, 4600)]


def test_gap_rule_excludes_browser_silence() -> None:
    sim = Sim()
    sim.open(0, 1, 1)
    sim.hb(200)
    sim.hb(800, hb=False)  # ten minutes without a word from the browser (no tick ran meanwhile)
    sim.hb(900)
    assert spans(sim.timer(1)) == [(0, 200), (800, None)]
    assert sim.secs(1) == 300


def test_auto_timer_credited_only_up_to_browser_seen() -> None:
    sim = Sim()
    sim.open(0, 1, 1)
    sim.hb(20)
    assert sim.secs(1, now=300) == 20
    [view] = views(sim.state, T0 + 300)
    assert view.running and view.elapsed_s == 20 and view.as_of == T0 + 20


def test_out_of_order_at_is_clamped_to_browser_seen() -> None:
    sim = Sim()
    sim.open(0, 1, 1)
    sim.open(40, 2, 2)
    sim.ev(TabActivated, 10, hb=False, tab=1, window=1)  # stamped before the last event
    assert sim.state.browser_seen == T0 + 40
    sim.hb(100)
    assert sim.secs(2) == 0  # ticket 2 was attended from 40 to 40 (clamped): no negative, no empty segment
    assert sim.timer(2).segments == []
    assert sim.secs(1) == 100


# --- offline ---------------------------------------------------------------------------------------------------


def _workday(sim: Sim, start: float, end: float) -> None:
    """A stretch of work: two tickets, switches, a reload and a close/reopen inside the grace period."""
    sim.open(start + 30, 2, 2)
    sim.activate(start + 300, 1)
    sim.nav(start + 600, 1, None)
    sim.nav(start + 605, 1, 1)
    sim.close(start + 1200, 2)
    sim.open(start + 1210, 3, 2)
    sim.activate(start + 2000, 1)
    sim.hb(end)


def test_replayed_events_after_an_hour_offline_come_out_as_if_online() -> None:
    live = Sim()
    live.open(0, 1, 1)
    live.hb(100)
    _workday(live, 100, 3700)

    sim = Sim()
    sim.open(0, 1, 1)
    sim.hb(100)
    for now in range(110, 3700, 5):  # the daemon keeps ticking while the extension cannot reach it
        sim.tick(now)
    assert sim.notices("browser_offline")
    assert sim.timer(1).stopped_by_offline and "offline" in sim.timer(1).flags
    assert not sim.finalized()
    for event in live.log[len(sim.log) :]:  # the queue replays: heartbeats every 20 s and the tab events
        sim.apply(event)
    assert [(tm.id, tm.state, tm.segments, tm.flags) for tm in sim.state.timers] == [
        (tm.id, tm.state, tm.segments, tm.flags) for tm in live.state.timers
    ]
    assert not sim.finalized()
    assert sim.secs(1) + sim.secs(2) == 3700


def test_laptop_asleep_gap_is_excluded_and_entry_finalized_after_merge_window() -> None:
    sim = Sim()
    sim.open(0, 1, 1)
    sim.hb(100)
    sim.tick(200)
    tm = sim.timer(1)
    assert tm.state == "stopped" and tm.paused_by == "offline" and spans(tm) == [(0, 100)]
    sim.tick(3700)  # an hour asleep: still held, the browser may yet replay
    assert not sim.finalized()
    sim.hb(3700, hb=False)  # the browser is back, an hour later
    [done] = sim.finalized("closed")
    assert total(done.timer) == 100 and "offline" in done.timer.flags
    assert spans(sim.timer(1)) == [(3700, None)]


def test_short_absence_within_merge_window_continues_the_timer() -> None:
    sim = Sim()
    sim.open(0, 1, 1)
    sim.hb(100)
    sim.tick(200)
    sim.hb(400, hb=False)
    tm = sim.timer(1)
    assert tm.state == "running" and "offline" not in tm.flags
    assert spans(tm) == [(0, 100), (400, None)]


def test_browser_gone_for_two_hours_finalizes_offline() -> None:
    sim = Sim()
    sim.open(0, 1, 1)
    sim.hb(100)
    sim.tick(200)
    sim.tick(100 + 2 * 3600)
    assert not sim.finalized()
    sim.tick(101 + 2 * 3600)
    [done] = sim.finalized("offline")
    assert total(done.timer) == 100


def test_no_offline_stop_during_startup_grace() -> None:
    sim = Sim()
    sim.open(0, 1, 1)
    sim.hb(100)
    sim.tick(500, allow_offline=False)
    assert sim.timer(1).state == "running"
    sim.hb(520)  # replayed heartbeats arrive: nothing was lost
    assert sim.secs(1) == 520


# --- recover, user commands -----------------------------------------------------------------------------------


def test_recover_closes_manual_timers_at_last_checkpoint() -> None:
    state = EngineState()
    tm, _ = start_manual(state, T0, FOCUS, ticket=ref(5))
    out = recover(state, T0 + 1500, T0 + 2000)
    assert tm.state == "paused" and tm.paused_by == "restart"
    assert spans(tm) == [(0, 1500)]
    assert [e.timer_id for e in out if isinstance(e, Notice)] == [tm.id]
    resume(state, tm.id, T0 + 2000, FOCUS)
    assert elapsed(tm, state, T0 + 2100) == 1600


def test_user_pause_is_sticky_across_attention_changes() -> None:
    sim = Sim()
    sim.open(0, 1, 1)
    sim.open(10, 2, 2, active=False)
    sim.hb(100)
    pause(sim.state, sim.timer(1).id, T0 + 100)
    sim.activate(150, 2)
    sim.activate(200, 1)
    assert sim.timer(1).paused_by == "user"
    resume(sim.state, sim.timer(1).id, T0 + 300, sim.cfg)
    sim.hb(400)
    assert sim.secs(1) == 200
    with pytest.raises(InvalidTransition):
        resume(sim.state, sim.timer(1).id, T0 + 400, sim.cfg)


def test_resume_of_unattended_auto_timer_runs_until_attention_changes() -> None:
    sim = Sim()
    sim.open(0, 1, 1)
    sim.open(100, 2, 2)
    resume(sim.state, sim.timer(1).id, T0 + 100, sim.cfg)
    sim.hb(200)
    assert sim.timer(1).state == "running"
    sim.activate(200, 1)
    sim.activate(250, 2)
    sim.hb(300)
    assert sim.timer(1).paused_by == "attention"
    assert sim.secs(1) == 250


def test_user_stop_suppresses_until_no_tab_shows_the_ticket() -> None:
    sim = Sim()
    sim.open(0, 1, 1)
    sim.hb(100)
    out = stop(sim.state, sim.timer(1).id, T0 + 100, sim.cfg)
    assert [(e.reason, total(e.timer)) for e in out if isinstance(e, Finalized)] == [("stopped", 100)]
    sim.hb(200)
    assert not sim.has_timer(1)
    sim.nav(300, 1, None)
    sim.nav(310, 1, 1)
    assert sim.timer(1).state == "running" and spans(sim.timer(1)) == [(310, None)]


def test_stop_and_discard_finalize_at_once() -> None:
    sim = Sim()
    sim.open(0, 1, 1)
    sim.open(10, 2, 2)
    sim.hb(100)
    out = stop(sim.state, sim.timer(2).id, T0 + 100, sim.cfg)
    [stopped] = out
    assert isinstance(stopped, Finalized) and stopped.reason == "stopped" and total(stopped.timer) == 90
    tm, _ = start_manual(sim.state, T0 + 100, sim.cfg, task="Admin")
    out = discard(sim.state, tm.id, T0 + 160)
    [gone] = out
    assert isinstance(gone, Finalized) and gone.reason == "discarded" and total(gone.timer) == 60
    with pytest.raises(InvalidTransition):  # finalized: the entry is where changes go now
        edit(sim.state, tm.id, notes="late")
    with pytest.raises(NoSuchTimer):
        pause(sim.state, "t999", T0 + 200)
    roundtrip(sim.state)


def test_manual_start_validation_leaves_state_unchanged() -> None:
    state = EngineState()
    start_manual(state, T0, FOCUS, ticket=ref(1))
    before = frozen(state)
    bad: list[dict[str, Any]] = [
        {},
        {"ticket": ref(2), "task": "both"},
        {"task": "   "},
        {"task": "x", "billable": "maybe"},
    ]
    for kwargs in bad:
        with pytest.raises(InvalidInput):
            start_manual(state, T0 + 5, FOCUS, **kwargs)
        assert frozen(state) == before
    with pytest.raises(InvalidTransition):
        start_manual(state, T0 + 5, FOCUS, ticket=ref(1))
    assert frozen(state) == before


def test_manual_start_for_an_open_ticket_takes_over_its_auto_timer() -> None:
    sim = Sim()
    sim.open(0, 1, 1)
    sim.hb(100)
    auto_id = sim.timer(1).id
    tm, _ = start_manual(sim.state, T0 + 100, sim.cfg, ticket=ref(1), notes="on the phone")
    assert (tm.id, tm.kind, tm.notes) == (auto_id, "manual", "on the phone")
    sim.activate(120, 55)  # attention leaves; a manual timer ignores tabs
    sim.close(130, 1)
    assert elapsed(tm, sim.state, T0 + 200) == 200


def test_edit_changes_fields_and_validates() -> None:
    state = EngineState()
    tm, _ = start_manual(state, T0, FOCUS, task="Docs")
    edit(state, tm.id, notes="n", internal_notes="i", billable="no", work_type="Remote", colour="#ABCDEF")
    assert (tm.notes, tm.internal_notes, tm.billable, tm.work_type, tm.colour) == (
        "n",
        "i",
        "no",
        "Remote",
        "#abcdef",
    )
    before = frozen(state)
    bad: list[dict[str, Any]] = [{"colour": "red"}, {"billable": "sometimes"}, {"work_type": "w" * 500}]
    for kwargs in bad:
        with pytest.raises(InvalidInput):
            edit(state, tm.id, **kwargs)
        assert frozen(state) == before
    edit(state, tm.id, colour="")
    assert tm.colour == PALETTE[tm.slot]


# --- snapshots and odd events ---------------------------------------------------------------------------------


def test_snapshot_replaces_the_browser_view() -> None:
    sim = Sim(OPEN)
    sim.open(0, 1, 1)
    sim.open(0, 2, 2)
    tabs = [
        TabInfo(tab=2, window=1, url=url(2), active=True),
        TabInfo(tab=5, window=1, url=url(3)),
    ]
    sim.ev(Snapshot, 100, tabs=tabs, focused_window=1)
    assert sim.timer(1).state == "closing" and sim.timer(1).closing_since == T0 + 100
    assert sim.timer(3).state == "running"
    sim.hb(140)
    assert spans(sim.timer(1)) == [(0, 100)]


def test_unknown_tabs_and_odd_events_are_harmless() -> None:
    sim = Sim()
    sim.close(0, 42)
    sim.activate(1, 43, window=7)
    sim.focus(2, -1)
    sim.back(3)
    sim.ev(TabUpdated, 4, tab=44, window=-1, url="about:blank")
    sim.idle(5, since=0)
    sim.idle(6)
    assert sim.state.timers == []
    assert idle_pending_view(sim.state) is None


def test_state_roundtrips_after_every_step_of_a_long_scenario() -> None:
    # Sim checks the round trip after every event and tick; commands are checked here.
    sim = Sim()
    sim.open(0, 1, 1)
    sim.open(50, 2, 2, window=2)
    sim.focus(50, 2)
    tm, _ = start_manual(sim.state, T0 + 60, sim.cfg, task="Call")
    roundtrip(sim.state)
    sim.idle(500, since=200)
    sim.back(700)
    resolve_idle(sim.state, True, T0 + 700)
    roundtrip(sim.state)
    pause(sim.state, tm.id, T0 + 720)
    roundtrip(sim.state)
    sim.close(800, 2)
    sim.tick(900)
    sim.tick(1000)
    resume(sim.state, tm.id, T0 + 1000, sim.cfg)
    roundtrip(sim.state)
    edit(sim.state, tm.id, notes="x", colour="#000000")
    roundtrip(sim.state)
    sim.hb(2000)
    for view in views(sim.state, T0 + 2000):
        msgspec.json.encode(view)
    assert [e.reason for e in sim.finalized()] == ["closed"]


# --- randomized invariants ------------------------------------------------------------------------------------


def _random_event(rng: random.Random, seq: int, at: float) -> BrowserEvent:
    tab = rng.randint(1, 12)
    window = rng.randint(1, 3)
    ticket = rng.choice([None, *range(1, 15)])
    kind = rng.random()
    if kind < 0.18:
        return TabOpened(seq=seq, at=at, tab=tab, window=window, url=url(ticket), active=rng.random() < 0.6)
    if kind < 0.32:
        return TabUpdated(seq=seq, at=at, tab=tab, window=window, url=url(ticket))
    if kind < 0.50:
        return TabActivated(seq=seq, at=at, tab=tab, window=window)
    if kind < 0.60:
        return TabClosed(seq=seq, at=at, tab=tab)
    if kind < 0.70:
        return WindowFocused(seq=seq, at=at, window=rng.choice([-1, 1, 2, 3]))
    if kind < 0.78:
        state: Literal["active", "idle", "locked"] = rng.choice(["idle", "locked", "active", "active"])
        since = at - rng.uniform(0, 400) if state == "idle" else None
        return IdleChanged(seq=seq, at=at, state=state, since=since)
    if kind < 0.82:
        tabs = [
            TabInfo(
                tab=t, window=rng.randint(1, 3), url=url(rng.choice([None, *range(1, 15)])), active=rng.random() < 0.3
            )
            for t in rng.sample(range(1, 13), rng.randint(0, 12))
        ]
        return Snapshot(seq=seq, at=at, tabs=tabs, focused_window=rng.choice([-1, 1, 2, 3]))
    return Heartbeat(seq=seq, at=at)


def _random_command(rng: random.Random, state: EngineState, now: float, cfg: TimingConfig) -> None:
    ids = [tm.id for tm in state.timers] + ["t0"]
    timer_id = rng.choice(ids)
    choice = rng.random()
    if choice < 0.15:
        if rng.random() < 0.5:
            start_manual(state, now, cfg, ticket=ref(rng.randint(1, 16)))
        else:
            start_manual(state, now, cfg, task=rng.choice(["Admin", "Meeting", "", "Report"]))
    elif choice < 0.35:
        pause(state, timer_id, now)
    elif choice < 0.55:
        resume(state, timer_id, now, cfg)
    elif choice < 0.65:
        stop(state, timer_id, now, cfg)
    elif choice < 0.72:
        discard(state, timer_id, now)
    elif choice < 0.80:
        edit(state, timer_id, notes="n", colour=rng.choice([None, "", "#123456", "bad"]))
    elif choice < 0.90:
        resolve_idle(state, rng.random() < 0.5, now)
    else:
        recover(state, now - rng.uniform(0, 30), now)


def _views_of_others(state: EngineState, install: str) -> bytes:
    return msgspec.json.encode(
        {
            name: (view.tabs, view.active, view.focused_window, view.focused_at)
            for name, view in sorted(state.installs.items())
            if name != install
        }
    )


@pytest.mark.parametrize("seed", range(12))
def test_random_event_streams_keep_invariants(seed: int) -> None:
    """Seeds 6 and up interleave three browser installs (Chrome, Edge, a second profile) whose tab and window ids
    collide; an event of one install never changes another's view."""
    rng = random.Random(seed)
    installs = ("",) if seed < 6 else ("chrome", "edge", "edge-work")
    cfg = TimingConfig(
        mode="focus" if seed % 2 == 0 else "open",
        grace_s=rng.choice([0, 30]),
        merge_s=rng.choice([0, 120, 600]),
        long_run_s=rng.choice([600, 36_000]),
    )
    state = EngineState()
    at = T0
    now = T0
    seen_ids: set[str] = set()
    for seq in range(1, 3001):
        roll = rng.random()
        if roll < 0.03:
            at += rng.uniform(100, 3000)  # the browser goes away for a while
        elif roll < 0.08:
            at -= rng.uniform(0, 60)  # an event stamped earlier than the last one
        else:
            at += rng.uniform(0, 40)
        now = max(now, at, state.browser_seen or at) + rng.uniform(0, 5)  # daemon time never goes back
        step = rng.random()
        if step < 0.75:
            install = rng.choice(installs)
            others = _views_of_others(state, install)
            event = _random_event(rng, seq, at)
            effects = apply_event(state, event, cfg=cfg, recognize=recognize, install=install)
            assert _views_of_others(state, install) == others, "one install's event changed another's view"
        elif step < 0.85:
            effects = tick(state, now, cfg, allow_offline=rng.random() < 0.9)
        else:
            before = frozen(state)
            try:
                _random_command(rng, state, now, cfg)
            except EngineError:
                assert frozen(state) == before, "a refused command changed the state"
            effects = []
        for effect in effects:
            if isinstance(effect, Finalized):
                assert effect.timer.id not in seen_ids, "finalized twice"
                seen_ids.add(effect.timer.id)
                check_segments(effect.timer)
                assert seg.open_segment(effect.timer.segments) is None
        check_invariants(state, now)
        if seq % 50 == 0:
            roundtrip(state)


def test_ticket_closed_before_the_browser_went_silent_finalizes_on_daemon_time() -> None:
    """Closing the last ticket and then the whole browser must not hold the entry back until it returns."""
    sim = Sim()
    sim.open(0, 1, 1)
    sim.hb(300)
    sim.close(300, 1)
    sim.tick(300 + 30 + 600 + 61)
    [done] = sim.finalized("closed")
    assert spans(done.timer) == [(0, 300)]


# --- several browsers (installs) at once ---------------------------------------------------------------------


def beat_both(sim: Sim, start: float, end: float, installs: tuple[str, ...] = ("chrome", "edge")) -> None:
    """Heartbeats every 20 s from each install, in time order, from `start` (exclusive) to `end` (inclusive)."""
    t = start + 20
    while t <= end:
        for install in installs:
            sim.hb(t, hb=False, install=install)
        t += 20


def test_a_second_browsers_snapshot_replaces_only_its_own_tabs() -> None:
    """Chrome keeps ticket 1 open and attended; Edge starts in the background and reports its tabs, whose ids
    collide with Chrome's. Ticket 1 gets all of its 600 s."""
    sim = Sim()
    sim.open(0, 1, 1, hb=False, install="chrome")
    beat_both(sim, 0, 280, ("chrome",))
    edge_tabs = [TabInfo(tab=1, window=1, url=url(None), active=True), TabInfo(tab=2, window=1, url=url(2))]
    sim.ev(Snapshot, 300, hb=False, install="edge", tabs=edge_tabs)
    beat_both(sim, 300, 600)
    assert sim.secs(1) == 600 and sim.timer(1).state == "running"
    assert not sim.has_timer(2), "focus mode: Edge's background ticket is not attended"
    # An empty snapshot from Edge wipes only Edge's view.
    sim.ev(Snapshot, 610, hb=False, install="edge", tabs=[])
    sim.hb(620, hb=False, install="chrome")
    assert sim.secs(1) == 620 and sim.timer(1).state == "running"


def test_attention_is_the_most_recently_focused_window_across_browsers() -> None:
    sim = Sim()
    sim.open(0, 1, 1, hb=False, install="chrome")
    sim.focus(0, 1, install="chrome")
    sim.hb(40, hb=False, install="chrome")
    sim.open(50, 1, 2, hb=False, install="edge", window=7)  # same tab id, Edge in the background
    beat_both(sim, 50, 190)
    assert not sim.has_timer(2)
    sim.focus(200, 7, install="edge")
    beat_both(sim, 200, 280)
    sim.focus(300, -1, install="chrome")  # Chrome losing focus says nothing about Edge
    sim.focus(300, 1, install="chrome")
    beat_both(sim, 300, 400)
    assert (sim.secs(1), sim.secs(2)) == (300, 100)
    assert sim.timer(2).paused_by == "attention"


def test_a_focus_change_delivered_late_does_not_outrank_a_newer_one() -> None:
    sim = Sim()
    sim.open(0, 1, 1, hb=False, install="chrome")
    sim.open(0, 1, 2, hb=False, install="edge")
    beat_both(sim, 0, 180)
    sim.focus(200, 1, install="chrome")
    sim.apply(WindowFocused(seq=999, at=T0 + 150, window=1), install="edge")  # queued in Edge, sent late
    beat_both(sim, 200, 300)
    assert sim.timer(1).state == "running" and sim.secs(1) == 300
    assert not sim.has_timer(2)


@pytest.mark.parametrize("cfg", [FOCUS, OPEN], ids=["focus", "open"])
def test_a_silent_browser_stops_only_its_own_tickets(cfg: TimingConfig) -> None:
    sim = Sim(cfg)
    sim.open(0, 1, 1, hb=False, install="chrome")
    sim.open(0, 1, 2, hb=False, install="edge")
    sim.focus(0, 1, install="edge")
    beat_both(sim, 0, 300)
    beat_both(sim, 300, 1000, ("edge",))  # Chrome is closed (or crashed): only Edge speaks
    sim.tick(1000)
    if cfg.mode == "open":
        assert sim.timer(1).state == "stopped" and sim.timer(1).paused_by == "offline"
        assert sim.secs(1, 1000) == 300
        assert sim.notices("browser_offline")
    else:
        assert sim.timer(1).paused_by == "offline" and sim.secs(1, 1000) == 0  # never attended: Edge has focus
    assert sim.timer(2).state == "running" and sim.secs(2, 1000) == 1000
    # Chrome comes back after more than the merge window: its ticket starts a new entry; Edge's never stopped.
    beat_both(sim, 1000, 1080, ("edge",))
    beat_both(sim, 1080, 1200)
    if cfg.mode == "open":
        [done] = sim.finalized("closed")
        assert done.timer.ticket == ref(1) and total(done.timer) == 300
        assert sim.secs(1) == 100
    else:
        [done] = sim.finalized("closed")
        assert done.timer.ticket == ref(1) and total(done.timer) == 0
    assert sim.secs(2) == 1200


def test_a_browser_gone_for_hours_is_forgotten_while_another_speaks() -> None:
    """Chrome is closed for good while Edge works on: after OFFLINE_FINALIZE_S Chrome's stopped ticket becomes its
    entry and its stale tabs no longer keep a user-stopped ticket suppressed."""
    sim = Sim(OPEN)
    sim.open(0, 1, 1, hb=False, install="chrome")
    sim.open(0, 2, 3, hb=False, install="chrome")
    sim.open(0, 1, 2, hb=False, install="edge")
    sim.open(0, 2, 3, hb=False, install="edge")
    beat_both(sim, 0, 100)
    stop(sim.state, sim.timer(3).id, T0 + 100, sim.cfg)  # stopped while both browsers show it
    beat_both(sim, 100, 200, ("edge",))
    sim.ev(TabClosed, 210, hb=False, install="edge", tab=2)
    beat_both(sim, 200, 300, ("edge",))
    sim.tick(300)
    assert sim.timer(1).paused_by == "offline" and sim.state.installs["chrome"].offline
    assert list(sim.state.suppressed) == [ref(3).key], "Chrome's tab still shows the stopped ticket"
    end = 100 + 2 * 3600 + 20
    beat_both(sim, 300, end, ("edge",))
    sim.tick(end)
    [done] = sim.finalized("offline")
    assert done.timer.ticket == ref(1) and total(done.timer) == 100
    assert set(sim.state.installs) == {"edge"}
    sim.hb(end + 20, hb=False, install="edge")
    assert sim.state.suppressed == {}
    # Chrome connects again: its snapshot brings its tabs back, and ticket 1 gets a new timer.
    sim.ev(Snapshot, end + 30, hb=False, install="chrome", tabs=[TabInfo(tab=1, window=1, url=url(1), active=True)])
    assert sim.timer(1).state == "running"


def test_a_ticket_shown_in_two_browsers_keeps_running_while_one_is_silent() -> None:
    sim = Sim(OPEN)
    sim.open(0, 1, 1, hb=False, install="chrome")
    sim.open(0, 3, 1, hb=False, install="edge")
    beat_both(sim, 0, 100)
    beat_both(sim, 100, 500, ("edge",))
    sim.tick(500)
    assert sim.timer(1).state == "running" and sim.secs(1, 500) == 500


def test_a_state_from_before_installs_is_adopted_by_the_first_browser_that_speaks() -> None:
    sim = Sim()
    sim.open(0, 1, 1)
    sim.hb(100)
    legacy = sim.state.installs.pop("")
    sim.state.browser.tabs, sim.state.browser.active = legacy.tabs, legacy.active
    sim.state.browser.focused_window = legacy.focused_window
    sim.hb(120, hb=False, install="chrome")
    assert set(sim.state.installs) == {"chrome"} and sim.state.browser.tabs == {}
    assert sim.secs(1) == 120 and sim.timer(1).state == "running"
