"""HaloPSA: OAuth2 client credentials; time is logged as ticket actions with `timetaken` in hours."""

from daemon.connectors.halopsa.client import HaloPsaConnector
from daemon.connectors.halopsa.config import Credentials, Options

__all__ = ["Credentials", "HaloPsaConnector", "Options"]
