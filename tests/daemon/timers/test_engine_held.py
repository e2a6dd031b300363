"""The engine's held entries (`held`, `held_until`) and "finish now" (`finish`): pure, exact seconds, with the
invariants of test_engine's simulator checked after every step."""

from __future__ import annotations

import msgspec
import pytest

from daemon.settings import TimingConfig
from daemon.timers.engine import InvalidTransition, finish, held
from tests.daemon.timers.test_engine import T0, Sim, frozen, spans

CFG = TimingConfig(grace_s=30, merge_s=600)


def test_held_shows_what_finalizing_would_make_and_changes_nothing() -> None:
    sim = Sim(CFG)
    sim.open(0, 1, 1)
    sim.close(600, 1)
    before = frozen(sim.state)
    [(copy, until)] = held(sim.state, T0 + 610, CFG)
    assert frozen(sim.state) == before
    assert spans(copy) == [(0, 600)] and until == T0 + 600 + 600
    sim.hb(700)  # past grace: stopped, still held, same deadline
    [(copy, until)] = held(sim.state, T0 + 700, CFG)
    assert spans(copy) == [(0, 600)] and until == T0 + 1200
    sim.hb(1200)
    [done] = sim.finalized("closed")
    assert msgspec.structs.replace(done.timer, state=copy.state) == copy
    assert held(sim.state, T0 + 1200, CFG) == []


def test_finish_finalizes_a_closing_timer_once_at_its_close_and_a_reopen_starts_anew() -> None:
    sim = Sim(CFG)
    sim.open(0, 1, 1)
    sim.close(600, 1)
    sim.hb(615)  # inside grace: "closing"
    timer_id = sim.timer(1).id
    sim.effects += finish(sim.state, timer_id, T0 + 615, CFG)
    [done] = sim.finalized("closed")
    assert spans(done.timer) == [(0, 600)]
    assert not sim.has_timer(1)
    with pytest.raises(InvalidTransition, match="finalized"):
        finish(sim.state, timer_id, T0 + 620, CFG)
    sim.open(700, 2, 1)
    assert sim.timer(1).id != timer_id and sim.timer(1).state == "running"


def test_finish_refuses_a_reopened_ticket_and_an_undecided_away_time() -> None:
    sim = Sim(CFG)
    sim.open(0, 1, 1)
    timer_id = sim.timer(1).id
    before = frozen(sim.state)
    with pytest.raises(InvalidTransition, match="only a closed ticket"):
        finish(sim.state, timer_id, T0 + 10, CFG)
    assert frozen(sim.state) == before
    sim.idle(400, since=100)
    sim.back(500)  # away 100..500: the keep-or-drop question is open for this timer
    sim.close(520, 1)
    sim.hb(600)
    assert sim.timer(1).state == "stopped"
    before = frozen(sim.state)
    with pytest.raises(InvalidTransition, match="away time"):
        finish(sim.state, timer_id, T0 + 600, CFG)
    assert frozen(sim.state) == before


def test_finish_of_an_offline_hold_finalizes_it_as_offline() -> None:
    sim = Sim(CFG)
    sim.open(0, 1, 1)
    sim.hb(300)
    sim.tick(600)  # the browser went silent at 300
    tm = sim.timer(1)
    assert tm.stopped_by_offline
    [(_, until)] = held(sim.state, T0 + 600, CFG)
    assert until is None  # waits for the browser, not for a window
    sim.effects += finish(sim.state, tm.id, T0 + 600, CFG)
    [done] = sim.finalized("offline")
    assert spans(done.timer) == [(0, 300)]
