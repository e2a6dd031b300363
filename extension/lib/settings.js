// Every chrome.storage access of the extension goes through this module.
//
// chrome.storage.local (survives restarts):
//   daemonPort  number, default 47600          token     string from pairing ("" when unpaired)
//   installId   stable random id of this install   seq     last event seq handed out (only grows)
//   refused     true once the daemon refused our token (revoked), until the next pairing
//   onboarded   true once the options page was opened after installation
//   seenPort    the port of the last daemon that welcomed this browser (to find it when the port changes)
//   queue       see queue.js                      config    last `config` message from the daemon
// chrome.storage.managed (read-only, set by an administrator's policy; managed_schema.json):
//   daemonPort  overrides the local port         pairingSecret   pre-approved pairing (docs/security.md)
//   psaOrigins  PSA origins used until the daemon sends its config
// chrome.storage.session (this browser session only; survives service-worker restarts):
//   reported    tab id -> facts of the tabs reported to the daemon (tabs.onRemoved only gives the id)
//   status      { state, since, error } of the daemon connection, for the popup and the options page
//   lastState   last `state` message from the daemon
//
// Read-modify-write of the queue and the seq counter is serialised in this module: several browser events can
// arrive within one tick of the service worker.

import { emptyQueue, normalise, push, trimAcked, dropSeqs } from "./queue.js";
import { originSet } from "./events.js";

export const DEFAULT_PORT = 47600;

const local = () => globalThis.chrome.storage.local;
const session = () => globalThis.chrome.storage.session;

let chain = Promise.resolve();
/** Run fn after every earlier serial() call has finished; returns fn's result. */
function serial(fn) {
  const run = chain.then(fn);
  chain = run.catch(() => {});
  return run;
}

export function validPort(value) {
  const n = Number(value);
  return Number.isInteger(n) && n >= 1 && n <= 65535 ? n : null;
}

/** The administrator's policy (chrome.storage.managed), checked; {} when there is none. */
export async function getManaged() {
  let policy = {};
  try {
    policy = (await globalThis.chrome.storage.managed?.get(null)) ?? {};
  } catch {
    policy = {}; // no policy support here (or no schema): nothing is managed
  }
  const managed = {};
  if (validPort(policy.daemonPort) !== null) managed.daemonPort = validPort(policy.daemonPort);
  if (typeof policy.pairingSecret === "string" && policy.pairingSecret.length >= 24) {
    managed.pairingSecret = policy.pairingSecret;
  }
  if (Array.isArray(policy.psaOrigins)) managed.psaOrigins = policy.psaOrigins.filter((o) => typeof o === "string");
  return managed;
}

/** The daemon's port: the policy's, else the options page's, else the default. */
export async function getPort() {
  const managed = await getManaged();
  if (managed.daemonPort) return managed.daemonPort;
  const { daemonPort } = await local().get("daemonPort");
  return validPort(daemonPort) ?? DEFAULT_PORT;
}

export async function setPort(port) {
  const p = validPort(port);
  if (p === null) throw new RangeError("the port must be a whole number from 1 to 65535");
  await local().set({ daemonPort: p });
  return p;
}

export async function getToken() {
  const { token } = await local().get("token");
  return typeof token === "string" ? token : "";
}

/** A non-empty token is a new pairing: any earlier refusal is over. */
export async function setToken(token) {
  await local().set(token ? { token, refused: false } : { token: "" });
}

/** The daemon answered but does not know our token (revoked, or another data folder): forget it, remember why. */
export async function forgetRefusedToken() {
  await local().set({ token: "", refused: true });
}

export async function wasRefused() {
  const { refused } = await local().get("refused");
  return refused === true;
}

/** First call after installation: true (and never again). */
export async function firstOnboarding() {
  return serial(async () => {
    const { onboarded } = await local().get("onboarded");
    if (onboarded) return false;
    await local().set({ onboarded: true });
    return true;
  });
}

export async function getSeenPort() {
  const { seenPort } = await local().get("seenPort");
  return validPort(seenPort);
}

export async function setSeenPort(port) {
  if (validPort(port) !== null && validPort(port) !== (await getSeenPort())) await local().set({ seenPort: port });
}

