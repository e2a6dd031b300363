// The one WebSocket to the local daemon (ws://127.0.0.1:PORT/api/v1/ws). All daemon I/O of the service worker
// goes through here.
//
//   before any token leaves: GET /api/v1/hello proves the listener is our daemon (an unpaired answer forgets the
//   token), then on the socket: prove {challenge, kid} -> proof (checked) -> hello with the token (docs/security.md)
//   connect -> hello -> welcome {acked}: drop acked events, replay the rest of the queue in order
//           -> config: remember origins/idle/heartbeat, then the owner sends a fresh snapshot
//           -> state (now and on every change), ack {seq} after each applied batch
//   while connected: a heartbeat event every heartbeat_s (WebSocket traffic also keeps the worker alive)
//   on close: reconnect with exponential backoff and jitter; the 30 s "tick" alarm retries too
//   no token but a managed pairingSecret (policy): the daemon proves it holds the secret, then it is traded for a
//   token (POST /api/v1/pair/managed); retried with backoff until the daemon runs
//   error "unauthorized"/"unpaired" or close 4401 (pairing revoked): forget the token, show "refused" (pair again)
//   nothing answers on the port: "other_port" if a TicketClock daemon answers health on another port it may be
//   on (the default, the last one seen), else "disconnected"
//   a listener that fails the proof: status "unproven", nothing secret sent, retry with backoff
//   error "invalid_events": drop those seqs from the queue for good
//   error "seq_gap": the daemon never acks past a gap; resend the queue from details.expected

import * as settings from "./settings.js";
import { clientName, daemonOnOtherPort, errorText, pairManaged, proveDaemon, unpaired } from "./api.js";
import { keyId, newChallenge, proofMatches } from "./proof.js";
import { heartbeat } from "./events.js";
import { unsent, batchMessages, resendPoint } from "./queue.js";

const BACKOFF_BASE_MS = 1000;
const BACKOFF_MAX_MS = 30_000;
const WS_UNPAIRED = 4401; // the daemon's close code for an unknown or revoked pairing
const VERSION = globalThis.chrome?.runtime?.getManifest?.().version ?? "0.0.0";

/** A random id per service-worker start: the daemon (and tests) can tell restarts apart. */
export const instanceId = globalThis.crypto.randomUUID();

let ws = null; // the current socket (connecting or open); stale sockets are ignored by identity
let attempt = null; // promise of the connect attempt in flight
let welcomed = false;
let halted = false; // unpaired: wait for a new token or port
let unprovenSince = false; // the current socket failed the proof: keep the "unproven" status when it closes
let install = null;
let sentUpTo = 0; // highest seq sent on the current connection
let backoffStep = 0;
let retryTimer = null;
let heartbeatTimer = null;
let heartbeatSeconds = 20;
let restarting = Promise.resolve();
let messages = Promise.resolve();
let flushing = Promise.resolve();

const hooks = {
  onConfig: async () => {},
  onState: async () => {},
  onStatus: async () => {},
  onOverflow: async () => {},
  onEntry: async () => {},
  onNotice: async () => {},
};

/** Set what happens on config, state, status changes, entry news and queue overflow (wired in background.js). */
export function configure(newHooks) {
  Object.assign(hooks, newHooks);
}

const now = () => Date.now() / 1000;

export function isConnected() {
  return welcomed && ws?.readyState === WebSocket.OPEN;
}

async function status(state, error = null) {
  const s = await settings.setStatus(state, error);
  await hooks.onStatus(s);
}

/** Connect unless connected or connecting; resolves when this attempt is open or has failed. */
export function ensureConnected() {
  if (attempt) return attempt;
  if (ws || halted) return Promise.resolve();
  attempt = openSocket().finally(() => {
    attempt = null;
  });
  return attempt;
}

