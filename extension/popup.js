// The action popup: live timers from GET /api/v1/timers, the held entries of closed tickets (GET /api/v1/entries
// ?status=open) and unread notices (GET /api/v1/notices), polled every 2 s while open; actions over REST.
// Rendered with createElement/textContent only. Each timer has one card, updated in place, so a textarea being
// typed in is never replaced. body[data-rendered="1"] is set after each render (the e2e tests wait on it).

import * as api from "./lib/api.js";
import * as settings from "./lib/settings.js";
import { formatClock, formatElapsed, heldText, isHeld, liveElapsed, stateText, timerLabel } from "./lib/format.js";

const POLL_MS = 2000;
const $ = (id) => document.getElementById(id);
const cards = new Map(); // timer id -> card
let timers = [];
let idlePending = null;
let held = new Map(); // timer id -> its open entry (a closed ticket inside its merge window)
let notices = []; // unread, newest first
let unread = 0;
let error = null;

const STATUS_TEXT = {
  connected: "connected",
  connecting: "connecting…",
  pairing: "pairing (managed)…",
  disconnected: "daemon not running",
  unpaired: "not paired",
  unauthorized: "pair again",
  refused: "daemon refuses this browser — pair again",
  other_port: "daemon on another port",
  unproven: "not your daemon on this port",
};

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "dataset") Object.assign(node.dataset, v);
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node[k] = v;
  }
  for (const c of children) node.append(c);
  return node;
}

/** Run an action against the daemon, show its error if any, then refresh the list. */
async function act(fn) {
  try {
    await fn();
    error = null;
  } catch (err) {
    error = api.errorText(err);
  }
  await refresh();
}

function buildCard(timer) {
  const card = { timer };
  const id = () => card.timer.id;
  card.swatch = el("span", { className: "swatch" });
  card.label = el("span", { className: "label" });
  card.state = el("span", { className: "state" });
  card.elapsed = el("span", { className: "elapsed" });
  card.sub = el("div", { className: "sub" });
  card.toggle = el("button", {
    type: "button",
    className: "toggle",
    onclick: () => act(() => (card.timer.running ? api.pause(id()) : api.resume(id()))),
  });
  card.finish = el("button", {
    type: "button",
    className: "finish",
    textContent: "Finish now",
    title: "Make the entry final now instead of waiting for the ticket to be reopened",
    onclick: () => act(() => api.finishEntry(id())),
  });
  card.held = el("div", { className: "held" });
  card.stop = el("button", {
    type: "button",
    className: "stop",
    textContent: "Stop",
    onclick: () => act(() => api.stop(id())),
  });
  card.discard = el("button", {
    type: "button",
    className: "discard",
    textContent: "Discard",
    onclick: () => {
      if (card.discard.dataset.armed === "1") return act(() => api.discard(id()));
      card.discard.dataset.armed = "1";
      card.discard.textContent = "Discard? Click again";
      setTimeout(() => {
        delete card.discard.dataset.armed;
        card.discard.textContent = "Discard";
      }, 3000);
    },
  });
  const save = (field, value) => act(() => api.update(id(), { [field]: value }));
  card.notes = el("textarea", {
    className: "notes",
    placeholder: "Notes (on the time entry)",
    onblur: () => card.notes.value !== card.timer.notes && save("notes", card.notes.value),
  });
  card.internal = el("textarea", {
    className: "internal-notes",
    placeholder: "Internal notes",
    onblur: () => card.internal.value !== card.timer.internal_notes && save("internal_notes", card.internal.value),
  });
  card.billable = el(
    "select",
    { className: "billable", title: "Billable", onchange: () => save("billable", card.billable.value) },
    el("option", { value: "agreement", textContent: "Billable: per agreement" }),
    el("option", { value: "yes", textContent: "Billable" }),
    el("option", { value: "no", textContent: "Not billable" }),
  );
  card.workType = el("input", {
    className: "work-type",
    placeholder: "Work type",
    size: 12,
    onchange: () => save("work_type", card.workType.value.trim()),
  });
  card.li = el(
    "li",
    { className: "timer", dataset: { id: timer.id } },
    el("div", { className: "top" }, card.swatch, card.label, card.state, card.elapsed),
    card.sub,
    card.held,
    el("div", { className: "actions" }, card.toggle, card.finish, card.stop, card.discard),
    el(
      "details",
      {},
      el("summary", { textContent: "Notes, billable, work type" }),
      card.notes,
      card.internal,
      el("div", { className: "fields" }, card.billable, card.workType),
    ),
  );
  return card;
}

function setValue(input, value) {
  if (document.activeElement !== input && input.value !== value) input.value = value;
}

function updateCard(card, timer) {
  card.timer = timer;
  card.li.style.borderLeftColor = timer.colour;
  card.li.classList.toggle("paused", !timer.running);
  card.swatch.style.background = timer.colour;
  card.label.textContent = timerLabel(timer);
  card.state.textContent = stateText(timer);
  card.sub.textContent = [timer.summary, timer.company].filter(Boolean).join(" — ");
  card.sub.title = card.sub.textContent;
  card.toggle.textContent = timer.running ? "Pause" : "Resume";
  card.toggle.disabled = timer.state === "stopped";
  const isClosed = isHeld(timer);
  card.li.classList.toggle("is-held", isClosed);
  card.held.hidden = !isClosed;
  card.held.textContent = isClosed ? heldText(held.get(timer.id)) : "";
  card.toggle.hidden = isClosed;
  card.stop.hidden = isClosed;
  card.finish.hidden = !isClosed;
  setValue(card.notes, timer.notes ?? "");
  setValue(card.internal, timer.internal_notes ?? "");
  setValue(card.billable, timer.billable ?? "agreement");
  setValue(card.workType, timer.work_type ?? "");
}

