"""Automation runs logged as time: `model` (shared shapes, base layer) and `service` (settings, runs → entries)."""
