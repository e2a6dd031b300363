"""Sign-in bookkeeping every server process shares: failed password sign-ins per e-mail (throttling), and OIDC
sign-ins in progress (only a hash of each `state` is stored; a row is used at most once)."""

from __future__ import annotations

from daemon.server.store.db import Tx

__all__ = ["clear_failures", "locked_until", "record_failure", "save_login", "take_login"]


async def locked_until(tx: Tx, email: str) -> float:
    """Until when sign-ins for `email` are refused (0: never locked)."""
    found: float | None = await tx.fetchval("SELECT locked_until FROM sign_in_failures WHERE email = $1", email)
    return found or 0.0


async def record_failure(tx: Tx, email: str, now: float, *, window_s: float, limit: int, lock_s: float) -> float:
    """Count one failed sign-in (failures older than `window_s` forgotten); the `limit`-th locks the e-mail for
    `lock_s` and starts counting afresh. Answers until when it is locked (0: not locked)."""
    failures: int = await tx.fetchval(
        "INSERT INTO sign_in_failures AS f (email, failures, first_at) VALUES ($1, 1, $2) "
        "ON CONFLICT (email) DO UPDATE SET "
        "failures = CASE WHEN f.first_at <= $2 - $3 THEN 1 ELSE f.failures + 1 END, "
        "first_at = CASE WHEN f.first_at <= $2 - $3 THEN $2 ELSE f.first_at END "
        "RETURNING failures",
        email,
        now,
        window_s,
    )
    if failures < limit:
        return 0.0
    await tx.execute(
        "UPDATE sign_in_failures SET failures = 0, first_at = $2, locked_until = $3 WHERE email = $1",
        email,
        now,
        now + lock_s,
    )
    return now + lock_s


async def clear_failures(tx: Tx, email: str) -> None:
    await tx.execute("DELETE FROM sign_in_failures WHERE email = $1", email)


async def save_login(tx: Tx, state_hash: str, nonce: str, verifier: str, expires_at: float, now: float) -> None:
    await tx.execute("DELETE FROM oidc_logins WHERE expires_at <= $1", now)
    await tx.execute(
        "INSERT INTO oidc_logins (state_hash, nonce, verifier, expires_at) VALUES ($1, $2, $3, $4)",
        state_hash,
        nonce,
        verifier,
        expires_at,
    )


async def take_login(tx: Tx, state_hash: str, now: float) -> tuple[str, str] | None:
    """(nonce, PKCE verifier) of a live sign-in in progress, removed so that it is used once; None otherwise."""
    row = await tx.fetchrow(
        "DELETE FROM oidc_logins WHERE state_hash = $1 RETURNING nonce, verifier, expires_at", state_hash
    )
    if row is None or row["expires_at"] <= now:
        return None
    return row["nonce"], row["verifier"]
