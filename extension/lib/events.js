// Pure builders for the events the extension sends (daemon/timers/events.py is the contract: send exactly
// these fields, nothing else), plus the privacy filter: only tabs on a configured PSA origin are ever reported.
//
// Events are built without `seq`; settings.enqueue() numbers them when they are queued. `at` is epoch
// seconds (float), taken when the browser event happened.

const MAX_URL = 8192;
const MAX_TITLE = 2048;
const MAX_PAGE_TICKET = 64;
const DEFAULT_PORTS = { "http:": "80", "https:": "443" };

/** `scheme://host[:port]` of an http(s) URL or origin, lowercased, default port dropped; null otherwise. */
export function normaliseOrigin(value) {
  if (typeof value !== "string" || !value) return null;
  let u;
  try {
    u = new URL(value);
  } catch {
    return null;
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") return null;
  if (!u.hostname) return null;
  const port = u.port && u.port !== DEFAULT_PORTS[u.protocol] ? `:${u.port}` : "";
  return `${u.protocol}//${u.hostname.toLowerCase()}${port}`;
}

/** The configured instances' origins, normalised, as a Set. */
export function originSet(instances) {
  const set = new Set();
  for (const instance of instances ?? []) {
    for (const origin of instance.origins ?? []) {
      const o = normaliseOrigin(origin);
      if (o) set.add(o);
    }
  }
  return set;
}

/** The URL a tab shows or is about to show. */
export function tabUrl(tab) {
  return (tab && (tab.url || tab.pendingUrl)) || "";
}

/** Whether a URL may be reported: its origin is a configured PSA origin (and it fits the protocol). */
export function isReportable(url, origins) {
  if (!url || url.length > MAX_URL) return false;
  const origin = normaliseOrigin(url);
  return origin !== null && origins.has(origin);
}

function clip(text, max) {
  if (typeof text !== "string") return "";
  if (text.length <= max) return text;
  return Array.from(text).slice(0, max).join(""); // by code point, as the daemon counts
}

function cleanPageTicket(value) {
  if (typeof value !== "string") return null;
  const t = value.trim();
  return t && t.length <= MAX_PAGE_TICKET ? t : null;
}

/** What we remember (and compare) about a reported tab. */
export function tabFacts(tab, pageTicket) {
  const facts = {
    tab: tab.id,
    window: tab.windowId,
    url: tabUrl(tab),
    title: clip(tab.title, MAX_TITLE),
  };
  const pt = cleanPageTicket(pageTicket);
  if (pt) facts.page_ticket = pt;
  return facts;
}

export function tabOpened(facts, active, at) {
  return { type: "tab_opened", at, ...facts, active: Boolean(active) };
}

export function tabUpdated(facts, at) {
  return { type: "tab_updated", at, ...facts };
}

/**
 * The active tab of a window changed. A tab we do not report is sent as tab -1 ("something that is not a
 * PSA tab"): the daemon learns that attention left the ticket, but nothing about the other page.
 */
export function tabActivated(tab, window, at) {
  return { type: "tab_activated", at, tab, window };
}

export function tabClosed(tab, window, at) {
  return { type: "tab_closed", at, tab, window };
}

export function windowFocused(window, at) {
  return { type: "window_focused", at, window };
}

/** `since` is when the idleness began: now - threshold for "idle", now for "locked" and "active". */
export function idleChanged(state, at, idleSeconds) {
  const since = state === "idle" ? Math.max(0, at - idleSeconds) : at;
  return { type: "idle", at, state, since };
}

export function heartbeat(at) {
  return { type: "heartbeat", at };
}

/**
 * What one tab fact means for the daemon, given what was reported before for this tab.
 * Returns { events, next } where next is the new remembered facts (null: forget the tab).
 *   PSA page, not reported before  -> tab_opened
 *   PSA page, url/title/ticket/window changed -> tab_updated
 *   left the PSA origins           -> tab_closed (the ticket is gone; the new page is never described)
 *   never a PSA page               -> nothing at all
 */
export function diffTab(prev, tab, origins, at, pageTicket = prev?.page_ticket) {
  const url = tabUrl(tab);
  if (!isReportable(url, origins)) {
    return prev ? { events: [tabClosed(prev.tab, prev.window, at)], next: null } : { events: [], next: null };
  }
  const facts = tabFacts(tab, pageTicket);
  if (!prev) return { events: [tabOpened(facts, tab.active, at)], next: facts };
  const changed =
    prev.url !== facts.url ||
    prev.title !== facts.title ||
    prev.window !== facts.window ||
    (prev.page_ticket ?? null) !== (facts.page_ticket ?? null);
  return { events: changed ? [tabUpdated(facts, at)] : [], next: facts };
}

/**
 * The window a snapshot reports as focused: the browser's last focused window only while it really has the
 * focus. With Chrome and Edge both running, the daemon gives attention to the most recently focused window across
 * browsers; a snapshot from a browser in the background (sent on reconnect) must not take it.
 */
export function focusedWindowId(win) {
  return win?.focused === true && Number.isInteger(win.id) ? win.id : -1;
}

/**
 * A snapshot of every reportable tab. `known` maps tab id -> remembered facts (to keep page tickets).
 * Returns { event, reported } where reported is the new tab id -> facts map.
 */
export function snapshot(tabs, focusedWindow, origins, known, at) {
  const reported = {};
  const infos = [];
  for (const tab of tabs) {
    if (!isReportable(tabUrl(tab), origins)) continue;
    const facts = tabFacts(tab, known?.[tab.id]?.page_ticket);
    reported[tab.id] = facts;
    infos.push({ ...facts, active: Boolean(tab.active) });
    if (infos.length >= 2000) break; // the protocol's limit
  }
  const focused = Number.isInteger(focusedWindow) ? focusedWindow : -1;
  return { event: { type: "snapshot", at, tabs: infos, focused_window: focused }, reported };
}
