"""Segment arithmetic for timers: pure functions over a list of `Segment`s.

A timer's time is the sum of its segments. The lists these functions take are kept ordered by start, with no
overlap and at most one open segment (`end is None`), always the last. Every function keeps that shape: an end is
never placed before its start (a close "at" a time before the start closes at the start, and the empty segment is
dropped), and a segment is never opened before the end of the previous one.

An open segment has no end yet; how far it is credited depends on who asks (the engine passes a `limit`).
"""

from __future__ import annotations

import msgspec

__all__ = [
    "Segment",
    "add_span",
    "cap_moment",
    "close",
    "cut_last",
    "open_at",
    "open_segment",
    "total",
    "truncate",
]


class Segment(msgspec.Struct):
    start: float
    end: float | None = None


def open_segment(segments: list[Segment]) -> Segment | None:
    """The open segment, if any (always the last one)."""
    if segments and segments[-1].end is None:
        return segments[-1]
    return None


def open_at(segments: list[Segment], at: float) -> None:
    """Open a segment at `at` unless one is open. Continues the last segment if it ended exactly at `at`."""
    if not segments:
        segments.append(Segment(at))
        return
    last = segments[-1]
    if last.end is None:
        return
    at = max(at, last.end)
    if last.end == at:
        last.end = None
    else:
        segments.append(Segment(at))


def close(segments: list[Segment], at: float) -> None:
    """Close the open segment at `at` (never before its start; an empty segment is dropped)."""
    last = open_segment(segments)
    if last is None:
        return
    last.end = max(at, last.start)
    if last.end == last.start:
        segments.pop()


def cut_last(segments: list[Segment], at: float) -> None:
    """Close the open segment, or pull the last segment's end back, to `max(at, its start)`."""
    if not segments:
        return
    last = segments[-1]
    new_end = max(at, last.start)
    if last.end is None or last.end > new_end:
        last.end = new_end
    if last.end == last.start:
        segments.pop()


def truncate(segments: list[Segment], at: float) -> None:
    """Remove all credit after `at`: later segments go, the one spanning `at` (or the open one) ends there."""
    kept: list[Segment] = []
    for seg in segments:
        if seg.start >= at:
            continue
        if seg.end is None or seg.end > at:
            seg.end = at
        kept.append(seg)
    segments[:] = kept


def add_span(segments: list[Segment], start: float, end: float) -> None:
    """Add the span [start, end] to the segments as a set union (overlaps and touching spans merge)."""
    if end <= start:
        return
    items = sorted([*segments, Segment(start, end)], key=lambda s: s.start)
    merged: list[Segment] = []
    for seg in items:
        if merged:
            prev = merged[-1]
            if prev.end is None:
                continue  # an open segment absorbs everything after its start
            if seg.start <= prev.end:
                prev.end = None if seg.end is None else max(prev.end, seg.end)
                continue
        merged.append(Segment(seg.start, seg.end))
    segments[:] = merged


def _effective_end(seg: Segment, limit: float) -> float:
    return seg.end if seg.end is not None else max(limit, seg.start)


def total(segments: list[Segment], limit: float) -> float:
    """Seconds in the segments, the open one credited up to `limit` (never below its start)."""
    return sum(_effective_end(seg, limit) - seg.start for seg in segments)


def cap_moment(segments: list[Segment], limit: float, cap: float) -> float | None:
    """The moment the credited time reached `cap`, or None if it has not by `limit`."""
    credited = 0.0
    for seg in segments:
        span = _effective_end(seg, limit) - seg.start
        if credited + span >= cap:
            return seg.start + (cap - credited)
        credited += span
    return None
