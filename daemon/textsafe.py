"""Untrusted text (ticket summaries come from customers' e-mail subjects) made safe for terminals and spreadsheets.

One rule each, used by every human output and every export of the CLI:

* `printable`: control characters (C0 except newline and tab, DEL, C1 — ESC and CSI start terminal escape
  sequences) and bidirectional overrides (they reorder what the reader sees) are removed.
* `csv_cell`: a text cell that a spreadsheet would read as a formula (first character `=`, `+`, `-`, `@`, tab or
  carriage return) gets a leading apostrophe, which spreadsheets show as plain text (OWASP's advice).
"""

from __future__ import annotations

import re
from typing import TextIO

__all__ = ["SafeStream", "csv_cell", "printable"]

_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def printable(text: str) -> str:
    return _UNSAFE.sub("", text)


def csv_cell(value: object) -> object:
    """Numbers stay numbers; text is made printable and never starts a formula."""
    if not isinstance(value, str):
        return value
    value = printable(value)  # first: a removed control character must not uncover a formula
    return "'" + value if value.startswith(_FORMULA_START) else value


class SafeStream:
    """A text stream that writes only printable text: the CLI's stdout and stderr go through one of these."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        self.stream.write(printable(text))
        return len(text)

    def flush(self) -> None:
        self.stream.flush()

    def __getattr__(self, name: str) -> object:
        return getattr(self.stream, name)
