"""Secrets never reach the log: redact() and the handlers setup_logging installs."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp.http_exceptions import BadHttpMessage, LineTooLong

from daemon.auth import new_token
from daemon.logs import ClientErrorFilter, RedactingFilter, redact, setup_logging
from tests.support import make_settings, start_daemon

TOKEN = new_token()


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        (f"Authorization: Bearer {TOKEN}", TOKEN),
        ("authorization: bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln", "eyJhbGciOiJIUzI1NiJ9"),
        ("{'Authorization': 'Bearer abc.DEF-ghi_jkl~mno+pqr/stu='}", "abc.DEF-ghi_jkl~mno+pqr/stu="),
        ("Authorization: Basic YWNtZStwdWJsaWM6cHJpdmF0ZQ==", "YWNtZStwdWJsaWM6cHJpdmF0ZQ=="),
        ("AUTHORIZATION: BASIC  dXNlcjpwYXNz", "dXNlcjpwYXNz"),
        (f"the token is {TOKEN}, keep it", TOKEN.removeprefix("tc_")),
        (f"url=http://127.0.0.1/ws?t={TOKEN}", TOKEN.removeprefix("tc_")),
        ('{"password": "hunter2", "user": "bob"}', "hunter2"),
        ('{"password":"hun\\"ter2"}', "ter2"),
        ('{"client_secret":"s3cr3t-value","client_id":"app"}', "s3cr3t-value"),
        ('{"access_token": "at-123456", "refresh_token": "rt-654321"}', "at-123456"),
        ('{"access_token": "at-123456", "refresh_token": "rt-654321"}', "rt-654321"),
        ('{"privateKey": "pk-secret", "publicKey": "pub-secret"}', "pk-secret"),
        ('{"privateKey": "pk-secret", "publicKey": "pub-secret"}', "pub-secret"),
        ("{'Secret': 'with spaces inside'}", "with spaces inside"),
        ("ApiIntegrationCode: ABCDEF123456", "ABCDEF123456"),
        ('{"api_integration_code": "XYZ987"}', "XYZ987"),
        ("grant_type=client_credentials&client_secret=form-s3cret&scope=all", "form-s3cret"),
        ("username=bob&password=p%40ss&x=1", "p%40ss"),
        ("token=abc123def", "abc123def"),
        ('{"password": 12345678}', "12345678"),
    ],
)
def test_redact_hides_secrets(text: str, secret: str) -> None:
    clean = redact(text)
    assert secret not in clean
    assert "[redacted]" in clean


@pytest.mark.parametrize(
    "text",
    [
        "GET /api/v1/timers 200",
        '{"ticket": 123, "summary": "printer on fire", "company": "Acme"}',
        "grant_type=password&client_id=x",
        "tc_short",
        "basically fine",
    ],
)
def test_redact_leaves_ordinary_text_alone(text: str) -> None:
    assert redact(text) == text


def test_redact_keeps_the_surrounding_text() -> None:
    clean = redact('{"user": "bob", "password": "hunter2", "ticket": 42}')
    assert clean == '{"user": "bob", "password": [redacted], "ticket": 42}'


@pytest.fixture
def root_logging() -> Iterator[logging.Logger]:
    """setup_logging replaces the root handlers; put pytest's back afterwards and close ours."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield root
    for handler in list(root.handlers):
        root.removeHandler(handler)
        if handler not in handlers:
            handler.close()
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def flush(root: logging.Logger) -> None:
    for handler in root.handlers:
        handler.flush()


