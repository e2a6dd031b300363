"""Autotask (Datto/Kaseya PSA) connector."""

from typing import TYPE_CHECKING, Any

from .config import Credentials, Options

if TYPE_CHECKING:
    from .client import AutotaskConnector

__all__ = ["AutotaskConnector", "Credentials", "Options"]


def __getattr__(name: str) -> Any:
    """The connector class is imported on first use: checking a config's options must not load the HTTP client."""
    if name == "AutotaskConnector":
        from .client import AutotaskConnector

        return AutotaskConnector
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
