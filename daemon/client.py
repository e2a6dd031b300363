"""A small synchronous client for the local API, used by the CLI."""

from __future__ import annotations

from typing import Any

import httpx

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
        self.base = f"http://127.0.0.1:{port}"
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=self.base, headers=headers, timeout=timeout)

    def request(self, method: str, path: str, json: Any = None, params: dict[str, str] | None = None) -> Any:
        try:
            response = self._http.request(method, path, json=json, params=params)
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

    def post(self, path: str, json: Any = None) -> Any:
        return self.request("POST", path, json={} if json is None else json)

    def close(self) -> None:
        self._http.close()
