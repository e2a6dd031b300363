"""Timers: browser events, ticket recognition, the pure timer engine (engine.py) and the service around it."""
