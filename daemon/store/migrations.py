"""Schema migrations: one ordered list, forward only, tracked with PRAGMA user_version.

Migration N (1-based) is MIGRATIONS[N - 1]. Never edit a released migration; append a new one.
Statements are separated by ";" at the end of a line.
"""

from __future__ import annotations

__all__ = ["MIGRATIONS"]

MIGRATIONS: list[str] = [
    # 1: foundation — settings kept by the daemon, paired clients.
    """
    CREATE TABLE meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE TABLE clients (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        origin TEXT,
        token_sha256 TEXT NOT NULL UNIQUE,
        created_at REAL NOT NULL,
        last_used_at REAL
    );
    """,
    # 2: time engine — its state blob, per-install acknowledgements, entries and their audit trail.
    """
    CREATE TABLE engine (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        state BLOB NOT NULL,
        daemon_seen REAL NOT NULL
    );
    CREATE TABLE installs (
        install TEXT PRIMARY KEY,
        acked_seq INTEGER NOT NULL,
        last_at REAL NOT NULL,
        instance TEXT NOT NULL DEFAULT ''
    );
    CREATE TABLE entries (
        id TEXT PRIMARY KEY,
        source TEXT NOT NULL,
        timer_id TEXT,
        instance TEXT NOT NULL DEFAULT '',
        ticket_id INTEGER,
        ticket_number TEXT,
        task TEXT,
        summary TEXT NOT NULL DEFAULT '',
        company TEXT NOT NULL DEFAULT '',
        started_at REAL NOT NULL,
        ended_at REAL NOT NULL,
        actual_seconds INTEGER NOT NULL,
        billed_seconds INTEGER NOT NULL,
        notes TEXT NOT NULL DEFAULT '',
        internal_notes TEXT NOT NULL DEFAULT '',
        billable TEXT NOT NULL DEFAULT 'agreement',
        work_type TEXT NOT NULL DEFAULT '',
        log_as TEXT NOT NULL DEFAULT '',
        status TEXT NOT NULL,
        status_reason TEXT NOT NULL DEFAULT '',
        flags TEXT NOT NULL DEFAULT '[]',
        segments TEXT NOT NULL DEFAULT '[]',
        explanation TEXT NOT NULL DEFAULT '[]',
        psa_ids TEXT NOT NULL DEFAULT '[]',
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE INDEX entries_status ON entries (status);
    CREATE INDEX entries_started ON entries (started_at);
    CREATE INDEX entries_ticket ON entries (instance, ticket_id);
    CREATE TABLE entry_events (
        id INTEGER PRIMARY KEY,
        entry_id TEXT NOT NULL REFERENCES entries (id) ON DELETE CASCADE,
        at REAL NOT NULL,
        actor TEXT NOT NULL,
        from_status TEXT,
        to_status TEXT NOT NULL,
        comment TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX entry_events_entry ON entry_events (entry_id);
    """,
    # 3: outbox — one row per entry waiting to be posted (or failed), with its attempts and next try.
    """
    CREATE TABLE outbox (
        entry_id TEXT PRIMARY KEY REFERENCES entries (id) ON DELETE CASCADE,
        instance TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_at REAL NOT NULL,
        last_error TEXT NOT NULL DEFAULT '',
        sending_since REAL,
        ambiguous INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX outbox_due ON outbox (instance, next_at);
    """,
    # 4: notices — what changed billed time without the user's hand, for the popup and the API (read or not).
    """
    CREATE TABLE notices (
        id INTEGER PRIMARY KEY,
        at REAL NOT NULL,
        code TEXT NOT NULL,
        message TEXT NOT NULL,
        timer_id TEXT,
        read_at REAL
    );
    CREATE INDEX notices_unread ON notices (read_at, id);
    """,
    # 5 (rules branch): the rule set in force after a PUT /api/v1/rules — one row, the RuleSet as JSON. Absent: the
    # config file's [rules] are in force.
    """
    CREATE TABLE rules (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        doc TEXT NOT NULL,
        updated_at REAL NOT NULL
    );
    """,
    # 6 (tasks-workorders): what an entry's time is for — ticket, work_order (project ticket/task) or task.
    """
    ALTER TABLE entries ADD COLUMN kind TEXT NOT NULL DEFAULT 'ticket';
    UPDATE entries SET kind = 'task' WHERE task IS NOT NULL;
    """,
    # 7 (web-api, issue 10): closed timesheet periods; a covering index for summaries (a month of entries is read from
    # the index alone: time, status, seconds and the grouped columns), which also serves the started_at order.
    """
    CREATE TABLE closed_periods (
        first_day TEXT PRIMARY KEY,
        last_day TEXT NOT NULL,
        closed_at REAL NOT NULL,
        actor TEXT NOT NULL
    );
    CREATE INDEX entries_summary ON entries (
        started_at, status, actual_seconds, billed_seconds, company, work_type, billable, source, task
    );
    DROP INDEX entries_started;
    """,
    # 8 (web UI, issue 10): the sign-in sessions of the web pages, by the SHA-256 of the cookie and of the page key
    # that must come with it (daemon/auth.py).
    """
    CREATE TABLE web_sessions (
        token_sha256 TEXT PRIMARY KEY,
        scope TEXT NOT NULL,
        created_at REAL NOT NULL,
        last_seen_at REAL NOT NULL,
        key_sha256 TEXT NOT NULL DEFAULT ''
    );
    """,
    # 9 (automation branch): automation runs logged as time — the entry's automation name, every run received
    # (its run_id unique: a repeat finds the first), and the per-automation settings saved by PUT
    # /api/v1/automations (one row, like the rules; absent: the config file's [[automations]] are in force).
    """
    ALTER TABLE entries ADD COLUMN automation TEXT NOT NULL DEFAULT '';
    CREATE TABLE automation_runs (
        run_id TEXT PRIMARY KEY,
        automation TEXT NOT NULL,
        instance TEXT NOT NULL,
        ticket TEXT NOT NULL,
        started_by TEXT NOT NULL DEFAULT '',
        started_at REAL NOT NULL,
        finished_at REAL NOT NULL,
        outcome TEXT NOT NULL DEFAULT '',
        notes TEXT NOT NULL DEFAULT '',
        status TEXT NOT NULL,
        reason TEXT NOT NULL DEFAULT '',
        entry_id TEXT REFERENCES entries (id) ON DELETE SET NULL,
        received_at REAL NOT NULL
    );
    CREATE INDEX automation_runs_received ON automation_runs (received_at);
    CREATE TABLE automation_settings (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        doc TEXT NOT NULL,
        updated_at REAL NOT NULL
    );
    """,
    # 10 (perf2, issue 14): the engine state in parts, so a batch of browser events writes what it changed, not the
    # whole state (88 KB at 400 tabs): each install's tab map in `engine_tabs` (changed by opening, closing or
    # navigating a tab), the rest of its view in `engine_installs` (changed by every event: when it was last seen),
    # the rest of the state in the engine row. The old blob's views move into these rows; its "installs" is emptied.
    """
    CREATE TABLE engine_installs (
        install TEXT PRIMARY KEY,
        view BLOB NOT NULL
    );
    CREATE TABLE engine_tabs (
        install TEXT PRIMARY KEY,
        tabs BLOB NOT NULL
    );
    INSERT INTO engine_installs (install, view)
        SELECT j.key, CAST(json_set(j.value, '$.tabs', json('{}')) AS BLOB)
        FROM engine, json_each(CAST(engine.state AS TEXT), '$.installs') AS j;
    INSERT INTO engine_tabs (install, tabs)
        SELECT j.key, CAST(COALESCE(json_extract(j.value, '$.tabs'), '{}') AS BLOB)
        FROM engine, json_each(CAST(engine.state AS TEXT), '$.installs') AS j;
    UPDATE engine SET state = CAST(json_set(CAST(state AS TEXT), '$.installs', json('{}')) AS BLOB);
    """,
    # 11 (rules2, issue 11): an entry's board (the rules' board/queue scope) and work role (posted to the PSA).
    """
    ALTER TABLE entries ADD COLUMN board TEXT NOT NULL DEFAULT '';
    ALTER TABLE entries ADD COLUMN role TEXT NOT NULL DEFAULT '';
    """,
    # 12 (sync, issue 13): team sync. Every write of an entry bumps `sync_version` (EntryStore); `sent_version` is the
    # version the team server has acknowledged; `sync_state` holds the server's address, the decisions cursor and the
    # last attempt. Existing entries start at version 1, unsent (joining decides which of them are sent).
    """
    ALTER TABLE entries ADD COLUMN sync_version INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE entries ADD COLUMN sent_version INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX entries_unsent ON entries (id) WHERE sync_version > sent_version;
    CREATE TABLE sync_state (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        server TEXT NOT NULL,
        cursor INTEGER NOT NULL DEFAULT 0,
        joined_at REAL NOT NULL,
        last_sync_at REAL,
        last_attempt_at REAL,
        last_error TEXT NOT NULL DEFAULT '',
        device_status TEXT NOT NULL DEFAULT ''
    );
    """,
]
