"""The one thing pyproject.toml cannot say: the browser extension (`extension/`, where the tests and docs use it)
ships inside the package as `daemon/extension` (its files: package-data in pyproject.toml), so an installed
TicketClock has it (`ticketclock extension path`)."""

from setuptools import find_namespace_packages, setup

EXTENSION = ["daemon.extension", *(f"daemon.extension.{p}" for p in ("content", "icons", "lib"))]

setup(
    packages=[*find_namespace_packages(include=["daemon", "daemon.*"], exclude=["*.__pycache__"]), *EXTENSION],
    package_dir={"daemon.extension": "extension"},
)
