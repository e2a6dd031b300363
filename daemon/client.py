"""A small synchronous client for the local API, used by the CLI.

The token is sent only after whoever listens on the port has proved it is this user's daemon (daemon/auth.py):
another user's program holding the port gets a challenge and a key id, never the token.
"""

from __future__ import annotations

from typing import Any

import httpx

from daemon.auth import hash_token, key_id, new_challenge, proof_matches

__all__ = ["ApiClient", "ApiClientError", "DaemonNotRunning"]


class ApiClientError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{message} ({code})")
        self.status = status
        self.code = code
        self.message = message


class DaemonNotRunning(Exception):
    pass


class ApiClient:
    def __init__(self, port: int, token: str | None, *, timeout: float = 10.0) -> None:
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self._token = token
        self._proven = False
        self._http = httpx.Client(base_url=self.base, timeout=timeout)

    def prove(self) -> None:
        """Make the listener prove it holds our token's digest; raise before anything secret is sent."""
        assert self._token is not None
        challenge = new_challenge()
        params = {"challenge": challenge, "kid": key_id(hash_token(self._token))}
        refusal = (
            f"the program on {self.base} did not prove it is your TicketClock daemon, so your token was not sent "
            "(another user's program may hold the port; see `ticketclock doctor`)"
        )
        try:
            answer = self._send("GET", "/api/v1/hello", None, params, {})
        except ApiClientError as exc:
            if exc.code == "unpaired":
                raise ApiClientError(
                    401,
                    "daemon_unproven",
                    f"the daemon on {self.base} does not hold your token (another user's daemon, or one with "
                    "another data folder), so your token was not sent",
                ) from None
            raise ApiClientError(exc.status, "daemon_unproven", refusal) from None
        if not isinstance(answer, dict) or not proof_matches(self._token, challenge, self.port, answer.get("proof")):
            raise ApiClientError(0, "daemon_unproven", refusal)
        self._proven = True

    def request(self, method: str, path: str, json: Any = None, params: dict[str, str] | None = None) -> Any:
        headers: dict[str, str] = {}
        if self._token:
            if not self._proven:
                self.prove()
            headers["Authorization"] = f"Bearer {self._token}"
        return self._send(method, path, json, params, headers)

    def _send(self, method: str, path: str, json: Any, params: dict[str, str] | None, headers: dict[str, str]) -> Any:
        try:
            response = self._http.request(method, path, json=json, params=params, headers=headers)
        except httpx.ConnectError:
            raise DaemonNotRunning(f"no daemon answers on {self.base}: start it with `ticketclock serve`") from None
        except httpx.TransportError as exc:  # a timeout, or a program there that does not speak HTTP
            raise ApiClientError(
                0, "no_answer", f"{self.base} did not answer like TicketClock ({type(exc).__name__})"
            ) from None
        if response.status_code == 204:
            return None
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code >= 400:
            error = body.get("error", {}) if isinstance(body, dict) else {}
            raise ApiClientError(
                response.status_code, error.get("code", "http_error"), error.get("message", response.reason_phrase)
            )
        return body

    def get(self, path: str, params: dict[str, str] | None = None) -> Any:
        return self.request("GET", path, params=params)

    def delete(self, path: str) -> Any:
        return self.request("DELETE", path)

    def post(self, path: str, json: Any = None) -> Any:
        return self.request("POST", path, json={} if json is None else json)

    def close(self) -> None:
        self._http.close()
