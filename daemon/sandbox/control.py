"""The sandbox control endpoint: drive a separately running sandbox's faults and read its store over HTTP.

Every sandbox app serves, beside the vendor's paths (no vendor uses `/_sandbox/`):

    GET  /_sandbox/faults     the fault switches and counters: {"latency_s": 0.0, …, "requests": 12, …,
                              "answered": {"200": 9, "429": 2, "0": 1}} (API answers by status; 0: dropped or hung)
    POST /_sandbox/faults     set switches: a JSON object of switch → value, e.g. {"error_after_commit_next": 1};
                              {"reset": true, …} first puts every switch back to its default. Answers the new state.
    GET  /_sandbox/entries    {"entries": [StoredEntry, …]}: the time records the sandbox holds, normalised

Switches are the `Faults` fields listed in `FaultSwitches`. An unknown switch, a wrong type or a negative number (but
for `date_skew_s`, a clock in the past) is refused with 400
`{"error": {"code": "bad_request", "message": …, "details": null}}` and changes nothing. The endpoint answers
loopback clients only (403 otherwise); the sandboxes listen on 127.0.0.1 anyway.
"""

from __future__ import annotations

import dataclasses
import email.utils
import ipaddress
from collections import Counter
from collections.abc import Awaitable, Callable

import msgspec
from aiohttp import web

from daemon.clock import SystemClock
from daemon.sandbox.common import StoredEntry
from daemon.sandbox.faults import FAULTS, Faults

__all__ = ["CONTROL_PREFIX", "FaultSwitches", "add_control_routes", "apply_switches"]

CONTROL_PREFIX = "/_sandbox"


class FaultSwitches(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The switches that can be set from outside; None leaves a switch as it is."""

    reset: bool = False
    latency_s: float | None = None
    rate_limit_every: int | None = None
    retry_after_s: float | None = None
    error_every: int | None = None
    fail_next: int | None = None
    drop_after_commit_next: int | None = None
    hang_after_commit_next: int | None = None
    error_after_commit_next: int | None = None
    error_after_commit_status: int | None = None
    max_concurrent: int | None = None
    date_skew_s: float | None = None


_switches = msgspec.json.Decoder(FaultSwitches)
_SWITCHES = tuple(f for f in FaultSwitches.__struct_fields__ if f != "reset")
_COUNTERS = ("requests", "in_flight", "peak_in_flight")
_SIGNED = ("date_skew_s",)
"""Switches that may be negative (a clock in the past)."""


def apply_switches(faults: Faults, update: FaultSwitches) -> None:
    """Check every value first, then set them all (a refused update changes nothing)."""
    for name in _SWITCHES:
        value = getattr(update, name)
        if value is not None and value < 0 and name not in _SIGNED:
            raise ValueError(f"{name} must not be negative")
    status = update.error_after_commit_status
    if status is not None and not 400 <= status <= 599:
        raise ValueError("error_after_commit_status must be an HTTP error status (400-599)")
    if update.reset:
        fresh = Faults()
        for name in _SWITCHES:
            setattr(faults, name, getattr(fresh, name))
    for name in _SWITCHES:
        value = getattr(update, name)
        if value is not None:
            setattr(faults, name, value)


def faults_view(faults: Faults) -> dict[str, object]:
    values = dataclasses.asdict(faults)
    view: dict[str, object] = {name: values[name] for name in (*_SWITCHES, *_COUNTERS)}
    view["answered"] = dict(sorted(Counter(str(status) for _, _, status in faults.log).items()))
    return view


def add_control_routes(app: web.Application, stored_entries: Callable[[web.Application], list[StoredEntry]]) -> None:
    """Register the control endpoint on a sandbox app (before any catch-all route)."""

    async def get_faults(request: web.Request) -> web.Response:
        return web.json_response(faults_view(request.app[FAULTS]))

    async def set_faults(request: web.Request) -> web.Response:
        try:
            update = _switches.decode(await request.read())
            apply_switches(request.app[FAULTS], update)
        except (msgspec.ValidationError, msgspec.DecodeError, ValueError) as exc:
            return _error(400, "bad_request", str(exc))
        return web.json_response(faults_view(request.app[FAULTS]))

    async def entries(request: web.Request) -> web.Response:
        return web.Response(
            body=msgspec.json.encode({"entries": stored_entries(request.app)}), content_type="application/json"
        )

    async def skewed_date(request: web.Request, response: web.StreamResponse) -> None:
        skew = request.app[FAULTS].date_skew_s
        if skew:
            response.headers["Date"] = email.utils.formatdate(SystemClock().now() + skew, usegmt=True)

    app.on_response_prepare.append(skewed_date)
    app.router.add_get(f"{CONTROL_PREFIX}/faults", _loopback_only(get_faults))
    app.router.add_post(f"{CONTROL_PREFIX}/faults", _loopback_only(set_faults))
    app.router.add_get(f"{CONTROL_PREFIX}/entries", _loopback_only(entries))


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _loopback_only(handler: Handler) -> Handler:
    async def guarded(request: web.Request) -> web.StreamResponse:
        if not _is_loopback(request.remote):
            return _error(403, "forbidden", "the sandbox control endpoint answers loopback clients only")
        return await handler(request)

    return guarded


def _is_loopback(remote: str | None) -> bool:
    try:
        return remote is not None and ipaddress.ip_address(remote).is_loopback
    except ValueError:
        return False


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message, "details": None}}, status=status)
