// TicketClock service worker: imports and top-level listener registration only.
// The logic lives in lib/ (tabs.js: browser facts -> events; daemon.js: the WebSocket; settings.js: storage).

import * as daemon from "./lib/daemon.js";
import * as tabs from "./lib/tabs.js";
import * as badge from "./lib/badge.js";
import * as settings from "./lib/settings.js";
import { onCommand } from "./lib/commands.js";
import * as onboarding from "./lib/onboarding.js";

const TICK_ALARM = "tick";

daemon.configure({
  onConfig: async (config) => {
    chrome.idle.setDetectionInterval(Math.max(15, Math.round(config.idle_s)));
    await tabs.sendSnapshot();
  },
  onState: (state) => badge.showState(state),
  onStatus: (status) => badge.showStatus(status),
  onOverflow: (queue) => badge.showOverflow(queue),
  onEntry: (news) => badge.showEntry(news),
  onNotice: (push) => badge.showNotice(push),
});

chrome.tabs.onCreated.addListener(tabs.onCreated);
chrome.tabs.onUpdated.addListener(tabs.onUpdated);
chrome.tabs.onActivated.addListener(tabs.onActivated);
chrome.tabs.onRemoved.addListener(tabs.onRemoved);
chrome.tabs.onReplaced.addListener(tabs.onReplaced);
chrome.tabs.onAttached.addListener(tabs.onAttached);
chrome.windows.onFocusChanged.addListener(tabs.onFocusChanged);
chrome.idle.onStateChanged.addListener(tabs.onIdleStateChanged);

chrome.runtime.onMessage.addListener((message, sender) => {
  if (message?.type === "page_ticket") tabs.onPageTicket(message.ticket, sender);
  return false;
});

// A new browser session: tab ids start over, so tell the daemon what is open now (queued if it is down).
chrome.runtime.onStartup.addListener(() => tabs.sendSnapshot());
chrome.runtime.onInstalled.addListener((details) => {
  tabs.sendSnapshot();
  // Once, after installation: the options page, pairing first. A managed install that pairs itself needs no page.
  if (details?.reason === "install") onboarding.openOptionsOnce().catch(() => {});
});

chrome.storage.onChanged.addListener((changes, area) => daemon.onStorageChanged(changes, area));

chrome.alarms.onAlarm.addListener((alarm) => {
  if (alarm.name === TICK_ALARM) daemon.tick();
});

chrome.commands.onCommand.addListener(onCommand);
chrome.notifications.onButtonClicked.addListener(badge.onNotificationButton);
chrome.notifications.onClicked.addListener(badge.onNotificationClick);

// For tests and debugging from the service worker's console (a service worker cannot use dynamic import()).
globalThis.ticketclock = { tabs, daemon };

// Created only if missing: re-creating on every worker start would push the next tick out forever.
chrome.alarms.get(TICK_ALARM).then((alarm) => {
  if (!alarm) chrome.alarms.create(TICK_ALARM, { periodInMinutes: 0.5 });
});

settings
  .getConfig()
  .then((config) => chrome.idle.setDetectionInterval(Math.max(15, Math.round(config.idle_s))))
  .catch(() => {});

daemon.ensureConnected();