def test_a_token_in_a_log_message_does_not_reach_the_log_file(
    tmp_path: Path, root_logging: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    log_dir = tmp_path / "logs"
    setup_logging(log_dir)
    log = logging.getLogger("ticketclock.test")
    log.warning("calling with Authorization: Bearer %s", TOKEN)
    log.info("pairing answered %s", {"token": TOKEN, "client_id": "c_1"})
    log.info('vendor said {"client_secret": "halo-secret"} and Basic YWJjOmRlZg==')
    flush(root_logging)

    text = (log_dir / "ticketclock.log").read_text(encoding="utf-8")
    assert "calling with Authorization" in text  # the control: the records were written
    assert "c_1" in text
    assert text.count("[redacted]") >= 4
    for secret in (TOKEN, TOKEN.removeprefix("tc_"), "halo-secret", "YWJjOmRlZg=="):
        assert secret not in text
    assert TOKEN not in capsys.readouterr().err


def test_a_token_in_a_traceback_does_not_reach_the_log_file(tmp_path: Path, root_logging: logging.Logger) -> None:
    log_dir = tmp_path / "logs"
    setup_logging(log_dir)
    try:
        raise RuntimeError(f"request failed with Authorization: Bearer {TOKEN}")
    except RuntimeError:
        logging.getLogger("ticketclock.test").exception("unhandled")
    flush(root_logging)
    text = (log_dir / "ticketclock.log").read_text(encoding="utf-8")
    assert "RuntimeError" in text and "unhandled" in text
    assert TOKEN not in text


def test_setup_logging_installs_the_filter_on_every_handler(tmp_path: Path, root_logging: logging.Logger) -> None:
    setup_logging(tmp_path / "logs", verbose=True)
    assert root_logging.level == logging.DEBUG
    assert len(root_logging.handlers) == 2
    for handler in root_logging.handlers:
        assert any(isinstance(f, RedactingFilter) for f in handler.filters)


def test_setup_logging_without_a_folder_logs_to_stderr_only(root_logging: logging.Logger) -> None:
    setup_logging(None)
    assert root_logging.level == logging.INFO
    assert [type(h) for h in root_logging.handlers] == [logging.StreamHandler]


# --- client errors: one line, no traceback, rate-limited per kind ------------------------------------------------


def _bad_request_record(created: float, exc: Exception) -> logging.LogRecord:
    try:
        raise exc
    except Exception:
        record = logging.getLogger("aiohttp.server").makeRecord(
            "aiohttp.server",
            logging.ERROR,
            __file__,
            1,
            "Error handling request from %s",
            ("127.0.0.1",),
            sys.exc_info(),
        )
    record.created = created
    return record


def test_client_errors_are_one_line_each_and_rate_limited_per_kind() -> None:
    f = ClientErrorFilter(burst=3, window_s=60)
    bad = BadHttpMessage("Invalid header value char:\n\n  b'Host: x\\x01y'\n           ^")
    kept = [r for r in (_bad_request_record(1000 + i, bad) for i in range(50)) if f.filter(r)]
    assert len(kept) == 3
    for record in kept:
        assert record.exc_info is None and record.levelno == logging.WARNING
        assert record.getMessage() == (
            "Error handling request from 127.0.0.1: 400 BadHttpMessage (Invalid header value char:)"
        )
    other = _bad_request_record(1049, LineTooLong(b"x" * 10, 8190))
    assert f.filter(other), "another kind has a budget of its own"
    later = _bad_request_record(1000 + 61, bad)
    assert f.filter(later)
    assert "47 more like it were not logged" in later.getMessage()
    crash = _bad_request_record(1062, RuntimeError("a bug of ours"))
    assert f.filter(crash) and crash.exc_info is not None, "our own errors keep their traceback"


async def test_malformed_requests_from_strangers_do_not_flush_the_log(
    tmp_path: Path, root_logging: logging.Logger
) -> None:
    log_dir = tmp_path / "logs"
    setup_logging(log_dir)
    logging.getLogger("ticketclock.test").info("history worth keeping")
    running = await start_daemon(make_settings(tmp_path))
    try:
        for i in range(300):
            reader, writer = await asyncio.open_connection("127.0.0.1", running.port)
            writer.write(b"GET / HTTP/1.1\r\nHost: x\x01%d\r\n\r\n" % i)
            await writer.drain()
            assert (await reader.read(12)).startswith(b"HTTP/1.")
            writer.close()
            await writer.wait_closed()
        assert (await running.http.get("/api/v1/health")).status_code == 200
    finally:
        await running.stop()
    flush(root_logging)
    text = (log_dir / "ticketclock.log").read_text(encoding="utf-8")
    assert "history worth keeping" in text
    assert "Traceback" not in text
    assert text.count("Error handling request") <= 10, text[-2000:]
    assert len(text) < 5_000
