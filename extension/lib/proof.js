// The daemon's proof of identity, the extension's side (the daemon's is daemon/auth.py; why: docs/security.md).
//
// Before the token goes anywhere, whoever listens on the port must show it holds the token's SHA-256 digest:
//   we send   challenge (32 random bytes, base64url) and kid = sha256("ticketclock-kid:" + hex(sha256(token)))[:32]
//   it answers hex(HMAC-SHA256(key = sha256(token), "ticketclock-proof:" + challenge + ":" + port))
// The port is signed too, so a program on our port cannot relay the question to a real daemon on another port.

const encoder = new TextEncoder();
const subtle = () => globalThis.crypto.subtle;

const hex = (bytes) => [...new Uint8Array(bytes)].map((b) => b.toString(16).padStart(2, "0")).join("");
const sha256 = async (text) => new Uint8Array(await subtle().digest("SHA-256", encoder.encode(text)));

/** 32 random bytes, base64url without padding (43 characters). */
export function newChallenge() {
  const bytes = globalThis.crypto.getRandomValues(new Uint8Array(32));
  return btoa(String.fromCharCode(...bytes))
    .replace(/\+/g, "-")
    .replace(/\//g, "_")
    .replace(/=+$/, "");
}

/** The public name of the token's proof key. */
export async function keyId(token) {
  return hex(await sha256(`ticketclock-kid:${hex(await sha256(token))}`)).slice(0, 32);
}

async function hmacKey(token) {
  return subtle().importKey("raw", await sha256(token), { name: "HMAC", hash: "SHA-256" }, false, ["sign", "verify"]);
}

/** What the daemon must answer (for tests; the check below does not compare strings). */
export async function expectedProof(token, challenge, port) {
  const signed = await subtle().sign(
    "HMAC",
    await hmacKey(token),
    encoder.encode(`ticketclock-proof:${challenge}:${port}`),
  );
  return hex(signed);
}

/** Did whoever answered hold this token's digest? Web Crypto's verify compares in constant time. */
export async function proofMatches(token, challenge, port, answer) {
  if (typeof answer !== "string" || !/^[0-9a-f]{64}$/.test(answer)) return false;
  const bytes = new Uint8Array(answer.match(/../g).map((pair) => parseInt(pair, 16)));
  const message = encoder.encode(`ticketclock-proof:${challenge}:${port}`);
  return subtle().verify("HMAC", await hmacKey(token), bytes, message);
}
