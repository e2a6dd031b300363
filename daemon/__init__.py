"""TicketClock: the local daemon that turns time on PSA tickets into time entries.

Layers, top to bottom; a module imports only its own layer and those below (checked by tests/daemon/test_layers.py)::

    cli, app, client, runtime, logs, demo, sandbox     entry points and tools
    api                                                HTTP and WebSocket only; reaches the store through services
    services                                           the running daemon's parts
    timers, entries, outbox, psa, notices, auth        features
    rules, connectors                                  policy and PSA clients
    store                                              all SQL; the only importer of the database driver
    settings, clock, private, textsafe,                the base, with the domain types that the store and the
    timers.model, entries.model                        features share

Imports across packages name the defining module (`from daemon.store.outbox import OutboxStore`) or the package's
`__init__`; any public name may be imported, `_private` ones stay inside their package. A package's `__all__`
lists its main names; it is a summary, not a wall.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