async function openSocket() {
  clearTimeout(retryTimer);
  retryTimer = null;
  const [port, token] = await Promise.all([settings.getPort(), settings.getToken()]);
  install ??= await settings.getInstallId();
  if (!token) {
    const { pairingSecret } = await settings.getManaged();
    if (pairingSecret) return pairItself(port, pairingSecret);
    await status((await settings.wasRefused()) ? "refused" : "unpaired");
    return;
  }
  await status("connecting");
  try {
    await proveDaemon(port, token);
  } catch (err) {
    if (err.code === "unpaired") return forget(); // the daemon does not know the token (revoked)
    if (err.code === "daemon_unproven") await status("unproven", err.message);
    else await statusWhenNothingAnswers(port, err.message);
    scheduleRetry();
    return;
  }
  let sock;
  try {
    sock = new WebSocket(`ws://127.0.0.1:${port}/api/v1/ws`);
  } catch (err) {
    await status("disconnected", String(err));
    scheduleRetry();
    return;
  }
  ws = sock;
  // The hello (with the token) waits for this socket's own proof: the listener may have changed since the GET.
  sock.proof = { challenge: newChallenge(), token, port };
  sock.port = port;
  const kid = await keyId(token);
  await new Promise((resolve) => {
    sock.onopen = () => {
      sock.send(JSON.stringify({ type: "prove", challenge: sock.proof.challenge, kid }));
      resolve();
    };
    sock.onclose = (ev) => {
      resolve();
      if (sock !== ws) return;
      if (ev.code === WS_UNPAIRED) forget().catch(() => {});
      else onClosed();
    };
    sock.onerror = () => {}; // a close event always follows
    sock.onmessage = (msg) => {
      if (sock !== ws) return;
      messages = messages.then(() => onMessage(sock, msg.data)).catch((err) => console.warn("daemon message", err));
    };
  });
}

/** A managed install pairs itself with its policy's secret; the new token restarts the connection. */
async function pairItself(port, secret) {
  await status("pairing");
  try {
    await pairManaged(port, secret, clientName());
  } catch (err) {
    if (err.code === "daemon_unreachable" || err.code === "timeout") await statusWhenNothingAnswers(port, err.message);
    else await status(err.code === "daemon_unproven" ? "unproven" : "unpaired", errorText(err));
    scheduleRetry();
  }
}

/** "daemon not running" only when no TicketClock answers at all; one on another port is named. */
async function statusWhenNothingAnswers(port, message) {
  const other = await daemonOnOtherPort(port);
  if (other === null) await status("disconnected", message);
  else await status("other_port", `the daemon answers on port ${other}; the options say ${port}`);
}

function onClosed() {
  ws = null;
  welcomed = false;
  stopHeartbeat();
  if (halted) return;
  if (!unprovenSince) status("disconnected").catch(() => {});
  unprovenSince = false;
  scheduleRetry();
}

/** The pairing is gone (revoked or unknown): stop, forget the token; the storage change shows "refused". */
async function forget() {
  halted = true;
  ws = null;
  welcomed = false;
  stopHeartbeat();
  await unpaired(); // clears the token: onStorageChanged restarts, finds no token, sets status "refused"
  await status("refused");
}

function scheduleRetry() {
  if (halted || retryTimer) return;
  const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** backoffStep) * (0.7 + 0.6 * Math.random());
  backoffStep = Math.min(backoffStep + 1, 10);
  retryTimer = setTimeout(() => {
    retryTimer = null;
    ensureConnected();
  }, delay);
}

/** Drop the connection and connect again (port or token changed). Never races the attempt in flight. */
export function restart() {
  restarting = restarting.then(async () => {
    if (attempt) await attempt.catch(() => {});
    const old = ws;
    ws = null;
    welcomed = false;
    halted = false;
    backoffStep = 0;
    stopHeartbeat();
    clearTimeout(retryTimer);
    retryTimer = null;
    if (old) old.close(1000, "reconnecting");
    await ensureConnected();
  });
  return restarting;
}

