// The web pages' shell: a small client-side router over one HTML file (served for /, /timesheet, /summary,
// /approvals, /outbox). Plain ES modules and one CSS file, no build step, no CDN, no remote fonts: like the
// extension, nothing to install, and it works offline.

import { $, api, el, flash, forgetKey, setMe, takeKeyFromAddress, whenSignedOut } from "./ui.js";
import * as today from "./today.js";
import * as timesheet from "./timesheet.js";
import * as summary from "./summary.js";
import * as approvals from "./approvals.js";
import * as outbox from "./outbox.js";
import * as automations from "./automations.js";

takeKeyFromAddress(); // first, so the key leaves the address bar (and the history) at once

const PAGES = { today, timesheet, summary, approvals, outbox, automations };
const TITLES = { today: "Today", timesheet: "Timesheet", summary: "Summary", approvals: "Approvals", outbox: "Outbox" };
TITLES.automations = "Automations";
let current = null;

function pageOf(pathname) {
  const name = pathname.replace(/^\/+/, "").split("/")[0] || "today";
  return name in PAGES ? name : "today";
}

async function show(url) {
  const name = pageOf(url.pathname);
  current?.leave?.();
  current = PAGES[name];
  document.title = `${TITLES[name]} · TicketClock`;
  for (const a of document.querySelectorAll("nav a")) {
    if (a.dataset.page === name) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  const main = $("main");
  main.replaceChildren(el("h1", { textContent: TITLES[name] }));
  flash("");
  document.body.dataset.page = name;
  delete document.body.dataset.rendered;
  try {
    await current.render(main, url.searchParams);
  } catch (err) {
    if (err.status !== 401) main.append(el("p", { className: "error", role: "alert", textContent: err.message }));
  }
  document.body.dataset.rendered = "1";
}

/** Go to a page of this app without reloading (the links and the pages' own navigation use this). */
export function go(href, { replace = false } = {}) {
  const url = new URL(href, location.href);
  if (replace) history.replaceState(null, "", url);
  else history.pushState(null, "", url);
  return show(url);
}
globalThis.ticketclockGo = go;

document.addEventListener("click", (ev) => {
  const a = ev.target.closest?.("a[href]");
  if (!a || a.target || a.dataset.download || a.hasAttribute("download") || ev.ctrlKey || ev.metaKey || ev.shiftKey)
    return;
  const url = new URL(a.href);
  if (url.origin !== location.origin || url.pathname.startsWith("/api/")) return;
  ev.preventDefault();
  go(url).then(() => $("main").focus());
});
window.addEventListener("popstate", () => show(new URL(location.href)));

whenSignedOut(() => {
  current?.leave?.();
  current = null;
  $("who").textContent = "";
  $("signout").hidden = true;
  $("main").replaceChildren(
    el("h1", { textContent: "Signed out" }),
    el(
      "p",
      {},
      "You are signed out, or your session expired. Run ",
      el("code", { textContent: "ticketclock open" }),
      ", or click “Open timesheet” in the TicketClock popup, to sign in again.",
    ),
  );
  document.body.dataset.signedOut = "1";
  document.body.dataset.rendered = "1";
});

$("signout").addEventListener("click", async () => {
  try {
    await api("POST", "/api/v1/web/logout");
  } finally {
    forgetKey();
    $("main").replaceChildren(
      el("h1", { textContent: "Signed out" }),
      el(
        "p",
        {},
        "Run ",
        el("code", { textContent: "ticketclock open" }),
        ", or click “Open timesheet” in the TicketClock popup, to sign in again.",
      ),
    );
    document.body.dataset.signedOut = "1";
    $("signout").hidden = true;
    $("who").textContent = "";
    current?.leave?.();
    current = null;
  }
});

// who is looking, and which entry states are editable (the pages show the others read-only), before the first page
const me = await api("GET", "/api/v1/web/me").catch(() => null);
setMe(me);
if (me) $("who").textContent = `Signed in as ${me.viewer.name}`;
await show(new URL(location.href));