function tick() {
  const now = Date.now() / 1000;
  for (const card of cards.values()) card.elapsed.textContent = formatElapsed(liveElapsed(card.timer, now));
}

function renderTimers() {
  const list = $("timers");
  const seen = new Set();
  for (const timer of timers) {
    seen.add(timer.id);
    let card = cards.get(timer.id);
    if (!card) {
      card = buildCard(timer);
      cards.set(timer.id, card);
    }
    updateCard(card, timer);
    list.append(card.li); // keeps the daemon's order
  }
  for (const [id, card] of cards) {
    if (!seen.has(id)) {
      card.li.remove();
      cards.delete(id);
    }
  }
  $("empty").hidden = timers.length > 0;
  tick();
}

function renderIdle() {
  $("idle").hidden = !idlePending;
  if (!idlePending) return;
  const minutes = Math.round((idlePending.until - idlePending.since) / 60);
  $("idle-text").textContent =
    `You were away from ${formatClock(idlePending.since)} to ${formatClock(idlePending.until)} ` +
    `(${minutes} min). Keep that time on your timers?`;
}

function renderNotices() {
  $("notices").hidden = notices.length === 0;
  $("notices-title").textContent = unread === 1 ? "1 new notice" : `${unread} new notices`;
  $("notice-list").replaceChildren(
    ...notices.map((n) =>
      el(
        "li",
        { className: n.alert ? "notice alert" : "notice", dataset: { id: String(n.id), code: n.code } },
        el("time", { textContent: formatClock(n.at), dateTime: new Date(n.at * 1000).toISOString() }),
        " ",
        n.message,
      ),
    ),
  );
}

async function renderStatus() {
  const [status, queue, port] = await Promise.all([settings.getStatus(), settings.getQueue(), settings.getPort()]);
  const s = $("status");
  s.textContent = STATUS_TEXT[status.state] ?? status.state;
  s.className = `status ${status.state === "connected" ? "connected" : status.state === "connecting" ? "" : "bad"}`;
  s.dataset.state = status.state;
  s.title = status.state === "connected" ? "" : (status.error ?? "");
  const queued = queue.events.length;
  $("queued").textContent = queued ? `${queued} browser event${queued === 1 ? "" : "s"} waiting for the daemon.` : "";
  $("queued").dataset.count = String(queued);
  const over = queue.overflow > 0;
  $("overflow").hidden = !over;
  $("overflow-dismiss").hidden = !over;
  $("overflow").textContent = over
    ? `${queue.overflow} events were dropped while the daemon was unreachable: some time may be missing.`
    : "";
  $("queue-info").hidden = !queued && !over;
  $("webui").href = `http://127.0.0.1:${port}/`;
}

async function renderInstances() {
  const { instances } = await settings.getConfig();
  const select = $("start-instance");
  const current = select.value;
  select.replaceChildren(...instances.map((i) => el("option", { value: i.name, textContent: i.name })));
  if (instances.some((i) => i.name === current)) select.value = current;
  select.hidden = instances.length <= 1;
}

async function render() {
  renderTimers();
  renderIdle();
  renderNotices();
  $("error").hidden = !error;
  $("error").textContent = error ?? "";
  await renderStatus();
  document.body.dataset.rendered = "1";
}

async function refresh() {
  try {
    const [data, open, news] = await Promise.all([
      api.listTimers(),
      api.openEntries().catch(() => null), // the timers matter most: show them even if these fail
      api.listNotices({ unread: true, limit: 5 }).catch(() => null),
    ]);
    timers = data.timers ?? [];
    idlePending = data.idle_pending ?? null;
    if (open) held = new Map((open.entries ?? []).map((e) => [e.id, e]));
    if (news) {
      notices = news.notices ?? [];
      unread = news.unread ?? notices.length;
    }
    if (error && /daemon|paired/.test(error)) error = null;
  } catch (err) {
    error = api.errorText(err);
    if (err.code === "daemon_unreachable" || err.code === "timeout") {
      const last = await settings.getLastState(); // the last state the worker saw, better than nothing
      timers = last?.timers ?? timers;
      idlePending = null;
    }
  }
  await render();
}

$("notices-read").addEventListener("click", () =>
  act(() => (notices.length ? api.markNoticesRead(notices[0].id) : null)),
);
$("idle-keep").addEventListener("click", () => act(() => api.resolveIdle(true)));
$("idle-drop").addEventListener("click", () => act(() => api.resolveIdle(false)));
$("webui").addEventListener("click", (ev) => {
  ev.preventDefault(); // the plain link would land signed out: mint a one-time sign-in link instead
  act(() => api.openWebPage("/timesheet"));
});
$("overflow-dismiss").addEventListener("click", async () => {
  await settings.clearOverflow();
  await renderStatus();
});

$("start").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const ticket = $("start-ticket").value.trim().replace(/^#/, "");
  const task = $("start-task").value.trim();
  if (!ticket && !task) {
    error = "Type a ticket number or a task name.";
    render();
    return;
  }
  act(async () => {
    if (ticket) await api.startTicket(ticket, $("start-instance").value || undefined);
    else await api.startTask(task);
    $("start-ticket").value = "";
    $("start-task").value = "";
  });
});

chrome.storage.onChanged.addListener((changes) => {
  if ("status" in changes || "queue" in changes || "daemonPort" in changes) renderStatus();
  if ("config" in changes) renderInstances();
  if ("lastState" in changes) refresh(); // the daemon pushed a change
});

await renderInstances();
await refresh();
setInterval(tick, 1000);
setInterval(refresh, POLL_MS);
