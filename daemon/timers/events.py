"""Browser events: the messages the extension sends and the daemon's replies.

The same tagged-union structs travel over `POST /api/v1/browser/events` and the WebSocket `/api/v1/ws`.
`install` names one browser install (Chrome and Edge, or two profiles, are different installs): seqs, tab ids
and window ids belong to it, and its snapshot replaces only its own tabs.
The tag field is `type`. Every event carries `seq` (a per-install counter that only grows) and `at`
(the event's own time, epoch seconds as a float, taken in the browser when it happened).

Client -> daemon (WebSocket text frames, JSON):
    {"type": "hello", "install": "...", "instance": "...", "token": "...", "version": "0.1.0"}
    {"type": "batch", "install": "...", "events": [<event>, ...], "after": <seq> (optional)}

POST /api/v1/browser/events takes the same `batch` object (without the need for a hello).

Acknowledgement contract (one rule for both transports, `fresh_events` below):
    The daemon applies each install's events in seq order and acknowledges the highest seq applied; an ack of n
    means every event up to n the client still holds was applied, so the client may forget them. It never
    acknowledges past a gap: a batch whose first new event is not `acked + 1` is refused whole with
    `seq_gap` (HTTP 409, WebSocket error) naming `details.expected` (acked + 1), and nothing of it is applied.
    The client resends from `expected`. Seqs a client gave up on for good (refused as invalid, dropped when its
    queue was full) are skipped by sending `after`: the highest seq the client sent, or gave up on, before this
    batch. A batch with `after <= acked` has nothing missing in front of it and is applied even if its seqs
    jump. Events at or below the ack are repeats and are ignored; a batch of nothing but repeats is answered
    with the current ack.

Daemon -> client:
    {"type": "welcome", "instance": "...", "acked": <last seq applied for this install>}
    {"type": "ack", "install": "...", "seq": <highest seq applied>}
    {"type": "config", "instances": [{"name", "kind", "origins"}], "heartbeat_s": 20, "idle_s": 300}
    {"type": "state", "timers": [...], "idle_pending": {...} | null, "at": <daemon time>}
    {"type": "error", "code": "...", "message": "...", "details": {...}}
        invalid_events {"seqs": [...]}: those events can never be applied (drop them); nothing of the batch was
        seq_gap {"expected": n}: the batch does not follow the ack; resend from seq n (see above)
"""

from __future__ import annotations

import functools
from typing import Annotated, Literal

import msgspec

__all__ = [
    "MAX_BATCH",
    "MAX_BODY_BYTES",
    "Batch",
    "BrowserEvent",
    "ClientMessage",
    "Heartbeat",
    "Hello",
    "IdleChanged",
    "SeqGap",
    "Snapshot",
    "TabActivated",
    "TabClosed",
    "TabInfo",
    "TabOpened",
    "TabUpdated",
    "WindowFocused",
    "decode_batch",
    "decode_client_message",
    "fresh_events",
]

MAX_BATCH = 1000
"""Most events one batch may carry; a larger batch is refused whole."""
MAX_BODY_BYTES = 1_000_000
"""Largest request body or WebSocket frame accepted."""

Seq = Annotated[int, msgspec.Meta(ge=0, le=2**53)]
Timestamp = Annotated[float, msgspec.Meta(ge=0, le=32_503_680_000)]
TabId = Annotated[int, msgspec.Meta(ge=-1, le=2**31)]
Url = Annotated[str, msgspec.Meta(max_length=8192)]
Title = Annotated[str, msgspec.Meta(max_length=2048)]
Short = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
PageTicket = Annotated[str, msgspec.Meta(max_length=64)]


class _Event(msgspec.Struct, tag_field="type", forbid_unknown_fields=True, frozen=True, kw_only=True):
    seq: Seq
    at: Timestamp


