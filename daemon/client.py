"""A small synchronous client for the local API, used by the CLI.

HTTP/1.1 over a plain socket, one loopback connection per request (`Connection: close`), not httpx or http.client:
a command such as `ticketclock timers` is run by hand many times a day, and httpx with httpcore costs ~55 ms of
imports (http.client ~20 ms: email and ssl), a third of the command's start. The daemon is the only server it talks
to; responses with a Content-Length, chunked, or ended by the close are all read.

The token is sent only after whoever listens on the port has proved it is this user's daemon (daemon/auth.py):
another user's program holding the port gets a challenge and a key id, never the token.
"""

from __future__ import annotations

import json as jsonlib
import socket
from typing import Any
from urllib.parse import urlencode

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
        self._timeout = timeout

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
        body = b"" if json is None else jsonlib.dumps(json).encode()
        if json is not None:
            headers = {**headers, "Content-Type": "application/json"}
        target = f"{path}?{urlencode(params)}" if params else path
        try:
            status, reason, data = self._exchange(method, target, body, headers)
        except ConnectionRefusedError:
            raise DaemonNotRunning(f"no daemon answers on {self.base}: start it with `ticketclock serve`") from None
        except (OSError, ValueError) as exc:  # a timeout, or a program there that does not speak HTTP
            raise ApiClientError(
                0, "no_answer", f"{self.base} did not answer like TicketClock ({type(exc).__name__})"
            ) from None
        if status == 204:
            return None
        try:
            answer = jsonlib.loads(data)
        except ValueError:
            answer = {}
        if status >= 400:
            error = answer.get("error", {}) if isinstance(answer, dict) else {}
            raise ApiClientError(status, error.get("code", "http_error"), error.get("message", reason))
        return answer

    def _exchange(self, method: str, target: str, body: bytes, headers: dict[str, str]) -> tuple[int, str, bytes]:
        """One request, one connection: (status, reason, body). ValueError when the answer is not HTTP."""
        lines = [f"{method} {target} HTTP/1.1", f"Host: 127.0.0.1:{self.port}", "Connection: close"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        if body or method in ("POST", "PUT", "PATCH"):
            lines.append(f"Content-Length: {len(body)}")
        request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
        chunks: list[bytes] = []
        with socket.create_connection(("127.0.0.1", self.port), timeout=self._timeout) as sock:
            sock.sendall(request)
            while data := sock.recv(65536):
                chunks.append(data)
        return _parse_response(b"".join(chunks))

    def get(self, path: str, params: dict[str, str] | None = None) -> Any:
        return self.request("GET", path, params=params)

    def delete(self, path: str) -> Any:
        return self.request("DELETE", path)

    def post(self, path: str, json: Any = None) -> Any:
        return self.request("POST", path, json={} if json is None else json)

    def close(self) -> None:
        """Nothing to release: every request has its own connection."""


def _parse_response(raw: bytes) -> tuple[int, str, bytes]:
    head, sep, rest = raw.partition(b"\r\n\r\n")
    if not sep:
        raise ValueError("the answer ended before its headers did")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    version, _, tail = status_line.partition(" ")
    code, _, reason = tail.partition(" ")
    if not version.startswith("HTTP/1.") or not code.isdigit():
        raise ValueError("not an HTTP answer")
    fields: dict[str, str] = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        fields[name.strip().lower()] = value.strip()
    if fields.get("transfer-encoding", "").lower() == "chunked":
        return int(code), reason, _dechunk(rest)
    if "content-length" in fields:
        length = int(fields["content-length"])
        if len(rest) < length:
            raise ValueError("the answer ended before its body did")
        return int(code), reason, rest[:length]
    return int(code), reason, rest


def _dechunk(data: bytes) -> bytes:
    out: list[bytes] = []
    while True:
        size_line, sep, data = data.partition(b"\r\n")
        if not sep:
            raise ValueError("a chunked answer ended early")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            return b"".join(out)
        if len(data) < size + 2:
            raise ValueError("a chunked answer ended early")
        out.append(data[:size])
        data = data[size + 2 :]
