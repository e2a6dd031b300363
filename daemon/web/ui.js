// Shared helpers of the web pages: DOM building (createElement/textContent only, like the popup), the API call
// with the session cookie, durations, and the entry editor used by the timesheet and the summary. Dates and times
// come from dates.js (one format for every page).

import { clock, dateTime } from "./dates.js";

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

export { clock, dateTime, dayLabel, localDay } from "./dates.js";

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

/** Who is looking, and which entry states may be edited (`GET /api/v1/web/me`: the daemon's EDITABLE, so the rule
 * lives in one place). app.js loads it before the first page. */
let me = { viewer: null, scope: "web", editable: [] };
export function setMe(found) {
  if (found) me = found;
}
export const isEditable = (entry) => me.editable.includes(entry.status);

const READ_ONLY_WHY = {
  open: "Held in its merge window: it can be edited once it is finished.",
  submitted: "Submitted: waiting for approval.",
  approved_l1: "Submitted: waiting for approval (level 2).",
  approved: "Approved: waiting to be posted to the PSA.",
  queued: "Approved: waiting to be posted to the PSA.",
  sending: "Being posted to the PSA now.",
  posted: "Posted to the PSA: edit it there.",
  voided: "Voided: kept for the record, never posted.",
};
/** Why an entry is shown read-only (its state, or the closed period it is in). */
export function readOnlyWhy(entry, { closed = false } = {}) {
  if (closed) return "This period is closed: its entries are read-only.";
  return READ_ONLY_WHY[entry.status] ?? `${statusText(entry.status)}: not editable.`;
}

const SOURCE_TEXT = { timer: "timer", manual: "manual", automation: "automation" };
/** Where an entry came from, as a small badge: timer / manual / automation (with the automation's name). */
export function sourceBadge(entry) {
  const source = entry.source ?? "timer";
  const text = SOURCE_TEXT[source] ?? source;
  return el("span", {
    className: `badge source-${source}`,
    textContent: text,
    title: source === "automation" && entry.automation ? `automation: ${entry.automation}` : `source: ${text}`,
    dataset: { source },
  });
}

const BILLABLE_TEXT = { agreement: "Per agreement", yes: "Billable", no: "Not billable" };

/** A 24-hour HH:MM field (a type="time" input follows the browser's locale: 12-hour in en-US, unlike every other
 * time on these pages). */
function timeInput(id, epoch) {
  return el("input", {
    id,
    className: "time",
    value: clock(epoch),
    size: 5,
    maxLength: 5,
    inputMode: "numeric",
    autocomplete: "off",
    placeholder: "HH:MM",
  });
}

/** Same local day as `epoch`, at the HH:MM typed (24-hour); null if it is not a time. */
function atTime(epoch, text) {
  const found = /^([01]?\d|2[0-3])[:.]?([0-5]\d)$/.exec(text.trim());
  if (!found) return null;
  const d = new Date(epoch * 1000);
  d.setHours(Number(found[1]), Number(found[2]), 0, 0);
  return d.getTime() / 1000;
}

/** An entry read-only: its fields as text, a line saying why it cannot be edited here, and its audit trail. */
function entryView(entry, history, why) {
  const field = (name, value) => el("div", {}, el("dt", { textContent: name }), el("dd", { textContent: value }));
  return el(
    "section",
    {
      className: "entry-view",
      dataset: { id: entry.id, status: entry.status },
      "aria-label": `Entry ${entryLabel(entry)} ${clock(entry.started_at)} (read-only)`,
    },
    el(
      "div",
      { className: "row" },
      el("strong", { textContent: `${clock(entry.started_at)}–${clock(entry.ended_at)}` }),
      el("span", { className: "muted" }, `${hm(entry.actual_seconds)} · ${statusText(entry.status)}`),
      sourceBadge(entry),
    ),
    el("p", { className: "why", textContent: why }),
    el(
      "dl",
      { className: "fields" },
      field("Notes", entry.notes || "—"),
      field("Billable", BILLABLE_TEXT[entry.billable] ?? entry.billable),
      field("Work type", entry.work_type || "—"),
      entry.role ? field("Role", entry.role) : null,
      entry.board ? field("Board / queue", entry.board) : null,
      entry.billed_seconds !== entry.actual_seconds ? field("Billed", hm(entry.billed_seconds)) : null,
    ),
    history ? auditTrail(history) : null,
  );
}

