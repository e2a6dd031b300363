"""Logging set-up: a rotating file in the log dir, stderr, a filter that redacts secrets, and one that keeps
strangers from flushing the log with malformed requests (`ClientErrorFilter`)."""

from __future__ import annotations

import logging
import logging.handlers
import re
from io import TextIOWrapper
from pathlib import Path

from aiohttp.http_exceptions import HttpProcessingError

from daemon.private import make_private, private_dir

__all__ = ["ClientErrorFilter", "RedactingFilter", "redact", "setup_logging"]

_PATTERNS = [
    (re.compile(r"(?i)(bearer|basic)\s+[A-Za-z0-9._~+/=-]+"), r"\1 [redacted]"),
    (re.compile(r"tc_[A-Za-z0-9_-]{16,}"), "tc_[redacted]"),
    (
        re.compile(
            r"""(?i)(["']?(?:token|access_token|refresh_token|secret|client_secret|password|private_key|"""
            r"""privatekey|publickey|public_key|api_?integration_?code)["']?\s*[:=]\s*)"""
            r"""("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|[^\s,&}]+)"""
        ),
        r"\1[redacted]",
    ),
]


def redact(text: str) -> str:
    for pattern, repl in _PATTERNS:
        text = pattern.sub(repl, text)
    return text


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


class ClientErrorFilter(logging.Filter):
    """A client's mistake is one line without a traceback, and at most `burst` lines per kind per `window_s`.

    aiohttp logs each malformed request with its traceback (~730 bytes): ~11,500 unauthenticated requests would
    push all history out of the rotating log. The first line after a quiet spell says how many were left out.
    Time is the record's own `created` stamp (the logging module's, not a clock of ours).
    """

    def __init__(self, *, burst: int = 5, window_s: float = 60.0) -> None:
        super().__init__()
        self.burst = burst
        self.window_s = window_s
        self._windows: dict[str, tuple[float, int]] = {}
        """kind -> (start of its window, records seen in it)"""
        self._suppressed: dict[str, int] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if not isinstance(exc, HttpProcessingError) or not 400 <= exc.code < 500:
            return True
        kind = type(exc).__name__
        start, seen = self._windows.get(kind, (record.created, 0))
        if record.created - start >= self.window_s:
            start, seen = record.created, 0
        self._windows[kind] = (start, seen + 1)
        if seen >= self.burst:
            self._suppressed[kind] = self._suppressed.get(kind, 0) + 1
            return False
        lines = str(exc.message).strip().splitlines()
        reason = lines[0][:200] if lines else ""
        left_out = self._suppressed.pop(kind, 0)
        what = record.getMessage()
        record.msg = "%s: %s %s (%s)%s"
        record.args = (
            what,
            exc.code,
            kind,
            reason,
            f"; {left_out} more like it were not logged" if left_out else "",
        )
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        record.exc_info, record.exc_text = None, None
        return True


class PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """Every log file it opens (the first and each one after a rotation) is readable by this user only."""

    def _open(self) -> TextIOWrapper:
        stream = super()._open()
        make_private(Path(self.baseFilename))
        return stream


def setup_logging(log_dir: Path | None, *, verbose: bool = False) -> None:
    root = logging.getLogger()
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for handler in list(root.handlers):
        root.removeHandler(handler)
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    if log_dir is not None:
        private_dir(log_dir)
        handlers.append(
            PrivateRotatingFileHandler(log_dir / "ticketclock.log", maxBytes=2_000_000, backupCount=3, encoding="utf-8")
        )
    for handler in handlers:
        handler.setFormatter(fmt)
        handler.addFilter(RedactingFilter())
        root.addHandler(handler)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    server = logging.getLogger("aiohttp.server")  # where aiohttp reports malformed requests
    for old in [f for f in server.filters if isinstance(f, ClientErrorFilter)]:
        server.removeFilter(old)
    server.addFilter(ClientErrorFilter())
    for noisy in ("httpx", "httpcore"):  # one line per PSA request is noise, and costs CPU per posted entry
        logging.getLogger(noisy).setLevel(logging.WARNING)
