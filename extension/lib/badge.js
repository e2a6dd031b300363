// The toolbar badge and the notifications of the service worker.

import { badgeFor, formatClock, noticeTitle } from "./format.js";
import * as api from "./api.js";

const IDLE_NOTIFICATION = "idle-pending";
const OVERFLOW_NOTIFICATION = "queue-overflow";
const ICON = "icons/icon128.png";

/** A `state` message from the daemon: badge = number running, in the attended timer's colour. */
export async function showState(state) {
  const { text, colour } = badgeFor(state.timers);
  await chrome.action.setBadgeText({ text });
  await chrome.action.setBadgeBackgroundColor({ color: colour });
  const n = state.timers?.length ?? 0;
  await chrome.action.setTitle({ title: `TicketClock: ${text || 0} running, ${n} live` });
  await showIdlePending(state.idle_pending);
}

/** The connection status changed. */
export async function showStatus(status) {
  if (status.state === "connected" || status.state === "connecting") return;
  await chrome.action.setBadgeText({ text: "!" });
  await chrome.action.setBadgeBackgroundColor({ color: "#777777" });
  const why = status.state === "disconnected" ? "daemon not running" : `not paired (${status.state})`;
  await chrome.action.setTitle({ title: `TicketClock: ${why}` });
}

let shownIdleSince = null; // do not pop the same question again on every state message

async function showIdlePending(pending) {
  if (!pending) {
    if (shownIdleSince !== null) await chrome.notifications.clear(IDLE_NOTIFICATION);
    shownIdleSince = null;
    return;
  }
  if (shownIdleSince === pending.since) return;
  shownIdleSince = pending.since;
  const minutes = Math.round((pending.until - pending.since) / 60);
  await chrome.notifications.create(IDLE_NOTIFICATION, {
    type: "basic",
    iconUrl: ICON,
    title: "You were away",
    message: `Away from ${formatClock(pending.since)} to ${formatClock(pending.until)} (${minutes} min). Keep that time on your timers?`,
    buttons: [{ title: "Keep it" }, { title: "Drop it" }],
    requireInteraction: true,
  });
}

/** The outgoing queue is full: time may be missing. */
export async function showOverflow(queue) {
  await chrome.notifications.create(OVERFLOW_NOTIFICATION, {
    type: "basic",
    iconUrl: ICON,
    title: "TicketClock cannot reach the daemon",
    message: `${queue.overflow} browser events were dropped because the daemon has been unreachable for long. Start the daemon; some time may be missing.`,
  });
}

export async function onNotificationButton(notificationId, buttonIndex) {
  if (notificationId !== IDLE_NOTIFICATION) return;
  try {
    await api.resolveIdle(buttonIndex === 0);
  } catch (err) {
    console.warn("idle resolve", api.errorText(err));
  }
  await chrome.notifications.clear(IDLE_NOTIFICATION);
}

/** A click on one of our notifications opens the matching web page, signed in: a failed entry → the outbox,
 * a notice → Today. */
export async function onNotificationClick(notificationId) {
  const page = notificationId.startsWith("entry-") ? "/outbox" : notificationId.startsWith("notice-") ? "/" : null;
  if (!page) return;
  try {
    await api.openWebPage(page);
  } catch (err) {
    console.warn("open web page", api.errorText(err));
  }
  await chrome.notifications.clear(notificationId);
}

/** An entry was posted to the PSA, or the PSA refused it (the message is the PSA's own). */
export async function showEntry(news) {
  const failed = news.status === "failed";
  await chrome.notifications.create(`entry-${news.id}`, {
    type: "basic",
    iconUrl: ICON,
    title: failed ? `Not posted: ${news.label}` : `Posted: ${news.label}`,
    message: failed
      ? `${news.message} Edit it and retry from the timesheet.`
      : `${formatMinutes(news.seconds)} logged.`,
    priority: failed ? 2 : 0,
  });
}

function formatMinutes(seconds) {
  const minutes = Math.round((seconds ?? 0) / 60);
  return minutes >= 60 ? `${Math.floor(minutes / 60)} h ${minutes % 60} min` : `${minutes} min`;
}

/** A notice pushed by the daemon: one that changed billed time raises a browser notification (the popup lists all). */
export async function showNotice(push) {
  const notice = push?.notice;
  if (!notice?.alert) return;
  await chrome.notifications.create(`notice-${notice.id}`, {
    type: "basic",
    iconUrl: ICON,
    title: noticeTitle(notice),
    message: notice.message,
    priority: 1,
  });
}
