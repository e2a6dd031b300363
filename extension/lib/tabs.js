// Browser facts -> events. Chrome's tab, window and idle listeners (registered in background.js) land here;
// each is handled in arrival order, with the time taken when Chrome called the listener.
//
// Only tabs on a configured PSA origin are reported. The tab id -> reported facts map lives in
// chrome.storage.session because tabs.onRemoved only gives the id and the worker's globals die with it.

import * as settings from "./settings.js";
import * as daemon from "./daemon.js";
import {
  diffTab,
  focusedWindowId,
  idleChanged,
  snapshot,
  tabActivated,
  tabClosed,
  windowFocused,
  isReportable,
  tabUrl,
} from "./events.js";

const now = () => Date.now() / 1000;

let chain = Promise.resolve();
function serial(fn) {
  const run = chain.then(fn);
  chain = run.catch((err) => console.warn("tab event", err));
  return chain;
}

async function applyTab(tab, at, pageTicket) {
  if (!tab || !Number.isInteger(tab.id) || tab.id < 0) return;
  const [origins, reported] = await Promise.all([settings.getOrigins(), settings.getReported()]);
  const prev = reported[tab.id];
  const { events, next } =
    pageTicket === undefined ? diffTab(prev, tab, origins, at) : diffTab(prev, tab, origins, at, pageTicket);
  if (next) reported[tab.id] = next;
  else delete reported[tab.id];
  if (next || prev) await settings.setReported(reported);
  await daemon.report(events);
}

export function onCreated(tab) {
  const at = now();
  return serial(() => applyTab(tab, at));
}

export function onUpdated(tabId, changeInfo, tab) {
  const at = now();
  if (!("url" in changeInfo || "title" in changeInfo || "status" in changeInfo)) return chain;
  return serial(() => applyTab(tab, at));
}

export function onActivated({ tabId, windowId }) {
  const at = now();
  return serial(async () => {
    const reported = await settings.getReported();
    await daemon.report([tabActivated(reported[tabId] ? tabId : -1, windowId, at)]);
  });
}

export function onRemoved(tabId, { windowId }) {
  const at = now();
  return serial(async () => {
    const reported = await settings.getReported();
    const prev = reported[tabId];
    if (!prev) return; // never reported: the daemon never hears of it
    delete reported[tabId];
    await settings.setReported(reported);
    await daemon.report([tabClosed(tabId, windowId ?? prev.window, at)]);
  });
}

/** A prerendered or restored tab replaced another one. */
export function onReplaced(addedTabId, removedTabId) {
  const at = now();
  onRemoved(removedTabId, {});
  return serial(async () => {
    const tab = await chrome.tabs.get(addedTabId).catch(() => null);
    await applyTab(tab, at);
  });
}

/** A tab moved to another window. */
export function onAttached(tabId) {
  const at = now();
  return serial(async () => {
    const tab = await chrome.tabs.get(tabId).catch(() => null);
    await applyTab(tab, at);
  });
}

export function onFocusChanged(windowId) {
  const at = now();
  return serial(() => daemon.report([windowFocused(windowId, at)]));
}

export function onIdleStateChanged(state) {
  const at = now();
  return serial(async () => {
    const { idle_s } = await settings.getConfig();
    await daemon.report([idleChanged(state, at, idle_s)]);
  });
}

/** The content script read a ticket number from a PSA page (ConnectWise's single-page app). */
export function onPageTicket(ticket, sender) {
  const at = now();
  const tab = sender?.tab;
  if (!tab) return chain;
  return serial(async () => {
    // The message can arrive after the tab closed: never resurrect it.
    const current = await chrome.tabs.get(tab.id).catch(() => null);
    if (!current || !isReportable(tabUrl(current), await settings.getOrigins())) return;
    await applyTab(current, at, typeof ticket === "string" ? ticket : null);
  });
}

/** Report every PSA tab as it is now (on connect, on new config, on browser start). */
export function sendSnapshot() {
  const at = now();
  return serial(async () => {
    const [tabs, focused, origins, known] = await Promise.all([
      chrome.tabs.query({}),
      chrome.windows.getLastFocused().catch(() => null),
      settings.getOrigins(),
      settings.getReported(),
    ]);
    if (!origins.size) return; // never configured: nothing could be reported
    const { event, reported } = snapshot(tabs, focusedWindowId(focused), origins, known, at);
    await settings.setReported(reported);
    await daemon.report([event]);
  });
}
