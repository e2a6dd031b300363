// Today: live timers with the popup's controls (updated over the WebSocket), pending decisions (idle keep/drop,
// long-run review), unread notices, and today's entries including the ones held in their merge window.

import { clock } from "./dates.js";
import { api, el, entryEditor, entryLabel, flash, hm, hms, pageKey, query, sourceBadge, statusText } from "./ui.js";

let ws = null;
let tickTimer = null;
let state = { timers: [], idle_pending: null };
let parts = null;

const PAUSED = {
  user: "paused",
  attention: "paused (not in view)",
  idle: "paused (away)",
  offline: "paused (browser offline)",
  restart: "paused (daemon restarted)",
};

const FLAG_TEXT = {
  idle_kept: "Time away kept on this timer",
  long_run: "Ran past the long-run cap: review it",
  offline: "The browser went offline while it ran: check its times",
  review: "Needs review",
};

async function act(fn, done = "") {
  try {
    await fn();
    flash(done);
  } catch (err) {
    flash(err.message, { error: true });
  }
  await refresh();
}

/** The daemon's clock minus this browser's, from a state's `at` (the daemon's time when it was made): a running
 * timer grows from its `as_of` by the daemon's clock, so a browser whose clock differs still counts right. */
let skew = 0;
/** Held (open) entries by their timer's id: when each is finalized (null: when the browser is back). */
let heldUntil = new Map();
function took(found) {
  if (typeof found.at === "number") skew = found.at - Date.now() / 1000;
  return found;
}

function live(t) {
  const base = Number(t.elapsed_s) || 0;
  return t.running ? base + Math.max(0, Date.now() / 1000 + skew - t.as_of) : base;
}

function timerCard(t) {
  const id = encodeURIComponent(t.id);
  const save = (field, value) => act(() => api("PATCH", `/api/v1/timers/${id}`, { [field]: value }));
  const notesId = `notes-${t.id}`;
  const billId = `bill-${t.id}`;
  const wtId = `wt-${t.id}`;
  const billable = el(
    "select",
    { id: billId, onchange: (ev) => save("billable", ev.target.value) },
    el("option", { value: "agreement", textContent: "Per agreement" }),
    el("option", { value: "yes", textContent: "Billable" }),
    el("option", { value: "no", textContent: "Not billable" }),
  );
  billable.value = t.billable;
  const notes = el("textarea", { id: notesId, value: t.notes, rows: 2 });
  notes.addEventListener("blur", () => notes.value !== t.notes && save("notes", notes.value));
  const elapsed = el("span", { className: "elapsed", textContent: hms(live(t)) });
  elapsed.dataset.timer = t.id;
  const li = el(
    "li",
    { className: `timer card${t.running ? "" : " paused"}`, dataset: { id: t.id } },
    el(
      "div",
      { className: "top" },
      el("span", { className: "swatch", "aria-hidden": "true" }),
      el("strong", { className: "label", textContent: t.label }),
      el("span", {
        className: "state",
        textContent:
          t.state === "paused"
            ? (PAUSED[t.paused_by] ?? "paused")
            : t.state === "stopped" && heldUntil.has(t.id)
              ? `ticket closed: held until ${heldUntil.get(t.id) ? clock(heldUntil.get(t.id)) : "the browser is back"}`
              : t.state,
      }),
      elapsed,
    ),
    el("div", { className: "sub", textContent: [t.summary, t.company].filter(Boolean).join(" — ") }),
    t.flags?.length
      ? el("p", { className: "warning", textContent: t.flags.map((f) => FLAG_TEXT[f] ?? f).join(" · ") })
      : null,
    el(
      "div",
      { className: "actions" },
      el("button", {
        type: "button",
        textContent: t.running ? "Pause" : "Resume",
        disabled: t.state === "stopped",
        onclick: () => act(() => api("POST", `/api/v1/timers/${id}/${t.running ? "pause" : "resume"}`)),
      }),
      el("button", {
        type: "button",
        textContent: "Stop",
        onclick: () => act(() => api("POST", `/api/v1/timers/${id}/stop`)),
      }),
      el("button", {
        type: "button",
        className: "danger",
        textContent: "Discard",
        onclick: () =>
          confirm(`Discard the timer ${t.label}? Its time is not kept.`) &&
          act(() => api("DELETE", `/api/v1/timers/${id}`)),
      }),
    ),
    el(
      "details",
      {},
      el("summary", { textContent: "Notes, billable, work type" }),
      el("label", { for: notesId }, "Notes"),
      notes,
      el(
        "div",
        { className: "row" },
        el("label", { for: billId }, "Billable "),
        billable,
        el("label", { for: wtId }, "Work type "),
        el("input", {
          id: wtId,
          value: t.work_type,
          size: 14,
          onchange: (ev) => save("work_type", ev.target.value.trim()),
        }),
      ),
    ),
  );
  li.style.borderLeftColor = t.colour;
  li.querySelector(".swatch").style.background = t.colour;
  return li;
}

