"""The team server's PostgreSQL schema: forward-only migrations, applied in order, each once.

Times are seconds since the Unix epoch (`double precision`), from the server's `Clock`, as in the daemon's SQLite.
Append new migrations at the end; never edit one that has shipped.
"""

from __future__ import annotations

__all__ = ["MIGRATIONS"]

MIGRATIONS: list[str] = [
    # 1: teams, people and their roles, the technicians' synced entries, the decisions sent back to their daemons,
    # the audit trail, web sessions, and the outbox of approved entries the server posts.
    """
    CREATE TABLE teams (
        id text PRIMARY KEY,
        name text NOT NULL UNIQUE,
        approval text NOT NULL DEFAULT 'one' CHECK (approval IN ('none', 'one', 'two')),
        settings jsonb NOT NULL DEFAULT '{}',
        created_at double precision NOT NULL
    );
    CREATE TABLE people (
        id text PRIMARY KEY,
        email text NOT NULL UNIQUE CHECK (email = lower(email)),
        name text NOT NULL,
        password_hash text,
        is_admin boolean NOT NULL DEFAULT false,
        active boolean NOT NULL DEFAULT true,
        psa_identities jsonb NOT NULL DEFAULT '{}',
        created_at double precision NOT NULL
    );
    CREATE TABLE memberships (
        team_id text NOT NULL REFERENCES teams (id),
        person_id text NOT NULL REFERENCES people (id),
        role text NOT NULL CHECK (role IN ('technician', 'approver1', 'approver2')),
        PRIMARY KEY (team_id, person_id, role)
    );
    CREATE INDEX memberships_person ON memberships (person_id);
    CREATE TABLE entries (
        id text PRIMARY KEY,
        person_id text NOT NULL REFERENCES people (id),
        team_id text NOT NULL REFERENCES teams (id),
        device_id text NOT NULL DEFAULT '',
        version integer NOT NULL CHECK (version > 0),
        status text NOT NULL,
        status_comment text NOT NULL DEFAULT '',
        decided_version integer,
        source text NOT NULL,
        kind text NOT NULL,
        instance text NOT NULL DEFAULT '',
        ticket_id bigint,
        ticket_number text,
        task text,
        summary text NOT NULL DEFAULT '',
        company text NOT NULL DEFAULT '',
        work_type text NOT NULL DEFAULT '',
        billable text NOT NULL DEFAULT 'agreement',
        started_at double precision NOT NULL,
        ended_at double precision NOT NULL,
        actual_seconds integer NOT NULL,
        billed_seconds integer NOT NULL,
        psa_ids jsonb NOT NULL DEFAULT '[]',
        body jsonb NOT NULL,
        received_at double precision NOT NULL,
        updated_at double precision NOT NULL
    );
    CREATE INDEX entries_team_status ON entries (team_id, status, started_at);
    CREATE INDEX entries_person_started ON entries (person_id, started_at);
    CREATE TABLE decisions (
        seq bigserial PRIMARY KEY,
        person_id text NOT NULL REFERENCES people (id),
        entry_id text,
        version integer,
        kind text NOT NULL,
        comment text NOT NULL DEFAULT '',
        detail jsonb NOT NULL DEFAULT '{}',
        actor text NOT NULL,
        at double precision NOT NULL
    );
    CREATE INDEX decisions_person_seq ON decisions (person_id, seq);
    CREATE TABLE audit (
        seq bigserial PRIMARY KEY,
        at double precision NOT NULL,
        actor_id text,
        actor_name text NOT NULL,
        via text NOT NULL,
        action text NOT NULL,
        entry_id text,
        detail jsonb NOT NULL DEFAULT '{}'
    );
    CREATE INDEX audit_entry ON audit (entry_id, seq) WHERE entry_id IS NOT NULL;
    CREATE TABLE sessions (
        id_hash text PRIMARY KEY,
        person_id text NOT NULL REFERENCES people (id),
        created_at double precision NOT NULL,
        last_seen_at double precision NOT NULL,
        expires_at double precision NOT NULL
    );
    CREATE INDEX sessions_person ON sessions (person_id);
    CREATE TABLE outbox (
        entry_id text PRIMARY KEY REFERENCES entries (id),
        instance text NOT NULL,
        due_at double precision NOT NULL,
        attempts integer NOT NULL DEFAULT 0,
        ambiguous boolean NOT NULL DEFAULT false,
        lease_until double precision,
        leased_by text,
        last_error text NOT NULL DEFAULT ''
    );
    CREATE INDEX outbox_due ON outbox (instance, due_at);
    """,
    # posting (s4-posting): the MSP's PSA instances with their credentials encrypted (Fernet, the key outside the
    # database), the integrations whose tokens may report automation runs and the automations' settings, and the
    # outbox's lease renewal.
    """
    CREATE TABLE psa_instances (
        name text PRIMARY KEY,
        kind text NOT NULL,
        config jsonb NOT NULL,
        credentials bytea,
        identity text NOT NULL DEFAULT '',
        created_at double precision NOT NULL,
        updated_at double precision NOT NULL
    );
    CREATE TABLE integrations (
        id text PRIMARY KEY,
        name text NOT NULL,
        token_hash text NOT NULL UNIQUE,
        person_id text NOT NULL REFERENCES people (id),
        team_id text NOT NULL REFERENCES teams (id),
        created_by text NOT NULL,
        created_at double precision NOT NULL,
        revoked_at double precision
    );
    ALTER TABLE outbox ADD COLUMN leased_at double precision;
    CREATE TABLE automation_settings (
        id integer PRIMARY KEY CHECK (id = 1),
        automations jsonb NOT NULL,
        updated_at double precision NOT NULL,
        updated_by text NOT NULL
    );
    """,
    # teamweb (issue 13, the web UI in server mode): periods closed per team (a closed period's entries are
    # read-only: the flow refuses new versions starting inside one), and the index the team summary, timesheet and
    # entry lists read by (a team's entries by start time).
    """
    CREATE TABLE closed_periods (
        team_id text NOT NULL REFERENCES teams (id),
        start_day date NOT NULL,
        end_day date NOT NULL,
        starts_at double precision NOT NULL,
        ends_at double precision NOT NULL,
        closed_at double precision NOT NULL,
        closed_by text NOT NULL REFERENCES people (id),
        PRIMARY KEY (team_id, start_day)
    );
    CREATE INDEX closed_periods_team_bounds ON closed_periods (team_id, starts_at, ends_at);
    CREATE INDEX entries_team_started ON entries (team_id, started_at);
    """,
    # sync (issue 13, s4-sync): devices (a daemon's revocable token, pending until an admin approves it unless it
    # came with an invite) and one-time invite codes; only hashes of tokens and codes are stored.
    """
    CREATE TABLE devices (
        id text PRIMARY KEY,
        person_id text NOT NULL REFERENCES people (id),
        name text NOT NULL,
        token_hash text NOT NULL UNIQUE,
        status text NOT NULL CHECK (status IN ('pending', 'active', 'revoked')),
        via text NOT NULL CHECK (via IN ('invite', 'password')),
        created_at double precision NOT NULL,
        decided_at double precision,
        decided_by text,
        last_sync_at double precision
    );
    CREATE INDEX devices_person ON devices (person_id);
    CREATE TABLE invites (
        code_hash text PRIMARY KEY,
        person_id text NOT NULL REFERENCES people (id),
        created_by text NOT NULL,
        created_at double precision NOT NULL,
        expires_at double precision NOT NULL,
        used_at double precision,
        device_id text
    );
    """,
    # people (s4-people): failed password sign-ins per e-mail (throttling across processes), and OIDC sign-ins in
    # progress (state, nonce, PKCE verifier), so any server process may take the provider's callback.
    """
    CREATE TABLE sign_in_failures (
        email text PRIMARY KEY,
        failures integer NOT NULL,
        first_at double precision NOT NULL,
        locked_until double precision NOT NULL DEFAULT 0
    );
    CREATE TABLE oidc_logins (
        state_hash text PRIMARY KEY,
        nonce text NOT NULL,
        verifier text NOT NULL,
        expires_at double precision NOT NULL
    );
    """,
]
