"""Where PSA credentials live: the OS keyring where a real one works, else a file only the user can read.

Credentials are never logged and never returned by the API; `describe()` says where they are kept.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any, Literal, Protocol

from daemon.private import make_private

__all__ = ["CredentialSource", "CredentialStore"]

SERVICE = "ticketclock"


class CredentialSource(Protocol):
    """Where `PsaService` reads and saves credentials: the daemon's `CredentialStore`, or the team server's
    encrypted rows (`daemon.server.credentials.ServerCredentials`)."""

    def describe(self) -> str: ...

    async def get(self, instance: str) -> dict[str, Any] | None: ...

    async def put(self, instance: str, credentials: dict[str, Any]) -> None: ...


class CredentialStore:
    def __init__(self, data_dir: Path, backend: Literal["auto", "keyring", "file"] = "auto") -> None:
        self._file = data_dir / "credentials.json"
        self._backend = backend
        self._keyring: Any = None
        self._resolved = False

    def _keyring_module(self) -> Any:
        """The keyring module if a real backend is available (not the fail/null ones), else None."""
        if self._resolved:
            return self._keyring
        self._resolved = True
        if self._backend == "file":
            return None
        try:
            import keyring
            from keyring.backends import fail

            backend = keyring.get_keyring()
            if isinstance(backend, fail.Keyring) or getattr(backend, "priority", 0) <= 0:
                raise RuntimeError("no usable keyring")
            self._keyring = keyring
        except Exception:
            if self._backend == "keyring":
                raise
            self._keyring = None
        return self._keyring

    def describe(self) -> str:
        return "OS keyring" if self._keyring_module() is not None else f"file {self._file} (user-only)"

    async def get(self, instance: str) -> dict[str, Any] | None:
        return await asyncio.to_thread(self._get, instance)

    async def put(self, instance: str, credentials: dict[str, Any]) -> None:
        await asyncio.to_thread(self._put, instance, credentials)

    async def delete(self, instance: str) -> None:
        await asyncio.to_thread(self._delete, instance)

    def _get(self, instance: str) -> dict[str, Any] | None:
        kr = self._keyring_module()
        if kr is not None:
            raw = kr.get_password(SERVICE, instance)
            return None if raw is None else dict(json.loads(raw))
        value = self._read_file().get(instance)
        return None if value is None else dict(value)

    def _put(self, instance: str, credentials: dict[str, Any]) -> None:
        kr = self._keyring_module()
        if kr is not None:
            kr.set_password(SERVICE, instance, json.dumps(credentials))
            return
        data = self._read_file()
        data[instance] = credentials
        self._write_file(data)

    def _delete(self, instance: str) -> None:
        kr = self._keyring_module()
        if kr is not None:
            try:
                kr.delete_password(SERVICE, instance)
            except Exception:  # noqa: S110 - nothing stored is fine
                pass
            return
        data = self._read_file()
        if data.pop(instance, None) is not None:
            self._write_file(data)

    def _read_file(self) -> dict[str, Any]:
        try:
            return dict(json.loads(self._file.read_text(encoding="utf-8")))
        except FileNotFoundError:
            return {}

    def _write_file(self, data: dict[str, Any]) -> None:
        self._file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._file.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh)
        make_private(tmp)
        os.replace(tmp, self._file)
