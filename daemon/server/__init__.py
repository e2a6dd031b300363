"""The team server (`ticketclock server`): a whole MSP's technicians, their approvers, and one place that posts to the
PSA, on PostgreSQL. Any number of server processes share one database; none holds state of its own."""
