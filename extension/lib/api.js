// REST calls to the daemon for the popup, the options page and the worker's keyboard commands, and the ONE
// table that turns the daemon's error codes into text for the user.

import * as settings from "./settings.js";
import { keyId, newChallenge, proofMatches } from "./proof.js";

/** Error code -> what the user reads. Codes come from the daemon ({"error": {"code", ...}}) or from here. The same
 * codes and texts as the daemon's catalogue, daemon/errors.py (tests/daemon/test_errors_catalogue.py checks). */
export const ERROR_TEXT = {
  bad_request: "The daemon did not accept that request.",
  invalid_body: "The daemon did not accept that request.",
  invalid_json: "The daemon did not accept that request.",
  invalid_query: "The daemon did not accept that request.",
  unauthorized: "This browser is no longer paired with the daemon. Open the options and pair again.",
  forbidden: "The daemon refused this request.",
  not_found: "That timer or entry no longer exists.",
  method_not_allowed: "The daemon did not accept that request.",
  not_acceptable: "The daemon did not accept that request.",
  request_timeout: "The request did not reach the daemon in time. Try again.",
  conflict: "That change conflicts with the timer's current state. The list has been refreshed.",
  payload_too_large: "That is too large for the daemon to accept.",
  uri_too_long: "The daemon did not accept that request.",
  unsupported_media_type: "The daemon did not accept that request.",
  host_forbidden: "The daemon refused this request: it answers only to 127.0.0.1 or localhost.",
  invalid_input: "The daemon did not accept that input.",
  too_many_requests: "Too many requests. Wait a moment and try again.",
  http_error: "The daemon did not accept that request.",
  internal_error: "The daemon hit an unexpected error; see its log.",
  unpaired: "This browser is not paired yet. Open the options and enter the code from `ticketclock pair`.",
  origin_forbidden: "The daemon refused this browser. Pair again from the options page.",
  cli_only: "Only the TicketClock command line may do that, not the browser extension.",
  session_expired:
    "You are signed out of the web pages. Run `ticketclock open` or use the popup's link to sign in again.",
  pairing_code_invalid: "That pairing code is not right. Run `ticketclock pair` and type the code it shows.",
  pairing_code_expired: "That pairing code has expired. Run `ticketclock pair` again for a new one.",
  too_many_attempts: "Too many wrong pairing codes. Wait a minute, then try again with a new code.",
  managed_pairing_off:
    "This daemon has no managed pairing secret (pairing.managed_secret): pair with a code from `ticketclock pair`.",
  managed_secret_invalid: "The pairing secret in this browser's policy is not the daemon's (pairing.managed_secret).",
  too_many_timers: "You already have 9 timers. Stop or discard one first.",
  invalid_transition:
    "That no longer applies: the timer or entry changed meanwhile (reopened, finished or stopped). The list has been refreshed.",
  not_editable: "That entry can no longer be changed here.",
  period_closed: "That timesheet period is closed: its entries cannot change until it is reopened.",
  cell_has_tracked_time:
    "That day holds timer or automation time a typed duration cannot cut: edit those entries instead.",
  seq_gap: "Some browser activity went missing on the way; it is being sent again.",
  invalid_events: "The daemon did not accept some browser activity.",
  invalid_message: "The daemon did not understand a message from this browser.",
  hello_timeout: "The browser did not introduce itself to the daemon in time; it reconnects.",
  no_credentials: "No credentials are stored for that PSA yet: run `ticketclock connect NAME`.",
  invalid_credentials: "Those credentials are not in the form this PSA needs.",
  connection_failed: "The PSA could not be reached or refused the credentials.",
  not_supported: "TicketClock cannot do that with this PSA yet.",
  invalid_rules: "Those rules were not accepted; the previous rules stay in force.",
  invalid_automations: "Those automation settings were not accepted; the previous settings stay in force.",
  daemon_unreachable: "The TicketClock daemon is not running (start it with `ticketclock serve`) or uses another port.",
  timeout: "The TicketClock daemon did not answer in time.",
  no_answer: "Something answers on the daemon's port, but not like TicketClock.",
  daemon_unproven:
    "The program on the daemon's port did not prove it is your TicketClock daemon, so this browser's token was not sent. Another user's program may hold the port: check `ticketclock doctor`, or set the right port.",
};

