"""TicketClock: the local daemon that turns time on PSA tickets into time entries."""

__version__ = "0.1.0"
__all__ = ["__version__"]
