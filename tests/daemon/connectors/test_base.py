"""Pieces every connector shares."""

from __future__ import annotations

from daemon.connectors.base import marker, parse_retry_after


def test_retry_after_seconds_or_http_date() -> None:
    now = 1_780_000_000.0  # 2026-05-28T20:26:40Z
    assert parse_retry_after("12", now) == 12.0
    assert parse_retry_after(" 1.5 ", now) == 1.5
    assert parse_retry_after("Thu, 28 May 2026 20:27:10 GMT", now) == 30.0
    assert parse_retry_after("Thu, 28 May 2026 20:00:00 GMT", now) == 0.0  # in the past: now
    assert parse_retry_after("-5", now) == 0.0
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after("nan", now) is None
    assert parse_retry_after(None, now) is None


def test_the_marker_names_the_entry() -> None:
    assert marker("abc123") == "[ticketclock:abc123]"
