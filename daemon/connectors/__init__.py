"""PSA connectors: one folder per PSA, one protocol (`base.Connector`), a plain registry."""

from typing import Any

from daemon.connectors.autotask import AutotaskConnector
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
from daemon.connectors.connectwise import ConnectWiseConnector
from daemon.connectors.halopsa import HaloPsaConnector

CONNECTORS: dict[str, Any] = {
    "connectwise": ConnectWiseConnector,
    "autotask": AutotaskConnector,
    "halopsa": HaloPsaConnector,
}

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
