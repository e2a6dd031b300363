// The one WebSocket to the local daemon (ws://127.0.0.1:PORT/api/v1/ws). All daemon I/O of the service worker
// goes through here.
//
//   connect -> hello -> welcome {acked}: drop acked events, replay the rest of the queue in order
//           -> config: remember origins/idle/heartbeat, then the owner sends a fresh snapshot
//           -> state (now and on every change), ack {seq} after each applied batch
//   while connected: a heartbeat event every heartbeat_s (WebSocket traffic also keeps the worker alive)
//   on close: reconnect with exponential backoff and jitter; the 30 s "tick" alarm retries too
//   error "unauthorized": stop reconnecting until the token or the port changes (pair again)
//   error "invalid_events": drop those seqs from the queue for good

import * as settings from "./settings.js";
import { heartbeat } from "./events.js";
import { unsent, batches } from "./queue.js";

const BACKOFF_BASE_MS = 1000;
const BACKOFF_MAX_MS = 30_000;
const VERSION = globalThis.chrome?.runtime?.getManifest?.().version ?? "0.0.0";

/** A random id per service-worker start: the daemon (and tests) can tell restarts apart. */
export const instanceId = globalThis.crypto.randomUUID();

let ws = null; // the current socket (connecting or open); stale sockets are ignored by identity
let attempt = null; // promise of the connect attempt in flight
let welcomed = false;
let halted = false; // unauthorized: wait for a new token or port
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
    await status("unpaired");
    return;
  }
  await status("connecting");
  let sock;
  try {
    sock = new WebSocket(`ws://127.0.0.1:${port}/api/v1/ws`);
  } catch (err) {
    await status("disconnected", String(err));
    scheduleRetry();
    return;
  }
  ws = sock;
  await new Promise((resolve) => {
    sock.onopen = () => {
      sock.send(JSON.stringify({ type: "hello", install, instance: instanceId, token, version: VERSION }));
      resolve();
    };
    sock.onclose = () => {
      resolve();
      if (sock === ws) onClosed();
    };
    sock.onerror = () => {}; // a close event always follows
    sock.onmessage = (msg) => {
      if (sock !== ws) return;
      messages = messages.then(() => onMessage(sock, msg.data)).catch((err) => console.warn("daemon message", err));
    };
  });
}

function onClosed() {
  ws = null;
  welcomed = false;
  stopHeartbeat();
  if (halted) return;
  status("disconnected").catch(() => {});
  scheduleRetry();
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
  switch (msg.type) {
    case "welcome": {
      const acked = Number.isInteger(msg.acked) ? msg.acked : 0;
      await settings.ackUpTo(acked);
      sentUpTo = acked;
      welcomed = true;
      backoffStep = 0;
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
      if (msg.code === "unauthorized") {
        halted = true;
        await status("unauthorized", msg.message ?? null);
        sock.close(1000, "unauthorized");
      } else if (msg.code === "invalid_events") {
        const seqs = msg.details?.seqs;
        if (Array.isArray(seqs) && seqs.length) await settings.dropEvents(seqs);
        console.warn("daemon refused events", seqs, msg.message);
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
      for (const events of batches(pending)) {
        if (!isConnected()) return;
        ws.send(JSON.stringify({ type: "batch", install, events }));
        sentUpTo = events[events.length - 1].seq;
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