function renderTimers() {
  const { timers, idle_pending: idle } = state;
  const focused = document.activeElement?.id;
  parts.timers.replaceChildren(...timers.map(timerCard));
  parts.empty.hidden = timers.length > 0;
  parts.idle.replaceChildren();
  if (idle) {
    const minutes = Math.round((idle.until - idle.since) / 60);
    parts.idle.append(
      el("h2", { id: "idle-h", textContent: "Needs your decision: time away" }),
      el("p", {
        textContent: `You were away from ${clock(idle.since)} to ${clock(idle.until)} (${minutes} min). Keep that time on your timers?`,
      }),
      el(
        "div",
        { className: "row" },
        el("button", {
          type: "button",
          textContent: "Keep it",
          onclick: () => act(() => api("POST", "/api/v1/idle/resolve", { keep: true }), "Kept the time away."),
        }),
        el("button", {
          type: "button",
          textContent: "Drop it",
          onclick: () => act(() => api("POST", "/api/v1/idle/resolve", { keep: false }), "Dropped the time away."),
        }),
      ),
    );
  }
  parts.idle.hidden = !idle;
  if (focused) document.getElementById(focused)?.focus();
}

async function refresh() {
  if (!parts) return;
  const midnight = new Date();
  midnight.setHours(0, 0, 0, 0);
  const [timers, notices, entries, held, pending] = await Promise.all([
    api("GET", "/api/v1/timers"),
    api("GET", "/api/v1/notices?unread=true&limit=20"),
    api("GET", `/api/v1/entries?${query({ from: midnight.getTime() / 1000, limit: 500 })}`),
    api("GET", "/api/v1/entries?status=open"),
    api("GET", "/api/v1/entries?status=pending&limit=500"),
  ]);
  renderReview((pending.entries ?? []).filter((e) => e.flags?.includes("review")));
  heldUntil = new Map((held.entries ?? []).map((e) => [e.timer_id ?? e.id, e.held_until]));
  state = took(timers);
  renderTimers();
  parts.notices.replaceChildren(
    ...(notices.notices ?? []).map((n) =>
      el("li", { className: n.alert ? "alert" : "" }, el("time", { textContent: clock(n.at) }), " ", n.message),
    ),
  );
  parts.noticeBox.hidden = !(notices.notices ?? []).length;
  const seen = new Set();
  const all = [...(held.entries ?? []), ...(entries.entries ?? [])].filter((e) => !seen.has(e.id) && seen.add(e.id));
  all.sort((a, b) => a.started_at - b.started_at);
  // a push re-renders the list: a keyboard user's focus (say on Finish now) stays where it was
  const focused = parts.entries.contains(document.activeElement) ? document.activeElement.id : "";
  parts.entries.replaceChildren(...all.map(entryRow));
  if (focused) document.getElementById(focused)?.focus();
  parts.noEntries.hidden = all.length > 0;
  parts.entries.closest("table").hidden = all.length === 0;
}