async function onMessage(sock, data) {
  let msg;
  try {
    msg = JSON.parse(data);
  } catch {
    return;
  }
  // Until this socket's proof is checked, only the proof (or a refusal) counts: nothing is sent to, or taken
  // from, a listener that has not proved it is our daemon.
  if (sock.proof && msg.type !== "proof" && msg.type !== "error") return;
  switch (msg.type) {
    case "proof": {
      const expected = sock.proof;
      sock.proof = null; // one proof per socket
      if (expected && (await proofMatches(expected.token, expected.challenge, expected.port, msg.proof))) {
        sock.send(
          JSON.stringify({ type: "hello", install, instance: instanceId, token: expected.token, version: VERSION }),
        );
      } else {
        unprovenSince = true;
        await status("unproven", "the listener on the daemon's port did not prove it is your TicketClock daemon");
        sock.close(1000, "unproven");
      }
      break;
    }
    case "welcome": {
      const acked = Number.isInteger(msg.acked) ? msg.acked : 0;
      await settings.ackUpTo(acked);
      sentUpTo = acked;
      welcomed = true;
      backoffStep = 0;
      await settings.setSeenPort(sock.port);
      await status("connected");
      startHeartbeat();
      await flush(); // replay the queue in order
      break;
    }
    case "config": {
      const config = await settings.setConfig(msg);
      if (config.heartbeat_s !== heartbeatSeconds) {
        heartbeatSeconds = config.heartbeat_s;
        if (welcomed) startHeartbeat();
      }
      await hooks.onConfig(config); // the owner sends a fresh snapshot
      break;
    }
    case "state":
      await settings.setLastState(msg);
      await hooks.onState(msg);
      break;
    case "ack":
      await settings.ackUpTo(msg.seq);
      break;
    case "entry":
      await hooks.onEntry(msg);
      break;
    case "notice":
      await hooks.onNotice(msg);
      break;
    case "error":
      if (msg.code === "unauthorized" || msg.code === "unpaired") {
        if (sock.proof !== null) break; // not from a proven daemon: the proof check decides
        await forget();
        sock.close(1000, "unpaired");
      } else if (msg.code === "invalid_events") {
        const seqs = msg.details?.seqs;
        if (Array.isArray(seqs) && seqs.length) await settings.dropEvents(seqs);
        console.warn("daemon refused events", seqs, msg.message);
      } else if (msg.code === "seq_gap") {
        sentUpTo = resendPoint(sentUpTo, msg.details?.expected); // nothing of it was applied: send it again
        await flush();
      } else {
        console.warn("daemon error", msg.code, msg.message);
      }
      break;
    default:
      break;
  }
}

/** Send every queued event not yet sent on this connection, in order, in batches. */
export function flush() {
  flushing = flushing
    .then(async () => {
      if (!isConnected()) return;
      const pending = unsent(await settings.getQueue(), sentUpTo);
      for (const message of batchMessages(install, pending, sentUpTo)) {
        if (!isConnected()) return;
        ws.send(JSON.stringify(message));
        sentUpTo = message.events[message.events.length - 1].seq;
      }
    })
    .catch((err) => console.warn("flush", err));
  return flushing;
}

/** Queue events (numbered on the way) and send them when connected. */
export async function report(events, options = {}) {
  if (!events.length) return;
  const { dropped, queue } = await settings.enqueue(events, options);
  if (dropped) await hooks.onOverflow(queue);
  if (isConnected()) await flush();
  else if (!retryTimer) ensureConnected(); // a scheduled retry keeps its backoff
}

function startHeartbeat() {
  stopHeartbeat();
  heartbeatTimer = setInterval(() => {
    if (isConnected()) report([heartbeat(now())]).catch(() => {});
  }, heartbeatSeconds * 1000);
}

function stopHeartbeat() {
  clearInterval(heartbeatTimer);
  heartbeatTimer = null;
}

/** The 30 s alarm: while disconnected, note that the browser is alive and try to connect again. */
export async function tick() {
  if (isConnected() || halted) return;
  if (await settings.getToken()) await report([heartbeat(now())]);
  await ensureConnected();
}

/** React to storage changes that concern the connection. */
export function onStorageChanged(changes, area) {
  if (area !== "local") return;
  if ("daemonPort" in changes || "token" in changes) restart();
}