function randomId() {
  return globalThis.crypto.randomUUID();
}

/** The install id, created on first use. */
export function getInstallId() {
  return serial(async () => {
    const { installId } = await local().get("installId");
    if (typeof installId === "string" && installId) return installId;
    const id = randomId();
    await local().set({ installId: id });
    return id;
  });
}

/** Number the events with the next seqs and append them to the queue; returns { accepted, dropped, queue }. */
export function enqueue(events, { now = Date.now() / 1000 } = {}) {
  return serial(async () => {
    const got = await local().get(["seq", "queue"]);
    const last = Number.isInteger(got.seq) ? got.seq : 0;
    // Seqs only grow. A refused (overflow) event leaves a gap, which the daemon accepts.
    const numbered = events.map((e, i) => ({ ...e, seq: last + 1 + i }));
    const { queue, accepted, dropped } = push(normalise(got.queue), numbered, { now });
    const seq = last + events.length;
    await local().set({ seq, queue });
    return { accepted, dropped, queue };
  });
}

export async function getQueue() {
  const { queue } = await local().get("queue");
  return normalise(queue);
}

/** The daemon applied everything up to `acked`: drop those events. */
export function ackUpTo(acked) {
  return serial(async () => {
    const got = await local().get(["seq", "queue"]);
    const queue = normalise(got.queue);
    const next = trimAcked(queue, acked);
    const update = {};
    if (next.events.length !== queue.events.length) update.queue = next;
    // Never hand out a seq the daemon already has (it would ignore the event as a repeat).
    if (Number.isInteger(acked) && !(got.seq >= acked)) update.seq = acked;
    if (Object.keys(update).length) await local().set(update);
    return next;
  });
}

/** The daemon refused these seqs for good: drop them. */
export function dropEvents(seqs) {
  return serial(async () => {
    const next = dropSeqs(await getQueue(), seqs);
    await local().set({ queue: next });
    return next;
  });
}

/** The user saw the overflow warning. */
export function clearOverflow() {
  return serial(async () => {
    const queue = await getQueue();
    await local().set({ queue: { ...queue, overflow: 0, overflowSince: null } });
  });
}

export function resetQueue() {
  return serial(() => local().set({ queue: emptyQueue() }));
}

/** Last config from the daemon: { instances: [{name, kind, origins}], heartbeat_s, idle_s, mode }. */
export async function getConfig() {
  const { config } = await local().get("config");
  return {
    instances: Array.isArray(config?.instances) ? config.instances : [],
    heartbeat_s: Number(config?.heartbeat_s) > 0 ? Number(config.heartbeat_s) : 20,
    idle_s: Number(config?.idle_s) >= 15 ? Number(config.idle_s) : 300,
    mode: typeof config?.mode === "string" ? config.mode : null,
  };
}

export async function setConfig(message) {
  const config = {
    instances: message.instances ?? [],
    heartbeat_s: message.heartbeat_s,
    idle_s: message.idle_s,
    mode: message.mode ?? null,
  };
  await local().set({ config });
  return getConfig();
}

/** The configured PSA origins, normalised (a Set). */
/** The origins whose tabs are reported: the daemon's list; before it sent one, the policy's psaOrigins. */
export async function getOrigins() {
  const { instances } = await getConfig();
  if (instances.length) return originSet(instances);
  const { psaOrigins } = await getManaged();
  return originSet(psaOrigins ? [{ origins: psaOrigins }] : []);
}

export async function getReported() {
  const { reported } = await session().get("reported");
  return reported && typeof reported === "object" ? reported : {};
}

export async function setReported(reported) {
  await session().set({ reported });
}

export async function getStatus() {
  const { status } = await session().get("status");
  return status ?? { state: "disconnected", since: null, error: null };
}

export async function setStatus(state, error = null) {
  const status = { state, since: Date.now() / 1000, error };
  await session().set({ status });
  return status;
}

export async function getLastState() {
  const { lastState } = await session().get("lastState");
  return lastState ?? null;
}

export async function setLastState(lastState) {
  await session().set({ lastState });
}
