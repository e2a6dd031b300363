"""Autotask (Datto/Kaseya PSA) connector."""

from .client import AutotaskConnector
from .config import Credentials, Options

__all__ = ["AutotaskConnector", "Credentials", "Options"]
