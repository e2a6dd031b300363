"""The daemon posts to a PSA over HTTPS, as to every real one: the sandbox PSAs served with TLS by a throw-away
certificate authority, the daemon a real subprocess (`python -m daemon serve`) with its own HTTP client.

- Trusted (`SSL_CERT_FILE` names the authority, as an MSP behind a TLS-inspecting proxy sets it): posted once.
- Not trusted: storing credentials is refused with the reason (they are checked with the PSA first); an entry's post
  fails in the handshake, before any byte of the request is sent, so the entry waits with the reason in its error
  and is not marked uncertain; started again trusting the authority, the daemon posts it once, without a look-up
  first (nothing can have reached the PSA).
"""

from __future__ import annotations

import asyncio
import datetime
import ssl
from collections.abc import AsyncIterator
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from daemon.connectors.base import marker
from daemon.sandbox import KINDS
from tests.support import (
    DaemonProcess,
    await_until,
    daemon_api,
    daemon_output,
    serve_sandbox,
    spawn_daemon,
    stop_process,
    write_psa_config,
    yesterday_at,
)

pytestmark = pytest.mark.slow


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def make_authority(folder: Path) -> ssl.SSLContext:
    """A certificate authority (its certificate written to folder/ca.pem) and a server context for 127.0.0.1."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("TicketClock test CA"))
        .issuer_name(_name("TicketClock test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("127.0.0.1"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(IPv4Address("127.0.0.1"))]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (folder / "server.pem").write_bytes(
        cert.public_bytes(serialization.Encoding.PEM)
        + key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(folder / "server.pem")
    return context


@pytest.fixture
async def served(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[tuple[Any, web.Application, str]]:
    """One sandbox PSA on https://127.0.0.1:PORT, its authority's certificate in tmp_path/tls/ca.pem."""
    async with serve_sandbox(request.param, make_authority(tmp_path / "tls")) as served:
        yield served


async def start(home: Path) -> DaemonProcess:
    return await asyncio.to_thread(spawn_daemon, home)


async def entry_of(client: httpx.AsyncClient, entry_id: str) -> dict[str, Any]:
    """The entry with its audit trail under "history"."""
    found = (await client.get(f"/api/v1/entries/{entry_id}")).json()
    entry: dict[str, Any] = {**found["entry"], "history": found["history"]}
    return entry


@pytest.mark.parametrize("served", KINDS, indirect=True)
async def test_a_psa_over_https_is_posted_to_once_and_only_when_its_certificate_is_trusted(
    served: tuple[Any, web.Application, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module, app, base_url = served
    instance, credentials = module.demo_instance(base_url)
    home = tmp_path / "home"
    write_psa_config(home, msgspec.to_builtins(instance))
    authority = str(tmp_path / "tls" / "ca.pem")
    put_credentials = {"credentials": msgspec.to_builtins(credentials)}

    def trust(trusted: bool) -> None:
        monkeypatch.delenv("SSL_CERT_DIR", raising=False)
        if trusted:
            monkeypatch.setenv("SSL_CERT_FILE", authority)
        else:  # the system's authorities only: the sandbox's certificate is unknown
            monkeypatch.delenv("SSL_CERT_FILE", raising=False)

    async def store_credentials() -> httpx.Response:
        daemon = await start(home)
        try:
            async with daemon_api(home, daemon.port) as client:
                return await client.put(f"/api/v1/psa/{instance.name}/credentials", json=put_credentials)
        finally:
            stop_process(daemon)

    # Credentials are checked with the PSA before they are kept: refused, with the reason, over an untrusted link.
    trust(False)
    response = await store_credentials()
    assert response.status_code == 502, response.text
    message = response.json()["error"]["message"]
    assert "TLS certificate is not trusted" in message and "SSL_CERT_FILE" in message, message
    trust(True)
    response = await store_credentials()
    assert response.status_code == 200, response.text

    # An entry posted while the certificate is not trusted waits, not uncertain: the request never left.
    trust(False)
    daemon = await start(home)
    try:
        async with daemon_api(home, daemon.port) as client:
            start_at = yesterday_at(9)
            body = {
                "instance": instance.name,
                "ticket": str(module.SEED.service_ticket),
                "started_at": start_at,
                "ended_at": start_at + 900,
                "notes": "over https",
            }
            created = await client.post("/api/v1/entries", json=body)
            assert created.status_code == 201, created.text
            entry_id = created.json()["id"]

            async def refused() -> dict[str, Any] | None:
                rows = (await client.get("/api/v1/outbox")).json()["rows"]
                return next((r for r in rows if r["entry_id"] == entry_id and r["last_error"]), None)

            row = await await_until(refused, timeout=20, what="the post to fail on the untrusted certificate")
            assert "TLS certificate is not trusted" in row["last_error"], row
            assert row["ambiguous"] is False, row
            assert (await entry_of(client, entry_id))["status"] == "queued"
    finally:
        stop_process(daemon)
    assert module.stored_entries(app) == []

    trust(True)
    daemon = await start(home)
    try:
        async with daemon_api(home, daemon.port) as client:

            async def posted() -> dict[str, Any] | None:
                entry = await entry_of(client, entry_id)
                return entry if entry["status"] == "posted" else None

            try:
                entry = await await_until(posted, timeout=20, what="the entry to be posted over https")
            except AssertionError:
                raise AssertionError(f"not posted; daemon output: {daemon_output(home)}") from None
    finally:
        stop_process(daemon)
    records = [s for s in module.stored_entries(app) if marker(entry_id) in s.notes + s.internal_notes]
    assert [r.psa_id for r in records] == entry["psa_ids"]
    assert len(module.stored_entries(app)) == 1
    assert entry["history"][-1]["comment"] != "found after an uncertain attempt", entry["history"]
