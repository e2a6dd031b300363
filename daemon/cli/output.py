"""What the report commands print: lines and table rows on standard output, made printable (`daemon.textsafe`), and
a reader that goes away early (`ticketclock timers | head`) ends the command quietly instead of with a traceback."""

from __future__ import annotations

import errno
import os
import sys

from daemon.textsafe import printable

__all__ = ["OutputClosed", "row", "say", "silence_stdout"]


class OutputClosed(BrokenPipeError):
    """Standard output's reader has gone (a closed pipe); nothing more can be shown."""


def say(text: str = "", *, flush: bool = False) -> None:
    """One line on standard output, without control characters."""
    try:
        sys.stdout.write(printable(text) + "\n")
        if flush:
            sys.stdout.flush()
    except OSError as exc:
        # POSIX: EPIPE (BrokenPipeError). Windows: a write to a pipe whose reader is gone fails with EINVAL.
        if isinstance(exc, BrokenPipeError) or exc.errno == errno.EINVAL:
            raise OutputClosed(errno.EPIPE, "standard output was closed") from None
        raise


def row(spec: str, *cells: object) -> None:
    """One table row: `spec` is a str.format pattern (widths, alignment); text cells are made printable before they
    are padded, so a stripped control character cannot shift the columns."""
    say(spec.format(*(printable(c) if isinstance(c, str) else c for c in cells)))


def silence_stdout() -> None:
    """After the reader went away: point standard output at the null device, so that the interpreter's final flush
    of what is still buffered does not fail again (and print "Exception ignored ... BrokenPipeError")."""
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        os.close(null)
    except (OSError, ValueError):  # no file descriptor behind sys.stdout (embedded, tests): nothing to flush later
        pass
