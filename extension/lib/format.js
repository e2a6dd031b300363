// Pure display helpers shared by the popup, the badge and the notifications.

/** Seconds as h:mm:ss (negative and non-numbers count as 0). */
export function formatElapsed(seconds) {
  const s = Number.isFinite(seconds) && seconds > 0 ? Math.floor(seconds) : 0;
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  return `${h}:${String(m).padStart(2, "0")}:${String(sec).padStart(2, "0")}`;
}

/** A timer's elapsed seconds now: what the daemon credited up to as_of, plus the local delta if running. */
export function liveElapsed(timer, nowSeconds) {
  const base = Number(timer.elapsed_s) || 0;
  if (!timer.running) return base;
  return base + Math.max(0, nowSeconds - (Number(timer.as_of) || nowSeconds));
}

/** What names a timer: the daemon's label, else "#<ticket>" or the task. */
export function timerLabel(timer) {
  if (timer.label) return timer.label;
  const t = timer.ticket;
  if (t) return `#${t.id ?? t.number ?? "?"}`;
  return timer.task || "Timer";
}

const PAUSE_REASONS = {
  user: "paused",
  attention: "paused (not in view)",
  idle: "paused (away)",
  offline: "paused (browser offline)",
  restart: "paused (daemon restarted)",
};

/** A short state text for a timer. */
export function stateText(timer) {
  if (timer.state === "paused") return PAUSE_REASONS[timer.paused_by] ?? "paused";
  if (isHeld(timer)) return "ticket closed";
  if (timer.state === "closing") return "closing";
  return timer.state || "";
}

/** Local wall-clock HH:MM for an epoch-seconds time. */
export function formatClock(epochSeconds) {
  const d = new Date(epochSeconds * 1000);
  return `${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}`;
}

/** The timer being worked on: the most recently attended running timer (else null). */
export function attendedTimer(timers, { runningOnly = true } = {}) {
  let best = null;
  for (const t of timers ?? []) {
    if (runningOnly && !t.running) continue;
    if (t.state === "stopped") continue;
    if (!best || (t.last_attended ?? 0) > (best.last_attended ?? 0)) best = t;
  }
  return best;
}

/** Badge text and colour for the timers: the number running, in the attended timer's colour. */
export function badgeFor(timers) {
  const running = (timers ?? []).filter((t) => t.running);
  if (!running.length) return { text: "", colour: "#777777" };
  return { text: String(running.length), colour: attendedTimer(running)?.colour || "#777777" };
}

/** A closed ticket's timer whose entry is held (grace, merge window, offline): reopening the ticket continues it. */
export function isHeld(timer) {
  return timer?.kind === "auto" && (timer.state === "closing" || timer.state === "stopped");
}

/** What the popup says about a held entry: until when it waits for the ticket to be reopened. */
export function heldText(entry) {
  if (!entry) return "closed — reopening continues it";
  const held = Number.isFinite(entry.held_until)
    ? `held until ${formatClock(entry.held_until)} — reopening continues it`
    : "held until the browser is back — reopening continues it";
  // The daemon says what finishing now would give: an entry under the minimum is voided, not posted.
  return entry.status_reason === "too_short" ? `${held}; too short to post so far` : held;
}

const NOTICE_TITLES = {
  evicted: "Timer stopped: 9 timers at once",
  limit_reached: "Ticket not timed: 9 timers at once",
  browser_offline: "Timers stopped: browser silent",
  restart: "Timer paused: daemon restarted",
  long_run: "Timer stopped: ran too long",
  idle_dropped: "Away time dropped",
  idle_expired: "Away time dropped",
};

/** The title of a notice (its message is the daemon's own text). */
export function noticeTitle(notice) {
  return NOTICE_TITLES[notice?.code] ?? "TicketClock";
}