export class ApiError extends Error {
  constructor(code, message, { status = 0, details = null } = {}) {
    super(message || code);
    this.code = code;
    this.status = status;
    this.details = details;
  }
}

/** The text to show for an error from this module (or anything thrown). */
export function errorText(err) {
  const code = err?.code;
  if (code && ERROR_TEXT[code]) return ERROR_TEXT[code];
  if (err?.message) return `The daemon said: ${err.message}${code ? ` (${code})` : ""}`;
  return "Something went wrong.";
}

export async function baseUrl() {
  return `http://127.0.0.1:${await settings.getPort()}`;
}

/** A 401 that means the daemon does not know our token (revoked, or never paired): forget it, show "unpaired". */
const UNPAIRED_CODES = new Set(["unauthorized", "unpaired"]);

/** One request; returns the decoded JSON body (null for 204) or throws ApiError. With `auth`, the token is sent
 * only after the listener on the port proved it is our daemon (proveDaemon). */
export async function request(method, path, body, { auth = true, timeoutMs = 5000 } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const port = await settings.getPort(); // one port for the proof and the request
  if (auth) {
    const token = await settings.getToken();
    if (!token) throw await notPairedError();
    await proveDaemon(port, token, { timeoutMs });
    headers.Authorization = `Bearer ${token}`;
  }
  try {
    return await send(method, path, body, headers, timeoutMs, port);
  } catch (err) {
    if (auth && err.status === 401 && UNPAIRED_CODES.has(err.code)) throw await unpaired();
    throw err;
  }
}

/** The daemon does not know our token: forget it (the worker and every page then show "refused: pair again"). */
export async function unpaired() {
  await settings.forgetRefusedToken();
  return new ApiError("unpaired", ERROR_TEXT.unpaired, { status: 401 });
}

/** No token: never paired ("unpaired"), or the daemon refused the last one ("unauthorized": pair again). */
async function notPairedError() {
  const code = (await settings.wasRefused()) ? "unauthorized" : "unpaired";
  return new ApiError(code, ERROR_TEXT[code]);
}

/** Make the listener on `port` prove it holds our token's digest; throws ApiError when it does not. */
export async function proveDaemon(port, token, { timeoutMs = 5000 } = {}) {
  try {
    await proveHolder(port, token, timeoutMs);
  } catch (err) {
    if (err.status === 401 && UNPAIRED_CODES.has(err.code)) throw await unpaired();
    throw err;
  }
}

/** The listener on `port` proves it holds `secret`'s digest (a token, or the managed pairing secret). */
async function proveHolder(port, secret, timeoutMs) {
  const challenge = newChallenge();
  const query = new URLSearchParams({ challenge, kid: await keyId(secret) });
  let answer;
  try {
    answer = await send("GET", `/api/v1/hello?${query}`, undefined, { Accept: "application/json" }, timeoutMs, port);
  } catch (err) {
    if (err.status === 401 && UNPAIRED_CODES.has(err.code)) throw err;
    if (!err.status) throw err; // unreachable or timeout: nobody to prove anything
    throw new ApiError("daemon_unproven", ERROR_TEXT.daemon_unproven, { status: err.status });
  }
  if (!(await proofMatches(secret, challenge, port, answer?.proof))) {
    throw new ApiError("daemon_unproven", ERROR_TEXT.daemon_unproven);
  }
}

