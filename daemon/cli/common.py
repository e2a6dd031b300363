"""What every CLI command shares: the user-error exception, the exit code for it, the command table entry, the token
and the API client."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import NamedTuple

from daemon.client import ApiClient
from daemon.settings import Settings

__all__ = ["APP", "EXIT_USAGE", "CliError", "Command", "api", "read_token"]

APP = "ticketclock"
EXIT_USAGE = 2


class CliError(Exception):
    """A problem the user can fix; printed without a traceback, exit code 2."""


class Command(NamedTuple):
    run: Callable[[Settings, argparse.Namespace], int]
    help: str
    arguments: Callable[[argparse.ArgumentParser], None] | None = None
    """Adds the command's own arguments to its parser."""


def read_token(settings: Settings) -> str | None:
    try:
        return settings.token_file.read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def api(settings: Settings) -> ApiClient:
    return ApiClient(settings.port, read_token(settings))
