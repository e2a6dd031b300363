"""ConnectWise PSA (Manage) connector."""

from typing import TYPE_CHECKING, Any

from daemon.connectors.connectwise.config import Credentials, Options

if TYPE_CHECKING:
    from daemon.connectors.connectwise.client import ConnectWiseConnector

__all__ = ["ConnectWiseConnector", "Credentials", "Options"]


def __getattr__(name: str) -> Any:
    """The connector class is imported on first use: checking a config's options must not load the HTTP client."""
    if name == "ConnectWiseConnector":
        from daemon.connectors.connectwise.client import ConnectWiseConnector

        return ConnectWiseConnector
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
