"""HaloPSA: OAuth2 client credentials; time is logged as ticket actions with `timetaken` in hours."""

from typing import TYPE_CHECKING, Any

from daemon.connectors.halopsa.config import Credentials, Options

if TYPE_CHECKING:
    from daemon.connectors.halopsa.client import HaloPsaConnector

__all__ = ["Credentials", "HaloPsaConnector", "Options"]


def __getattr__(name: str) -> Any:
    """The connector class is imported on first use: checking a config's options must not load the HTTP client."""
    if name == "HaloPsaConnector":
        from daemon.connectors.halopsa.client import HaloPsaConnector

        return HaloPsaConnector
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
