"""Browser events as the extension sends them (plain JSON dicts), for API-level tests."""

from __future__ import annotations

from typing import Any

HALO_ORIGIN = "https://acme.halopsa.com"
HALO_INSTANCE = f"""
[[instances]]
name = "halo"
kind = "halopsa"
origins = ["{HALO_ORIGIN}"]
"""


def url(ticket: int) -> str:
    return f"{HALO_ORIGIN}/ticket?id={ticket}"


def opened(seq: int, at: float, tab: int, ticket: int, *, active: bool = True) -> dict[str, Any]:
    return {"type": "tab_opened", "seq": seq, "at": at, "tab": tab, "window": 1, "url": url(ticket), "active": active}


def closed(seq: int, at: float, tab: int) -> dict[str, Any]:
    return {"type": "tab_closed", "seq": seq, "at": at, "tab": tab, "window": 1}


def beat(seq: int, at: float) -> dict[str, Any]:
    return {"type": "heartbeat", "seq": seq, "at": at}


def batch(events: list[dict[str, Any]], install: str = "ext-a") -> dict[str, Any]:
    return {"type": "batch", "install": install, "events": events}
