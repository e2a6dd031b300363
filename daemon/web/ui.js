// Shared helpers of the web pages: DOM building (createElement/textContent only, like the popup), the API call
// with the session cookie, durations, and the entry editor used by the timesheet and the summary.

export const $ = (id) => document.getElementById(id);

export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null) continue;
    if (k === "dataset") Object.assign(node.dataset, v);
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k.startsWith("aria-") || k === "role" || k === "for" || k === "scope") node.setAttribute(k, v);
    else node[k] = v;
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) node.append(c);
  return node;
}

export const SVG_NS = "http://www.w3.org/2000/svg";
export function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  for (const c of children) node.append(c);
  return node;
}

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message || code);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

const KEY = "ticketclock.key";

/** The page key (daemon/auth.py WebLogin): it arrives in the sign-in redirect's fragment and is kept in this
 * origin's localStorage (port included, unlike the cookie); every API call sends it. */
export function takeKeyFromAddress() {
  const found = /(?:^#|&)key=([A-Za-z0-9_-]+)/.exec(location.hash);
  if (!found) return;
  localStorage.setItem(KEY, found[1]);
  history.replaceState(null, "", location.pathname + location.search);
}
export const pageKey = () => localStorage.getItem(KEY) ?? "";
export const forgetKey = () => localStorage.removeItem(KEY);

let onSignedOut = () => {};
export function whenSignedOut(fn) {
  onSignedOut = fn;
}

/** Call the daemon's API with the session cookie; errors come back as ApiError (the one error shape). */
export async function api(method, path, body) {
  const init = { method, headers: { "X-TicketClock-Key": pageKey() }, credentials: "same-origin" };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const r = await fetch(path, init);
  if (r.status === 204) return null;
  const data = await r.json().catch(() => null);
  if (!r.ok) {
    const e = data?.error ?? {};
    const err = new ApiError(r.status, e.code ?? "http_error", e.message ?? `HTTP ${r.status}`, e.details);
    if (r.status === 401) onSignedOut(err);
    throw err;
  }
  return data;
}

/** Download an export (the key goes as a header, never in a URL): fetched, then saved under the daemon's name. */
export async function download(path) {
  const r = await fetch(path, { headers: { "X-TicketClock-Key": pageKey() }, credentials: "same-origin" });
  if (!r.ok) {
    const e = (await r.json().catch(() => null))?.error ?? {};
    const err = new ApiError(r.status, e.code ?? "http_error", e.message ?? `HTTP ${r.status}`, e.details);
    if (r.status === 401) onSignedOut(err);
    throw err;
  }
  const name = /filename="([^"]+)"/.exec(r.headers.get("Content-Disposition") ?? "")?.[1] ?? "ticketclock-export";
  const url = URL.createObjectURL(await r.blob());
  const a = el("a", { href: url, download: name, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") q.set(k, String(v));
  return q.toString();
}

/** Seconds as h:mm (the grid's and the tables' unit). */
export function hm(seconds) {
  const m = Math.round((Number(seconds) || 0) / 60);
  return `${Math.floor(m / 60)}:${String(m % 60).padStart(2, "0")}`;
}

export function hms(seconds) {
  const s = Math.max(0, Math.floor(Number(seconds) || 0));
  return `${Math.floor(s / 3600)}:${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}:${String(s % 60).padStart(2, "0")}`;
}

export function clock(epoch) {
  const d = new Date(epoch * 1000);
  return `${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}`;
}

const DAY_FMT = new Intl.DateTimeFormat("en-GB", { weekday: "short", day: "numeric", month: "short", timeZone: "UTC" });
/** "2026-11-23" -> "Mon 23 Nov" */
export function dayLabel(day) {
  return DAY_FMT.format(new Date(`${day}T00:00:00Z`));
}

export function entryLabel(e) {
  if (e.task) return e.task;
  const n = e.ticket_number ?? e.ticket_id;
  return n !== null && n !== undefined ? `#${n}` : "entry";
}

export function flash(text, { error = false } = {}) {
  const f = $("flash");
  f.textContent = text;
  f.classList.toggle("error", error);
}

const STATUS_TEXT = {
  open: "held",
  pending: "pending",
  submitted: "submitted",
  approved_l1: "approved (level 1)",
  approved: "approved",
  rejected: "rejected",
  queued: "queued",
  sending: "sending",
  posted: "posted",
  failed: "failed",
  voided: "voided",
};
export const statusText = (s) => STATUS_TEXT[s] ?? s;

function timeInput(label, epoch) {
  const d = new Date(epoch * 1000);
  const value = `${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}`;
  return el("input", { type: "time", value, "aria-label": label, step: 60 });
}

/** Same local day as `epoch`, at the HH:MM of a time input. */
function atTime(epoch, text) {
  const [h, m] = text.split(":").map(Number);
  const d = new Date(epoch * 1000);
  d.setHours(h, m, 0, 0);
  return d.getTime() / 1000;
}

/** An entry's edit form (notes, billable, work type, times) and its audit trail. `onSaved(entry)` after a save. */
export function entryEditor(entry, history, { onSaved, readOnly = false } = {}) {
  const idp = `e-${entry.id}`;
  const start = timeInput("Start", entry.started_at);
  const end = timeInput("End", entry.ended_at);
  const notes = el("textarea", { id: `${idp}-notes`, value: entry.notes ?? "", rows: 2 });
  const billable = el(
    "select",
    { id: `${idp}-billable` },
    el("option", { value: "agreement", textContent: "Per agreement" }),
    el("option", { value: "yes", textContent: "Billable" }),
    el("option", { value: "no", textContent: "Not billable" }),
  );
  billable.value = entry.billable ?? "agreement";
  const workType = el("input", { id: `${idp}-wt`, value: entry.work_type ?? "", size: 14 });
  const err = el("p", { className: "error", id: `${idp}-err`, role: "alert" });
  const save = el("button", { type: "submit", textContent: "Save entry" });
  const form = el(
    "form",
    {
      className: "entry-edit",
      dataset: { id: entry.id },
      "aria-label": `Entry ${entryLabel(entry)} ${clock(entry.started_at)}`,
      onsubmit: async (ev) => {
        ev.preventDefault();
        err.textContent = "";
        const patch = {
          notes: notes.value,
          billable: billable.value,
          work_type: workType.value.trim(),
          started_at: atTime(entry.started_at, start.value),
          ended_at: atTime(entry.started_at, end.value),
        };
        try {
          const saved = await api("PATCH", `/api/v1/entries/${encodeURIComponent(entry.id)}`, patch);
          onSaved?.(saved);
          flash("Entry saved.");
        } catch (e) {
          err.textContent = e.message;
        }
      },
    },
    el(
      "div",
      { className: "row" },
      el("label", {}, "Start ", start),
      el("label", {}, "End ", end),
      el("span", { className: "muted" }, `${hm(entry.actual_seconds)} · ${statusText(entry.status)}`),
    ),
    el("label", { for: notes.id }, "Notes"),
    notes,
    el(
      "div",
      { className: "row" },
      el("label", { for: billable.id }, "Billable "),
      billable,
      el("label", { for: workType.id }, "Work type "),
      workType,
      readOnly ? null : save,
    ),
    err,
    history ? auditTrail(history) : null,
  );
  if (readOnly) for (const c of form.querySelectorAll("input, textarea, select")) c.disabled = true;
  return form;
}

export function auditTrail(history) {
  return el(
    "details",
    { className: "audit" },
    el("summary", { textContent: `Audit trail (${history.length})` }),
    el(
      "ol",
      {},
      ...history.map((h) =>
        el(
          "li",
          {},
          `${new Date(h.at * 1000).toLocaleString()} · ${h.actor}: ${h.from_status ?? "—"} → ${h.to_status}`,
          h.comment ? ` — “${h.comment}”` : "",
        ),
      ),
    ),
  );
}
