"""The command line, split by job; together the only code that reads argv, the environment and config files.

    main.py      argv: the command table, the parser, running a command and printing its error
    config.py    settings: the config file, TICKETCLOCK_HOME and the flags read into one `Settings`
    serving.py   running servers: `serve` (the daemon), `sandbox`, `demo`
    remote.py    remote control over the daemon's API: status, pair, clients, token, timers, entries, PSA, outbox
    doctor.py    `doctor`: checks of this machine's folders, database, port and config
    output.py    printing lines and table rows (printable text; a closed pipe ends the command quietly)
    common.py    what they share: CliError, the command entry, the token and the API client

ticketclock serve                 run the daemon in the foreground
ticketclock status | pair | clients | token | doctor

Everything printed goes through `daemon.textsafe` (no terminal escapes from ticket text); exports escape formulas.
"""

from __future__ import annotations

from daemon.cli.config import resolve_settings
from daemon.cli.main import main

__all__ = ["main", "resolve_settings"]
