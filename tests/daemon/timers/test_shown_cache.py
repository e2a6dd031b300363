"""The tickets shown across installs (`shown_tickets`) are merged once and given again while no install's tabs or
online status changed: every browser event asks for them, and with 8 browsers of 50 tabs merging cost more than the
rest of the event. Any change of the views gives a fresh answer (the property test in test_engine_properties.py
compares the cached answer with a freshly loaded state's after every step)."""

from __future__ import annotations

from typing import Any

import msgspec

from daemon.settings import parse_config
from daemon.timers import engine as E
from daemon.timers.engine_state import shown_tickets
from daemon.timers.events import BrowserEvent, Heartbeat, TabClosed, TabOpened
from daemon.timers.recognize import recognize

CONFIG = parse_config('[[instances]]\nname = "halo"\nkind = "halopsa"\norigins = ["https://acme.halopsa.com"]\n')
T0 = 1_780_000_000.0


def recognise(url: str, title: str, page_ticket: str | None) -> Any:
    return recognize(url, CONFIG.instances, title=title, page_ticket=page_ticket)


def apply(state: E.EngineState, install: str, event: BrowserEvent) -> None:
    E.apply_event(state, event, cfg=CONFIG.timing, recognize=recognise, install=install)


def opened(tab: int, ticket: int, at: float = T0) -> TabOpened:
    return TabOpened(seq=tab, at=at, tab=tab, window=1, url=f"https://acme.halopsa.com/ticket?id={ticket}", active=True)


def fresh(state: E.EngineState, *, everywhere: bool = False) -> list[str]:
    """The answer of a state without any cache: the same state decoded from its encoding."""
    copy = msgspec.json.decode(msgspec.json.encode(state), type=E.EngineState)
    return list(shown_tickets(copy, everywhere=everywhere))


def test_the_merged_answer_is_reused_until_a_view_changes() -> None:
    state = E.EngineState()
    for tab in range(1, 6):
        apply(state, "a", opened(tab, 100 + tab))
        apply(state, "b", opened(tab, 103 + tab))
    first = shown_tickets(state)
    assert list(first) == [f"halo:{n}" for n in range(101, 109)]
    apply(state, "a", Heartbeat(seq=9, at=T0 + 5))
    assert shown_tickets(state) is first  # no tab changed: the same answer, not merged again

    apply(state, "b", TabClosed(seq=9, at=T0 + 6, tab=5))  # b's halo:108 is no longer shown
    second = shown_tickets(state)
    assert second is not first
    assert list(second) == fresh(state) == [f"halo:{n}" for n in range(101, 108)]

    state.installs["b"].offline = True  # offline: b's tabs show nothing, except everywhere
    assert list(shown_tickets(state)) == fresh(state) == [f"halo:{n}" for n in range(101, 106)]
    assert list(shown_tickets(state, everywhere=True)) == fresh(state, everywhere=True) == list(second)

    del state.installs["a"]
    state.installs["b"].offline = False
    assert list(shown_tickets(state)) == fresh(state) == [f"halo:{n}" for n in range(104, 108)]
