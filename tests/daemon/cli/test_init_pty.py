"""`ticketclock init` in a terminal: a real pseudo-terminal, the answers typed, the secret read without echo."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from daemon.sandbox.halopsa import CLIENT_ID, CLIENT_SECRET
from tests.daemon.cli.conftest import Sandbox, cli_env
from tests.daemon.cli.test_init import config_of, stored
from tests.support import DEADLINE_S, stop_process

pytestmark = pytest.mark.skipif(os.name != "posix", reason="pseudo-terminals (pty) are POSIX; Windows has ConPTY")

# The child makes the pty its controlling terminal (getpass reads /dev/tty), then becomes `python -m daemon`.
CONTROLLING_TTY = (
    "import fcntl, os, sys, termios; fcntl.ioctl(0, termios.TIOCSCTTY, 0); "
    "os.execv(sys.executable, [sys.executable, '-m', 'daemon', *sys.argv[1:]])"
)


class Terminal:
    def __init__(self, home: Path, *args: str) -> None:
        import subprocess

        self.master, slave = os.openpty()
        self.seen = b""
        self.proc = subprocess.Popen(
            [sys.executable, "-c", CONTROLLING_TTY, *args],
            env=cli_env(home),
            stdin=slave,
            stdout=slave,
            stderr=slave,
            start_new_session=True,
            cwd=Path(__file__).resolve().parents[3],
        )
        os.close(slave)

    def expect(self, text: str) -> str:
        """Read until `text` has appeared (after what was already matched); the output so far."""
        import select

        deadline = time.monotonic() + DEADLINE_S
        while text.encode() not in self.seen:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {text!r} on the terminal; it shows:\n{self.seen.decode(errors='replace')}")
            ready, _, _ = select.select([self.master], [], [], left)
            if ready:
                try:
                    chunk = os.read(self.master, 4096)
                except OSError:  # EIO: the child closed the terminal
                    chunk = b""
                if not chunk:
                    raise AssertionError(f"the terminal closed before {text!r}:\n{self.seen.decode(errors='replace')}")
                self.seen += chunk
        shown, _, self.seen = self.seen.partition(text.encode())
        return (shown + text.encode()).decode(errors="replace")

    def type(self, line: str) -> None:
        os.write(self.master, line.encode() + b"\r")

    def close(self) -> int:
        code = stop_process(self.proc) if self.proc.poll() is None else self.proc.returncode
        os.close(self.master)
        return code


def test_init_in_a_terminal_asks_and_reads_the_secret_unseen(tmp_path: Path, halo_sandbox: Sandbox) -> None:
    base = halo_sandbox.of("halopsa")["base_url"]
    home = tmp_path / "home"
    term = Terminal(home, "init")
    try:
        term.expect("PSA (connectwise, autotask, halopsa): ")
        term.type("halo")  # not a kind: asked again
        term.expect("one of connectwise, autotask, halopsa")
        term.expect("PSA (connectwise, autotask, halopsa): ")
        term.type("halopsa")
        term.expect("its web address (e.g. https://yourcompany.halopsa.com): ")
        term.type(f"{base}/ticket?id=12")
        term.expect("a name for it [halopsa]: ")
        term.type("")
        term.expect(f"{base} answers")
        term.expect("halopsa client_id: ")
        term.type(CLIENT_ID)
        term.expect("halopsa client_secret: ")
        term.type(CLIENT_SECRET)
        after_secret = term.expect("halopsa: connected as")
        assert CLIENT_SECRET not in after_secret  # getpass: no echo
        term.expect("ticketclock pair")
        assert term.proc.wait(timeout=DEADLINE_S) == 0
    finally:
        term.close()
    (instance,) = config_of(home)["instances"]  # type: ignore[misc]
    assert instance["name"] == "halopsa" and instance["origins"] == [base]
    assert stored(home)["halopsa"] == {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}


def test_init_in_a_terminal_asks_before_replacing(tmp_path: Path) -> None:
    home = tmp_path / "home"
    path = home / "config" / "config.toml"
    path.parent.mkdir(parents=True)
    before = '[[instances]]\nname = "halopsa-sandbox"\nkind = "halopsa"\norigins = ["http://127.0.0.1:1"]\n'
    path.write_text(before, encoding="utf-8")
    term = Terminal(home, "init", "--sandbox", "--kind", "halopsa")
    try:
        term.expect("already has 'halopsa-sandbox': replace it? [Y/n]: ")
        term.type("n")
        term.expect("nothing changed")
        assert term.proc.wait(timeout=DEADLINE_S) == 1
    finally:
        term.close()
    assert path.read_text(encoding="utf-8") == before
