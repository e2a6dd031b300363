"""The error catalogue: every error code TicketClock speaks, with its HTTP status and the text a user reads.

One table for the whole product. The API renders errors with the status given here (`daemon.api.errors`), the
CLI prints the text given here when the daemon says no more than a code, and the extension's `ERROR_TEXT` table
(`extension/lib/api.js`) is tested to cover every code a browser can meet. A code raised anywhere in `daemon/`
that is not listed here fails `tests/daemon/test_errors_catalogue.py`.

Status 0 marks a code no daemon sends: the client made it up itself (no answer, or an answer it does not trust).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

__all__ = ["CATALOGUE", "CLIENT_ONLY", "HTTP_STATUS_CODES", "SERVER_ONLY", "ErrorKind", "status_of", "user_text"]


class ErrorKind(NamedTuple):
    status: int
    text: str


_NOT_ACCEPTED = "The daemon did not accept that request."

CATALOGUE: Mapping[str, ErrorKind] = {
    # Generic HTTP refusals (aiohttp's own 4xx; see HTTP_STATUS_CODES)
    "bad_request": ErrorKind(400, _NOT_ACCEPTED),
    "invalid_body": ErrorKind(400, _NOT_ACCEPTED),
    "invalid_json": ErrorKind(400, _NOT_ACCEPTED),
    "invalid_query": ErrorKind(400, _NOT_ACCEPTED),
    "unauthorized": ErrorKind(
        401, "This browser is no longer paired with the daemon. Open the options and pair again."
    ),
    "forbidden": ErrorKind(403, "The daemon refused this request."),
    "not_found": ErrorKind(404, "That timer or entry no longer exists."),
    "method_not_allowed": ErrorKind(405, _NOT_ACCEPTED),
    "not_acceptable": ErrorKind(406, _NOT_ACCEPTED),
    "request_timeout": ErrorKind(408, "The request did not reach the daemon in time. Try again."),
    "conflict": ErrorKind(409, "That change conflicts with the timer's current state. The list has been refreshed."),
    "payload_too_large": ErrorKind(413, "That is too large for the daemon to accept."),
    "uri_too_long": ErrorKind(414, _NOT_ACCEPTED),
    "unsupported_media_type": ErrorKind(415, _NOT_ACCEPTED),
    "host_forbidden": ErrorKind(421, "The daemon refused this request: it answers only to 127.0.0.1 or localhost."),
    "invalid_input": ErrorKind(422, "The daemon did not accept that input."),
    "too_many_requests": ErrorKind(429, "Too many requests. Wait a moment and try again."),
    "http_error": ErrorKind(400, _NOT_ACCEPTED),
    "internal_error": ErrorKind(500, "The daemon hit an unexpected error; see its log."),
    # Pairing and tokens
    "unpaired": ErrorKind(
        401, "This browser is not paired yet. Open the options and enter the code from `ticketclock pair`."
    ),
    "origin_forbidden": ErrorKind(403, "The daemon refused this browser. Pair again from the options page."),
    "cli_only": ErrorKind(403, "Only the TicketClock command line may do that, not the browser extension."),
    "pairing_code_invalid": ErrorKind(
        400, "That pairing code is not right. Run `ticketclock pair` and type the code it shows."
    ),
    "pairing_code_expired": ErrorKind(
        400, "That pairing code has expired. Run `ticketclock pair` again for a new one."
    ),
    "too_many_attempts": ErrorKind(429, "Too many wrong pairing codes. Wait a minute, then try again with a new code."),
    "session_expired": ErrorKind(
        401, "You are signed out of the web pages. Run `ticketclock open` or use the popup's link to sign in again."
    ),
    "managed_pairing_off": ErrorKind(
        409,
        "This daemon has no managed pairing secret (pairing.managed_secret): pair with a code from `ticketclock pair`.",
    ),
    "managed_secret_invalid": ErrorKind(
        403, "The pairing secret in this browser's policy is not the daemon's (pairing.managed_secret)."
    ),
    # Timers and entries
    "too_many_timers": ErrorKind(409, "You already have 9 timers. Stop or discard one first."),
    "invalid_transition": ErrorKind(
        409,
        "That no longer applies: the timer or entry changed meanwhile (reopened, finished or stopped). "
        "The list has been refreshed.",
    ),
    "not_editable": ErrorKind(409, "That entry can no longer be changed here."),
    "period_closed": ErrorKind(409, "That timesheet period is closed: its entries cannot change until it is reopened."),
    "cell_has_tracked_time": ErrorKind(
        409, "That day holds timer or automation time a typed duration cannot cut: edit those entries instead."
    ),
    # Browser events (HTTP and WebSocket)
    "seq_gap": ErrorKind(409, "Some browser activity went missing on the way; it is being sent again."),
    "invalid_events": ErrorKind(422, "The daemon did not accept some browser activity."),
    "invalid_message": ErrorKind(400, "The daemon did not understand a message from this browser."),
    "hello_timeout": ErrorKind(408, "The browser did not introduce itself to the daemon in time; it reconnects."),
    # PSA connections
    "no_credentials": ErrorKind(409, "No credentials are stored for that PSA yet: run `ticketclock connect NAME`."),
    "invalid_credentials": ErrorKind(422, "Those credentials are not in the form this PSA needs."),
    "connection_failed": ErrorKind(502, "The PSA could not be reached or refused the credentials."),
    "not_supported": ErrorKind(409, "TicketClock cannot do that with this PSA yet."),
    # Rules
    "invalid_rules": ErrorKind(400, "Those rules were not accepted; the previous rules stay in force."),
    # Automations
    "invalid_automations": ErrorKind(
        400, "Those automation settings were not accepted; the previous settings stay in force."
    ),
    # The team server (`ticketclock server`); no browser extension talks to it: SERVER_ONLY
    "not_ready": ErrorKind(503, "The team server is starting or cannot reach its database; try again shortly."),
    "sign_in_failed": ErrorKind(401, "That e-mail and password do not match an active account."),
    "no_secret_key": ErrorKind(
        409, "The team server has no secret key to encrypt PSA credentials with: its admin sets one first."
    ),
    "device_pending": ErrorKind(403, "This device waits for an admin of the team server to approve it."),
    "invite_invalid": ErrorKind(
        403, "That invite code is unknown, used already, or expired: ask an admin for a new one."
    ),
    "no_team": ErrorKind(409, "You are not a technician of exactly one team on the team server: ask an admin."),
    "email_taken": ErrorKind(409, "Another person already uses that e-mail address."),
    "team_name_taken": ErrorKind(409, "Another team already has that name."),
    "oidc_not_configured": ErrorKind(404, "Sign-in through your organisation's account is not set up on this server."),
    "oidc_failed": ErrorKind(401, "Sign-in through your organisation's account did not succeed; try again."),
    "oidc_unknown_person": ErrorKind(
        403, "Your organisation's account is not a TicketClock person here (or is deactivated); ask an admin."
    ),
    # Made by a client, never sent by the daemon
    "daemon_unreachable": ErrorKind(
        0, "The TicketClock daemon is not running (start it with `ticketclock serve`) or uses another port."
    ),
    "timeout": ErrorKind(0, "The TicketClock daemon did not answer in time."),
    "no_answer": ErrorKind(0, "Something answers on the daemon's port, but not like TicketClock."),
    "daemon_unproven": ErrorKind(
        0,
        "The program on the daemon's port did not prove it is your TicketClock daemon, so this browser's token was "
        "not sent. Another user's program may hold the port: check `ticketclock doctor`, or set the right port.",
    ),
}

CLIENT_ONLY = frozenset(code for code, kind in CATALOGUE.items() if kind.status == 0)
"""Codes a client makes itself; every other code comes from the daemon."""

SERVER_ONLY = frozenset(
    {
        "device_pending",
        "email_taken",
        "invite_invalid",
        "no_secret_key",
        "no_team",
        "not_ready",
        "oidc_failed",
        "oidc_not_configured",
        "oidc_unknown_person",
        "sign_in_failed",
        "team_name_taken",
    }
)
"""Codes only the team server sends: the browser extension never meets them (its ERROR_TEXT leaves them out)."""

HTTP_STATUS_CODES: Mapping[int, str] = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    408: "request_timeout",
    409: "conflict",
    413: "payload_too_large",
    414: "uri_too_long",
    415: "unsupported_media_type",
    422: "invalid_input",
    429: "too_many_requests",
}
"""The code for an HTTP refusal that carries no code of its own (aiohttp's 404, 405, 413 ...); other: http_error."""


def status_of(code: str) -> int:
    """The HTTP status of a catalogued code (an unknown code is a bug: KeyError, caught by the tests)."""
    return CATALOGUE[code].status


def user_text(code: str) -> str:
    """What a user reads for a code; the empty string for a code the catalogue does not know."""
    kind = CATALOGUE.get(code)
    return kind.text if kind is not None else ""
