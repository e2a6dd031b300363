"""A ticket's key is its identity on every browser event's hot path: computed once per TicketRef, never stored."""

from __future__ import annotations

import msgspec

from daemon.timers.model import TicketRef


def test_the_key_is_computed_once_per_ticket() -> None:
    ref = TicketRef(instance="halo", kind="halopsa", id=7)
    assert ref.key == "halo:7"
    assert ref.key is ref.key  # cached: the engine reads it hundreds of times per event


def test_the_key_names_a_ticket_number_when_there_is_no_id() -> None:
    assert TicketRef(instance="at", kind="autotask", number="T2024.1").key == "at:#T2024.1"


def test_the_cached_key_is_never_encoded_and_survives_a_round_trip() -> None:
    ref = TicketRef(instance="halo", kind="halopsa", id=7)
    _ = ref.key
    data = msgspec.json.encode(ref)
    assert msgspec.json.decode(data) == {
        "instance": "halo",
        "kind": "halopsa",
        "id": 7,
        "number": None,
        "record": "ticket",
    }
    back = msgspec.json.decode(data, type=TicketRef)
    assert back == ref and back.key == "halo:7"
    assert msgspec.structs.replace(ref, id=8).key == "halo:8"  # a changed copy has its own key


def test_a_work_orders_key_is_apart_from_a_tickets_with_the_same_id() -> None:
    order = TicketRef(instance="at", kind="autotask", id=7, record="work_order")
    assert order.key == "at:wo:7" and order.key != TicketRef(instance="at", kind="autotask", id=7).key
