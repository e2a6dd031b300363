import { test, beforeEach, afterEach } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { createHash, createHmac } from "node:crypto";
import { installFakeChrome } from "./fake-chrome.mjs";
import { keyId, newChallenge, expectedProof, proofMatches } from "../lib/proof.js";
import * as api from "../lib/api.js";
import * as settings from "../lib/settings.js";

// Computed by the daemon's own code (daemon/auth.py: key_id, proof) for token "tc_example-token".
const TOKEN = "tc_example-token";
const CHALLENGE = "A".repeat(43);
const KID = "b78882f5dae3f17add74fbddf1f79320";
const PROOF_47600 = "bfcf2e988ee6b1ae3c098995534dab8b554c867f5ffb5027df723191ed1d992e";
const PROOF_47601 = "84e49260f5fad188831ed3736712e341cf19394a4c21c6b4a5dbbf0ad9a96006";

test("key id and proof match the daemon's", async () => {
  assert.equal(await keyId(TOKEN), KID);
  assert.equal(await expectedProof(TOKEN, CHALLENGE, 47600), PROOF_47600);
  assert.equal(await proofMatches(TOKEN, CHALLENGE, 47600, PROOF_47600), true);
});

test("a proof for another port, challenge or token, or no proof at all, does not match", async () => {
  assert.equal(await proofMatches(TOKEN, CHALLENGE, 47600, PROOF_47601), false); // a relay to another port
  assert.equal(await proofMatches(TOKEN, "B".repeat(43), 47600, PROOF_47600), false);
  assert.equal(await proofMatches("tc_other", CHALLENGE, 47600, PROOF_47600), false);
  for (const junk of [undefined, null, 42, "", "0".repeat(64), PROOF_47600.toUpperCase(), PROOF_47600 + "00"]) {
    assert.equal(await proofMatches(TOKEN, CHALLENGE, 47600, junk), false, String(junk));
  }
});

test("challenges are fresh, 43 base64url characters", () => {
  const a = newChallenge();
  assert.match(a, /^[A-Za-z0-9_-]{43}$/);
  assert.notEqual(a, newChallenge());
});

// --- api.request against real listeners on 127.0.0.1 ---------------------------------------------------------

let server;
let seen;

/** A listener that records every request; `prove(challenge, port)` decides what it answers to /api/v1/hello. */
async function listen(prove, { accept = true } = {}) {
  seen = [];
  server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (chunk) => (body += chunk));
    req.on("end", () => {
      seen.push({ url: req.url, headers: req.headers, body });
      const url = new URL(req.url, "http://127.0.0.1");
      res.setHeader("Content-Type", "application/json");
      if (url.pathname === "/api/v1/hello") {
        const answer = prove(url.searchParams.get("challenge"), server.address().port, url.searchParams.get("kid"));
        res.statusCode = answer.status ?? 200;
        res.end(JSON.stringify(answer.body));
      } else if (accept && req.headers.authorization === `Bearer ${TOKEN}`) {
        res.end(JSON.stringify({ timers: [] }));
      } else {
        res.statusCode = 401;
        res.end(JSON.stringify({ error: { code: "unauthorized", message: "no", details: null } }));
      }
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  await settings.setPort(server.address().port);
}

/** The real daemon's answer, spelled out with node:crypto. */
function honest(challenge, port) {
  const key = createHash("sha256").update(TOKEN).digest();
  return { body: { proof: createHmac("sha256", key).update(`ticketclock-proof:${challenge}:${port}`).digest("hex") } };
}

beforeEach(async () => {
  installFakeChrome();
  await settings.setToken(TOKEN);
});

afterEach(async () => {
  await new Promise((resolve) => server?.close(resolve) ?? resolve());
  server = null;
});

const leaked = () => seen.some((r) => JSON.stringify(r).includes(TOKEN));

test("a listener that cannot prove itself gets no token", async () => {
  await listen(() => ({ body: { proof: "0".repeat(64) } }));
  await assert.rejects(api.listTimers(), (err) => err.code === "daemon_unproven");
  assert.equal(seen.length, 1);
  assert.equal(seen[0].url.split("?")[0], "/api/v1/hello");
  assert.equal(leaked(), false);
  assert.equal(await settings.getToken(), TOKEN); // still paired
  assert.ok(api.ERROR_TEXT.daemon_unproven);
});

test("a listener that answers hello with an error or garbage gets no token either", async () => {
  for (const answer of [{ status: 404, body: { error: { code: "not_found" } } }, { body: "nope" }]) {
    await listen(() => answer);
    await assert.rejects(api.listTimers(), (err) => err.code === "daemon_unproven");
    assert.equal(leaked(), false);
    await new Promise((resolve) => server.close(resolve));
  }
  server = null;
});

test("the real daemon's proof opens the door: the token is sent, once proven", async () => {
  await listen(honest);
  assert.deepEqual(await api.listTimers(), { timers: [] });
  assert.equal(seen[0].url.split("?")[0], "/api/v1/hello");
  assert.equal(new URL(seen[0].url, "http://x").searchParams.get("kid"), KID);
  assert.equal(seen[0].headers.authorization, undefined);
  assert.equal(seen[1].headers.authorization, `Bearer ${TOKEN}`);
});

test("a daemon that no longer knows the token (revoked) makes the extension unpaired", async () => {
  await listen(() => ({ status: 401, body: { error: { code: "unpaired", message: "gone", details: null } } }));
  await assert.rejects(api.listTimers(), (err) => err.code === "unpaired");
  assert.equal(await settings.getToken(), "");
  assert.equal(leaked(), false);
});

test("a 401 from the proven daemon also means unpaired", async () => {
  await listen(honest, { accept: false });
  await assert.rejects(api.listTimers(), (err) => err.code === "unpaired");
  assert.equal(await settings.getToken(), "");
});
