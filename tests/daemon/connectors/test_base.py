"""Pieces every connector shares."""

from __future__ import annotations

import httpx
import pytest

from daemon.connectors.base import is_transient, marker, maybe_applied, parse_retry_after, unavailable


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


@pytest.mark.parametrize(
    ("failure", "applied"),
    [
        (httpx.ConnectError("refused"), False),
        (httpx.ConnectTimeout("no SYN-ACK"), False),
        (httpx.PoolTimeout("no free connection"), False),
        (httpx.ProxyError("proxy refused"), False),
        (httpx.UnsupportedProtocol("ftp://"), False),
        (httpx.LocalProtocolError("bad header"), False),
        (httpx.ReadTimeout("no answer"), True),
        (httpx.WriteTimeout("half sent"), True),
        (httpx.ReadError("reset"), True),
        (httpx.WriteError("broken pipe"), True),
        (httpx.RemoteProtocolError("closed without a response"), True),
        (429, False),
        (400, False),
        (404, False),
        (422, False),
        (408, True),
        (500, True),
        (502, True),
        (503, True),
        (504, True),
        (520, True),
    ],
)
def test_maybe_applied_is_the_one_rule(failure: httpx.HTTPError | int, applied: bool) -> None:
    assert maybe_applied(failure) is applied
    assert unavailable("x", failure, write=True).ambiguous is applied
    assert unavailable("x", failure, write=False).ambiguous is False  # a read changes nothing


def test_transient_statuses() -> None:
    assert [s for s in (400, 401, 404, 408, 409, 422, 429, 500, 502, 503, 504) if is_transient(s)] == [
        408,
        429,
        500,
        502,
        503,
        504,
    ]
