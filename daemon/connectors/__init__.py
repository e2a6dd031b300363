"""PSA connectors: one folder per PSA, one protocol (`base.Connector`), a plain registry.

The registry imports a connector's module on first use, so a daemon that never talks to a PSA never loads one.
"""

import importlib
from collections.abc import Iterator, Mapping
from typing import Any

from daemon.connectors.base import (
    Connector,
    ConnectorAuthError,
    ConnectorError,
    ConnectorRejected,
    ConnectorUnavailable,
    Identity,
    Posted,
    PostEntry,
    TicketInfo,
    TicketNotFound,
)

_CLASSES = {
    "connectwise": "ConnectWiseConnector",
    "autotask": "AutotaskConnector",
    "halopsa": "HaloPsaConnector",
}


class _Registry(Mapping[str, Any]):
    """{kind: connector class}, each imported when first asked for."""

    def __getitem__(self, kind: str) -> Any:
        name = _CLASSES[kind]
        return getattr(importlib.import_module(f"daemon.connectors.{kind}"), name)

    def __iter__(self) -> Iterator[str]:
        return iter(_CLASSES)

    def __len__(self) -> int:
        return len(_CLASSES)


CONNECTORS: Mapping[str, Any] = _Registry()

__all__ = [
    "CONNECTORS",
    "Connector",
    "ConnectorAuthError",
    "ConnectorError",
    "ConnectorRejected",
    "ConnectorUnavailable",
    "Identity",
    "PostEntry",
    "Posted",
    "TicketInfo",
    "TicketNotFound",
]