async function send(method, path, body, headers, timeoutMs, port) {
  let res;
  try {
    res = await fetch(`http://127.0.0.1:${port}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    const code = err?.name === "TimeoutError" ? "timeout" : "daemon_unreachable";
    throw new ApiError(code, ERROR_TEXT[code]);
  }
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!res.ok) {
    const e = data?.error ?? {};
    throw new ApiError(e.code || `http_${res.status}`, e.message || res.statusText, {
      status: res.status,
      details: e.details ?? null,
    });
  }
  return data;
}

const id = (timerId) => encodeURIComponent(timerId);

export const health = () => request("GET", "/api/v1/health", undefined, { auth: false, timeoutMs: 2000 });

/** The ports a daemon not on `port` may be on: the default, and the last one that welcomed this browser. */
export async function otherPorts(port) {
  const candidates = [settings.DEFAULT_PORT, await settings.getSeenPort()];
  return [...new Set(candidates.filter((p) => p && p !== port))];
}

/**
 * Nothing answers on `port`: does a TicketClock daemon answer on another port this browser has reason to expect
 * (the default, the last one that welcomed it)? Asks only the unauthenticated health check: no token is sent.
 * Returns that port, or null.
 */
export async function daemonOnOtherPort(port, { timeoutMs = 1500, candidates = null } = {}) {
  for (const other of candidates ?? (await otherPorts(port))) {
    try {
      const h = await send("GET", "/api/v1/health", undefined, { Accept: "application/json" }, timeoutMs, other);
      if (h?.status && typeof h.version === "string" && Number.isInteger(h.pid)) return other;
    } catch {
      // nothing, or not TicketClock, there either
    }
  }
  return null;
}

/** Exchange a pairing code for a token, and keep the token. */
export async function pair(code, client) {
  const clean = String(code).replace(/\s+/g, "");
  const data = await request("POST", "/api/v1/pair", { code: clean, client }, { auth: false });
  if (!data?.token) throw new ApiError("internal_error", "no token in the answer");
  await settings.setToken(data.token);
  return data;
}

/**
 * Pre-approved pairing of a managed install: once the daemon proved it holds the policy's secret (so the secret
 * goes to no other program on the port), trade the secret for a token, and keep the token.
 */
export async function pairManaged(port, secret, client, { timeoutMs = 5000 } = {}) {
  await proveHolder(port, secret, timeoutMs);
  const headers = { "Content-Type": "application/json", Accept: "application/json" };
  const data = await send("POST", "/api/v1/pair/managed", { secret, client }, headers, timeoutMs, port);
  if (!data?.token) throw new ApiError("internal_error", "no token in the answer");
  await settings.setToken(data.token);
  return data;
}

export const listTimers = () => request("GET", "/api/v1/timers");
export const startTicket = (ticket, instance) =>
  request("POST", "/api/v1/timers", { ticket: String(ticket), instance });
export const startTask = (task) => request("POST", "/api/v1/timers", { task });
export const pause = (timerId) => request("POST", `/api/v1/timers/${id(timerId)}/pause`);
export const resume = (timerId) => request("POST", `/api/v1/timers/${id(timerId)}/resume`);
export const stop = (timerId) => request("POST", `/api/v1/timers/${id(timerId)}/stop`);
export const discard = (timerId) => request("DELETE", `/api/v1/timers/${id(timerId)}`);
/** fields: any of notes, internal_notes, billable ("agreement" | "yes" | "no"), work_type, colour. */
export const update = (timerId, fields) => request("PATCH", `/api/v1/timers/${id(timerId)}`, fields);
export const resolveIdle = (keep) => request("POST", "/api/v1/idle/resolve", { keep: Boolean(keep) });

/** The browser's name for pairing ("Chrome", "Edge", ...). */
export function clientName() {
  const brands = globalThis.navigator?.userAgentData?.brands ?? [];
  if (brands.some((b) => /edge/i.test(b.brand))) return "Edge";
  if (brands.some((b) => /chrome/i.test(b.brand))) return "Chrome";
  if (/Edg\//.test(globalThis.navigator?.userAgent ?? "")) return "Edge";
  return "Chromium";
}

export const openEntries = () => request("GET", "/api/v1/entries?status=open");
export const finishEntry = (entryId) => request("POST", `/api/v1/entries/${id(entryId)}/finish`);
export const listNotices = ({ unread = false, limit = 50 } = {}) =>
  request("GET", `/api/v1/notices?unread=${unread ? "true" : "false"}&limit=${limit}`);
/** Mark read every notice up to this id (the newest one shown). */
export const markNoticesRead = (upTo) => request("POST", "/api/v1/notices/read", { up_to: upTo });

/** A one-time sign-in link to a page of the daemon's web UI (`next`: "/", "/timesheet", "/outbox", …). */
export const webLogin = (next = "/") => request("POST", "/api/v1/web/login-code", { next });

/** Open a web UI page in a new tab, signed in (the link's code works once, for 60 s). */
export async function openWebPage(next = "/") {
  const { url } = await webLogin(next);
  await chrome.tabs.create({ url });
}