/** A row of "Entries today": a held (open) entry says until when, and can be finished now. */
function entryRow(e) {
  const held = e.status === "open";
  const status = held
    ? e.held_until
      ? `held until ${clock(e.held_until)}`
      : "held until the browser is back"
    : e.flags?.includes("review")
      ? "pending: needs your decision"
      : statusText(e.status);
  return el(
    "tr",
    { dataset: { id: e.id, status: e.status }, className: held ? "held" : "" },
    el("td", { className: "nowrap", textContent: `${clock(e.started_at)}–${clock(e.ended_at)}` }),
    el("th", { scope: "row", textContent: entryLabel(e) }),
    el("td", { textContent: e.summary || e.company || "" }),
    el("td", {}, sourceBadge(e)),
    el("td", { className: "num", textContent: hm(e.actual_seconds) }),
    el("td", { className: "status" }, status),
    el(
      "td",
      {},
      held
        ? el("button", {
            type: "button",
            id: `finish-${e.id}`,
            textContent: "Finish now",
            "aria-label": `Finish now: ${entryLabel(e)}, ${status}`,
            onclick: () =>
              act(
                () => api("POST", `/api/v1/entries/${encodeURIComponent(e.id)}/finish`),
                `${entryLabel(e)} finished: it is an entry now.`,
              ),
          })
        : null,
    ),
  );
}

/** Long-run entries held for review: keep (submit), void, or fix the times first. */
function renderReview(list) {
  parts.reviewBox.hidden = list.length === 0;
  // a card whose entry did not change is kept as it is (with its open editor and the focus in it): pushes
  // refresh this list while a person may be fixing the times
  const kept = new Map([...parts.review.children].map((li) => [li.dataset.version, li]));
  if (list.map((e) => `${e.id}@${e.updated_at}`).join() === [...kept.keys()].join()) return; // nothing moved
  parts.review.replaceChildren(
    ...list.map((e) => {
      const same = kept.get(`${e.id}@${e.updated_at}`);
      if (same) return same;
      const id = encodeURIComponent(e.id);
      const editor = el("div");
      return el(
        "li",
        { className: "card", dataset: { id: e.id, version: `${e.id}@${e.updated_at}` } },
        el("strong", { textContent: entryLabel(e) }),
        ` ${clock(e.started_at)}–${clock(e.ended_at)} · ${hm(e.actual_seconds)} `,
        sourceBadge(e),
        " — ",
        el("span", { className: "muted", textContent: e.status_reason }),
        el(
          "div",
          { className: "row" },
          el("button", {
            type: "button",
            textContent: "Keep it",
            "aria-label": `Keep it: ${entryLabel(e)} ${clock(e.started_at)}–${clock(e.ended_at)}`,
            onclick: () => act(() => api("POST", `/api/v1/entries/${id}/submit`, {}), `Kept ${entryLabel(e)}.`),
          }),
          el("button", {
            type: "button",
            textContent: "Edit times",
            onclick: async () => {
              const x = await api("GET", `/api/v1/entries/${id}`);
              editor.replaceChildren(entryEditor(x.entry, null, { onSaved: () => refresh() }));
              editor.querySelector("input")?.focus();
            },
          }),
          el("button", {
            type: "button",
            className: "danger",
            textContent: "Void it",
            "aria-label": `Void it: ${entryLabel(e)} ${clock(e.started_at)}–${clock(e.ended_at)}`,
            onclick: () =>
              act(
                () => api("POST", `/api/v1/entries/${id}/void`, { comment: "long run: not work" }),
                `Voided ${entryLabel(e)}.`,
              ),
          }),
        ),
        editor,
      );
    }),
  );
}

function connect() {
  const sock = new WebSocket(`ws://${location.host}/api/v1/ws`);
  ws = sock;
  // the page key rides in the hello's token (the session cookie came with the upgrade request)
  sock.onopen = () =>
    sock.send(JSON.stringify({ type: "hello", install: "web-ui", instance: "web", token: pageKey() }));
  sock.onmessage = (ev) => {
    const msg = JSON.parse(ev.data);
    if (msg.type === "state") {
      state = took(msg);
      renderTimers();
      parts.live.textContent = "live";
    } else if (msg.type === "entry" || msg.type === "notice") {
      refresh().catch(() => {});
    }
  };
  sock.onclose = () => {
    if (ws !== sock) return;
    parts.live.textContent = "reconnecting…";
    setTimeout(() => ws === sock && connect(), 3000);
  };
}

