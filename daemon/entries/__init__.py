"""Entries, their states and audit trail."""

from daemon.entries.model import EDITABLE, STATUSES, AuditEvent, Entry, Segment, Status

__all__ = ["EDITABLE", "STATUSES", "AuditEvent", "Entry", "Segment", "Status"]