/** An entry's edit form (notes, billable, work type, times) and its audit trail; read-only text (with the reason)
 * when its state is not editable or `readOnly` (a closed period). `onSaved(entry)` after a save. */
export function entryEditor(entry, history, { onSaved, readOnly = false } = {}) {
  if (readOnly || !isEditable(entry)) return entryView(entry, history, readOnlyWhy(entry, { closed: readOnly }));
  const idp = `e-${entry.id}`;
  const start = timeInput(`${idp}-start`, entry.started_at);
  const end = timeInput(`${idp}-end`, entry.ended_at);
  const notes = el("textarea", { id: `${idp}-notes`, value: entry.notes ?? "", rows: 2 });
  const billable = el(
    "select",
    { id: `${idp}-billable` },
    ...Object.entries(BILLABLE_TEXT).map(([value, textContent]) => el("option", { value, textContent })),
  );
  billable.value = entry.billable ?? "agreement";
  const workType = el("input", { id: `${idp}-wt`, value: entry.work_type ?? "", size: 14 });
  const err = el("p", { className: "error", id: `${idp}-err`, role: "alert" });
  start.setAttribute("aria-describedby", err.id);
  end.setAttribute("aria-describedby", err.id);
  const save = el("button", { type: "submit", textContent: "Save entry" });
  return el(
    "form",
    {
      className: "entry-edit",
      dataset: { id: entry.id, status: entry.status },
      "aria-label": `Entry ${entryLabel(entry)} ${clock(entry.started_at)}`,
      onsubmit: async (ev) => {
        ev.preventDefault();
        err.textContent = "";
        const startedAt = atTime(entry.started_at, start.value);
        const endedAt = atTime(entry.started_at, end.value);
        for (const [input, value] of [
          [start, startedAt],
          [end, endedAt],
        ])
          if (value === null) input.setAttribute("aria-invalid", "true");
          else input.removeAttribute("aria-invalid");
        if (startedAt === null || endedAt === null) {
          err.textContent = "Type times as HH:MM, 24-hour (for example 09:30 or 14:05).";
          return;
        }
        const patch = {
          notes: notes.value,
          billable: billable.value,
          work_type: workType.value.trim(),
          started_at: startedAt,
          ended_at: endedAt,
        };
        try {
          const saved = await api("PATCH", `/api/v1/entries/${encodeURIComponent(entry.id)}`, patch);
          flash("Entry saved.");
          onSaved?.(saved);
        } catch (e) {
          err.textContent = e.message;
        }
      },
    },
    el(
      "div",
      { className: "row" },
      el("label", { for: start.id }, "Start "),
      start,
      el("label", { for: end.id }, "End "),
      end,
      el("span", { className: "muted" }, `${hm(entry.actual_seconds)} · ${statusText(entry.status)}`),
      sourceBadge(entry),
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
      save,
    ),
    err,
    history ? auditTrail(history) : null,
  );
}

export function auditTrail(history) {
  return el(
    "details",
    { className: "audit" },
    el("summary", { textContent: `Audit trail (${history.length})` }),
    history.length
      ? el(
          "ol",
          {},
          ...history.map((h) =>
            el(
              "li",
              {},
              el("time", { textContent: dateTime(h.at, { seconds: true }) }),
              ` · ${h.actor}: ${h.from_status ? statusText(h.from_status) : "created"} → ${statusText(h.to_status)}`,
              h.comment ? ` — “${h.comment}”` : "",
            ),
          ),
        )
      : el("p", { className: "muted", textContent: "No changes recorded yet." }),
  );
}