export async function render(main) {
  parts = {
    live: el("span", { className: "pill", role: "status", textContent: "connecting…" }),
    idle: el("section", { className: "idle", "aria-labelledby": "idle-h", hidden: true }),
    noticeBox: null,
    notices: el("ul", { className: "notices" }),
    timers: el("ul", { className: "timers", "aria-label": "Timers" }),
    empty: el("p", { className: "muted", textContent: "No timers. Open a ticket in your PSA, or start one below." }),
    entries: el("tbody"),
    reviewBox: null,
    review: el("ul", { className: "timers" }),
    noEntries: el("p", { className: "muted", textContent: "No entries today yet." }),
  };
  parts.noticeBox = el(
    "section",
    { className: "notice-box", "aria-labelledby": "notices-h", hidden: true },
    el("h2", { id: "notices-h", textContent: "Notices" }),
    parts.notices,
    el("button", {
      type: "button",
      textContent: "Mark read",
      onclick: async () => {
        const first = parts.notices.dataset.newest;
        await act(async () => {
          const list = await api("GET", "/api/v1/notices?unread=true&limit=1");
          if (list.notices?.length) await api("POST", "/api/v1/notices/read", { up_to: list.notices[0].id });
          return first;
        });
      },
    }),
  );
  parts.reviewBox = el(
    "section",
    { className: "review", "aria-labelledby": "review-h", hidden: true },
    el("h2", { id: "review-h", textContent: "Needs your decision: ran past the long-run cap" }),
    parts.review,
  );
  const ticket = el("input", { id: "start-ticket", inputMode: "numeric", size: 8 });
  const task = el("input", { id: "start-task", size: 12 });
  main.querySelector("h1").append(" ", parts.live);
  main.append(
    parts.idle,
    parts.reviewBox,
    parts.noticeBox,
    el(
      "section",
      { "aria-labelledby": "timers-h" },
      el("h2", { id: "timers-h", textContent: "Timers" }),
      parts.timers,
      parts.empty,
      el(
        "form",
        {
          className: "row start",
          onsubmit: (ev) => {
            ev.preventDefault();
            const t = ticket.value.trim().replace(/^#/, "");
            const k = task.value.trim();
            if (!t && !k) return flash("Type a ticket number or a task name.", { error: true });
            act(async () => {
              await api("POST", "/api/v1/timers", t ? { ticket: t } : { task: k });
              ticket.value = "";
              task.value = "";
            });
          },
        },
        el("label", { for: "start-ticket" }, "Ticket "),
        ticket,
        el("span", { className: "muted" }, "or"),
        el("label", { for: "start-task" }, "Task "),
        task,
        el("button", { type: "submit", textContent: "Start timer" }),
      ),
    ),
    el(
      "section",
      { "aria-labelledby": "entries-h" },
      el("h2", { id: "entries-h", textContent: "Entries today" }),
      el(
        "table",
        { className: "list" },
        el(
          "thead",
          {},
          el(
            "tr",
            {},
            ...["Time", "Ticket / task", "Summary", "Source", "Hours", "Status", ""].map((h) =>
              el("th", { scope: "col", className: h === "Hours" ? "num" : "", textContent: h }),
            ),
          ),
        ),
        parts.entries,
      ),
      parts.noEntries,
    ),
  );
  await refresh();
  connect();
  tickTimer = setInterval(() => {
    for (const t of state.timers) {
      const span = document.querySelector(`.elapsed[data-timer="${CSS.escape(t.id)}"]`);
      if (span) span.textContent = hms(live(t));
    }
  }, 1000);
}

export function leave() {
  const sock = ws;
  ws = null;
  sock?.close();
  clearInterval(tickTimer);
  parts = null;
}
