"""ConnectWise PSA (Manage) connector."""

from daemon.connectors.connectwise.client import ConnectWiseConnector
from daemon.connectors.connectwise.config import Credentials, Options

__all__ = ["ConnectWiseConnector", "Credentials", "Options"]
