"""The team server's HTTP API: each module has a `ROUTES` table (`daemon.api.routing.Route`)."""
