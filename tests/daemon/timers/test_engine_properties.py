"""Property-based tests of the timer engine (Hypothesis), on top of the seeded random streams in test_engine.py.

Hypothesis draws whole streams of browser events (several installs whose tab and window ids collide), daemon
ticks and user commands, with the timing settings; it shrinks a failing stream to a short one. Runs are
deterministic (`derandomize=True`, no example database) and bounded; nothing is timed (`deadline=None`).
"""

from __future__ import annotations

from typing import Literal

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daemon.settings import TimingConfig
from daemon.timers import segments as seg
from daemon.timers.engine import (
    Effect,
    EngineError,
    EngineState,
    Finalized,
    apply_event,
    discard,
    edit,
    finish,
    pause,
    recover,
    resolve_idle,
    resume,
    start_manual,
    stop,
    tick,
)
from daemon.timers.engine_state import shown_tickets
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
from tests.daemon.timers.test_engine import T0, check_invariants, check_segments, recognize, ref, url

PROPERTIES = settings(
    derandomize=True,
    database=None,
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
INSTALLS = ("chrome", "edge", "edge-work")
"""Named installs only: the unnamed one ("") is the layout from before installs and becomes the first that speaks."""

configs = st.builds(
    TimingConfig,
    mode=st.sampled_from(["focus", "open"]),
    grace_s=st.sampled_from([0, 30]),
    merge_s=st.sampled_from([0, 120, 600]),
    long_run_s=st.sampled_from([600, 36_000]),
    manual_idle=st.booleans(),
)

tabs = st.integers(1, 12)
windows = st.integers(1, 3)
tickets = st.one_of(st.none(), st.integers(1, 14))  # more tickets than slots: eviction and the cap
# Mostly small steps forward; sometimes an event stamped earlier, sometimes the browser away for a while.
gaps = st.one_of(st.integers(0, 40), st.integers(-60, 0), st.integers(100, 9_000))

Spec = tuple[object, ...]
event_specs: st.SearchStrategy[Spec] = st.one_of(
    st.tuples(st.just("open"), tabs, windows, tickets, st.booleans()),
    st.tuples(st.just("nav"), tabs, windows, tickets),
    st.tuples(st.just("activate"), tabs, windows),
    st.tuples(st.just("close"), tabs),
    st.tuples(st.just("focus"), st.sampled_from([-1, 1, 2, 3])),
    st.tuples(st.just("idle"), st.sampled_from(["idle", "locked", "active"]), st.integers(0, 400)),
    st.tuples(
        st.just("snapshot"),
        st.lists(st.tuples(tabs, windows, tickets, st.booleans()), max_size=12, unique_by=lambda t: t[0]),
        st.sampled_from([-1, 1, 2, 3]),
    ),
    st.tuples(st.just("heartbeat")),
)
command_specs: st.SearchStrategy[Spec] = st.one_of(
    st.tuples(st.just("start_ticket"), st.integers(1, 16)),
    st.tuples(st.just("start_task"), st.sampled_from(["Admin", "Meeting", ""])),
    st.tuples(st.sampled_from(["pause", "resume", "stop", "discard", "finish"]), st.integers(0, 9)),
    st.tuples(st.just("edit"), st.integers(0, 9), st.sampled_from([None, "", "#123456", "bad"])),
    st.tuples(st.just("resolve"), st.booleans()),
    st.tuples(st.just("recover"), st.integers(0, 30)),
)
steps = st.lists(
    st.one_of(
        st.tuples(st.just("event"), st.sampled_from(INSTALLS), gaps, event_specs),
        st.tuples(st.just("tick"), gaps, st.booleans(), st.just(())),
        st.tuples(st.just("command"), gaps, st.just(""), command_specs),
    ),
    min_size=20,
    max_size=200,
)


def build_event(spec: Spec, seq: int, at: float) -> BrowserEvent:
    match spec:
        case ("open", int(tab), int(window), ticket, bool(active)):
            return TabOpened(seq=seq, at=at, tab=tab, window=window, url=url(_n(ticket)), active=active)
        case ("nav", int(tab), int(window), ticket):
            return TabUpdated(seq=seq, at=at, tab=tab, window=window, url=url(_n(ticket)))
        case ("activate", int(tab), int(window)):
            return TabActivated(seq=seq, at=at, tab=tab, window=window)
        case ("close", int(tab)):
            return TabClosed(seq=seq, at=at, tab=tab)
        case ("focus", int(window)):
            return WindowFocused(seq=seq, at=at, window=window)
        case ("idle", "idle" | "locked" | "active" as idle, int(back)):
            state: Literal["idle", "locked", "active"] = idle
            return IdleChanged(seq=seq, at=at, state=state, since=at - back if idle == "idle" else None)
        case ("snapshot", list(infos), int(focused)):
            tabs = [
                TabInfo(tab=tab, window=window, url=url(ticket), active=active) for tab, window, ticket, active in infos
            ]
            return Snapshot(seq=seq, at=at, tabs=tabs, focused_window=focused)
    return Heartbeat(seq=seq, at=at)


def _n(ticket: object) -> int | None:
    return ticket if isinstance(ticket, int) else None


def run_command(spec: Spec, state: EngineState, now: float, cfg: TimingConfig) -> list[Effect]:
    ids = [tm.id for tm in state.timers] + ["t0"]
    match spec:
        case ("start_ticket", int(n)):
            return start_manual(state, now, cfg, ticket=ref(n))[1]
        case ("start_task", str(name)):
            return start_manual(state, now, cfg, task=name)[1]
        case ("pause", int(i)):
            return pause(state, ids[i % len(ids)], now)
        case ("resume", int(i)):
            return resume(state, ids[i % len(ids)], now, cfg)
        case ("stop", int(i)):
            return stop(state, ids[i % len(ids)], now, cfg)
        case ("discard", int(i)):
            return discard(state, ids[i % len(ids)], now)
        case ("finish", int(i)):
            return finish(state, ids[i % len(ids)], now, cfg)
        case ("edit", int(i), colour):
            edit(state, ids[i % len(ids)], notes="n", colour=colour if isinstance(colour, str) else None)
            return []
        case ("resolve", bool(keep)):
            return resolve_idle(state, keep, now)
        case ("recover", int(back)):
            return recover(state, now - back, now)
    raise AssertionError(spec)


class Run:
    """Drives the engine like the service does: browser time from events, daemon time that never goes back."""

    def __init__(self, cfg: TimingConfig, *, persist: bool = False) -> None:
        self.cfg = cfg
        self.persist = persist
        self.state = EngineState()
        self.at = T0
        self.now = T0
        self.seq = 0

    def step(self, step: tuple[object, ...]) -> tuple[list[Effect], str | None]:
        """One step; returns its effects and the code of the error a refused command raised."""
        kind, a, b, spec = step
        gap = a if kind != "event" else b
        assert isinstance(gap, int)
        self.at += gap
        self.now = max(self.now, self.at, self.state.browser_seen or self.at) + 1
        self.seq += 1
        if self.persist:  # the service loads the state from its JSON column before every step
            self.state = msgspec.json.decode(msgspec.json.encode(self.state), type=EngineState)
        if kind == "event":
            assert isinstance(a, str) and isinstance(spec, tuple)
            event = build_event(spec, self.seq, self.at)
            return apply_event(self.state, event, cfg=self.cfg, recognize=recognize, install=a), None
        if kind == "tick":
            return tick(self.state, self.now, self.cfg, allow_offline=bool(b)), None
        assert isinstance(spec, tuple)
        try:
            return run_command(spec, self.state, self.now, self.cfg), None
        except EngineError as exc:
            return [], exc.code


def _others(state: EngineState, install: str) -> bytes:
    return msgspec.json.encode({name: view for name, view in sorted(state.installs.items()) if name != install})


@PROPERTIES
@given(cfg=configs, stream=steps)
def test_any_stream_keeps_the_invariants(cfg: TimingConfig, stream: list[tuple[object, ...]]) -> None:
    """After every step: at most MAX_LIVE live timers in distinct slots, one timer per ticket, well-formed
    segments (open iff running), no more credit than wall time; a timer is finalized once, settled; a refused
    command changes nothing; one install's event leaves the other installs' views alone."""
    run = Run(cfg)
    finalized: set[str] = set()
    for step in stream:
        before = msgspec.json.encode(run.state)
        others = _others(run.state, str(step[1])) if step[0] == "event" else None
        effects, refused = run.step(step)
        if refused is not None:
            assert msgspec.json.encode(run.state) == before, f"a refused command ({refused}) changed the state"
        if others is not None:
            assert _others(run.state, str(step[1])) == others, "one install's event changed another's view"
        for effect in effects:
            if isinstance(effect, Finalized):
                assert effect.timer.id not in finalized, "finalized twice"
                finalized.add(effect.timer.id)
                check_segments(effect.timer)
                assert seg.open_segment(effect.timer.segments) is None
                assert all(tm.id != effect.timer.id for tm in run.state.timers), "a finalized timer stayed"
        check_invariants(run.state, run.now)


@PROPERTIES
@given(cfg=configs, stream=steps)
def test_persisting_between_steps_changes_nothing(cfg: TimingConfig, stream: list[tuple[object, ...]]) -> None:
    """The engine is a pure function of its persisted state: the same stream, with the state saved to JSON and
    loaded again before every step (as the service does), gives the same effects and the same final state."""
    live, saved = Run(cfg), Run(cfg, persist=True)
    for step in stream:
        out_live = live.step(step)
        out_saved = saved.step(step)
        assert msgspec.json.encode(out_live) == msgspec.json.encode(out_saved)
        # the live state's cached shown tickets (engine_state._shown_by) match the freshly loaded state's
        for everywhere in (False, True):
            shown_live = shown_tickets(live.state, everywhere=everywhere)
            assert list(shown_live.items()) == list(shown_tickets(saved.state, everywhere=everywhere).items())
    assert msgspec.json.encode(live.state) == msgspec.json.encode(saved.state)
