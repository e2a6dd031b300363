"""The CLI's printing helpers (daemon/cli/output.py) and what the CLI tells users to run."""

from __future__ import annotations

import io
import os
import re
import sys
from pathlib import Path

import pytest

from daemon.cli.main import COMMANDS, build_parser
from daemon.cli.output import OutputClosed, row, say

ROOT = Path(__file__).resolve().parents[2]


def test_a_row_strips_control_characters_before_padding(monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    row("{:<6}|{}", "a\x1b[2Jb", "c\u202ed\x07")
    say("e\x1b]0;title\x07f")
    assert out.getvalue() == "a[2Jb |cd\ne]0;titlef\n"


def test_say_into_a_pipe_nobody_reads_raises_output_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    read, write = os.pipe()
    os.close(read)  # the reader is gone before anything is written, like `| head` that has exited
    with open(write, "w", encoding="utf-8") as stream:
        monkeypatch.setattr(sys, "stdout", stream)
        with pytest.raises(OutputClosed):
            say("t1  running", flush=True)
        monkeypatch.undo()
        with pytest.raises(BrokenPipeError):  # closing flushes the line again; it cannot go anywhere either
            stream.close()


def test_every_command_named_in_a_hint_exists() -> None:
    """`ticketclock X` in any message, help text, extension page or the README: X is a command."""
    sources = [
        *(ROOT / "daemon").rglob("*.py"),
        *(ROOT / "extension").rglob("*.js"),
        *(ROOT / "extension").rglob("*.html"),
    ]
    sources.append(ROOT / "README.md")
    named = {
        (path.relative_to(ROOT).as_posix(), word)
        for path in sources
        if "node_modules" not in path.parts
        for word in re.findall(r"ticketclock ([a-z][a-z-]*)", path.read_text(encoding="utf-8"))
    }
    assert {word for _, word in named} >= {"keep-away", "serve", "pair", "connect"}
    assert sorted((where, word) for where, word in named if word not in COMMANDS) == []


def test_the_command_table_is_what_the_parser_offers() -> None:
    parser = build_parser()
    for name in COMMANDS:
        assert parser.parse_args([name] if name not in ("connect",) else [name, "x"]).command == name