class TabInfo(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    tab: TabId
    window: TabId
    url: Url
    title: Title = ""
    active: bool = False
    page_ticket: PageTicket | None = None
    """A ticket number the content script read from the page where the URL hides it."""


class Snapshot(_Event, tag="snapshot", frozen=True):
    """Every reported tab right now; replaces the daemon's view of the browser."""

    tabs: Annotated[list[TabInfo], msgspec.Meta(max_length=2000)]
    focused_window: TabId = -1


class TabOpened(_Event, tag="tab_opened", frozen=True):
    tab: TabId
    window: TabId
    url: Url
    title: Title = ""
    active: bool = False
    page_ticket: PageTicket | None = None


class TabUpdated(_Event, tag="tab_updated", frozen=True):
    """The tab navigated, or its title or page ticket changed."""

    tab: TabId
    window: TabId
    url: Url
    title: Title = ""
    page_ticket: PageTicket | None = None


class TabActivated(_Event, tag="tab_activated", frozen=True):
    tab: TabId
    window: TabId


class TabClosed(_Event, tag="tab_closed", frozen=True):
    tab: TabId
    window: TabId = -1


class WindowFocused(_Event, tag="window_focused", frozen=True):
    """`window` is -1 when the browser lost focus (which does not pause anything)."""

    window: TabId


class IdleChanged(_Event, tag="idle", frozen=True):
    """`since` is when the idleness began (at - threshold for `idle`; at for `locked`/`active`)."""

    state: Literal["active", "idle", "locked"]
    since: Timestamp | None = None


class Heartbeat(_Event, tag="heartbeat", frozen=True):
    pass


BrowserEvent = Snapshot | TabOpened | TabUpdated | TabActivated | TabClosed | WindowFocused | IdleChanged | Heartbeat


class Batch(msgspec.Struct, tag="batch", tag_field="type", forbid_unknown_fields=True, frozen=True):
    """Events of one install in seq order. Applied only if its first new event follows the install's ack
    (seq = acked + 1) or `after` <= acked; otherwise refused whole (409 seq_gap, details.expected = acked + 1):
    resend from there. Events at or below the ack are repeats and ignored. The answer is the new ack."""

    install: Short
    events: Annotated[list[BrowserEvent], msgspec.Meta(max_length=MAX_BATCH)]
    after: Seq | None = None
    """The highest seq this client sent or gave up on before this batch: seqs up to it are not coming."""


class SeqGap(Exception):
    """A batch does not follow what was applied for its install; nothing of it is. Resend from `expected`."""

    def __init__(self, install: str, expected: int, first: int) -> None:
        super().__init__(
            f"events of {install} must continue at seq {expected}; this batch starts at {first}: "
            f"resend from {expected} (or say which seqs are not coming with 'after')"
        )
        self.message = str(self)
        self.expected = expected


def fresh_events(batch: Batch, acked: int) -> list[BrowserEvent]:
    """The events of `batch` to apply after `acked`, in seq order; SeqGap if they do not follow it."""
    fresh = sorted((e for e in batch.events if e.seq > acked), key=lambda e: e.seq)
    if fresh and fresh[0].seq != acked + 1 and (batch.after is None or batch.after > acked):
        raise SeqGap(batch.install, acked + 1, fresh[0].seq)
    return fresh


class Hello(msgspec.Struct, tag="hello", tag_field="type", forbid_unknown_fields=True, frozen=True, kw_only=True):
    install: Short
    instance: Short
    token: Annotated[str, msgspec.Meta(max_length=256)] = ""
    version: Annotated[str, msgspec.Meta(max_length=64)] = ""


ClientMessage = Hello | Batch


# Built on the first event, not at start: msgspec's type information for these unions is ~1 ms that the first
# answer does not need.
@functools.cache
def _batch_decoder() -> msgspec.json.Decoder[Batch]:
    return msgspec.json.Decoder(Batch)


@functools.cache
def _client_decoder() -> msgspec.json.Decoder[Hello | Batch]:
    return msgspec.json.Decoder(ClientMessage)


def decode_batch(data: bytes | str) -> Batch:
    """Decode a batch body; raises msgspec.ValidationError / DecodeError on bad input."""
    return _batch_decoder().decode(data)


def decode_client_message(data: bytes | str) -> Hello | Batch:
    message: Hello | Batch = _client_decoder().decode(data)
    return message
