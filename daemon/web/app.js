// The web pages' shell: a small client-side router over one HTML file (served for /, /timesheet, /summary,
// /approvals, /outbox). Plain ES modules and one CSS file, no build step, no CDN, no remote fonts: like the
// extension, nothing to install, and it works offline.

import { $, api, el, forgetKey, setMe, takeKeyFromAddress, whenSignedOut } from "./ui.js";
import { router } from "./router.js";
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
function pageOf(pathname) {
  const name = pathname.replace(/^\/+/, "").split("/")[0] || "today";
  return name in PAGES ? name : "today";
}

const { show, leave } = router({ pages: PAGES, titles: TITLES, suffix: "TicketClock", pageOf });

whenSignedOut(() => {
  leave();
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
    leave();
  }
});

// who is looking, and which entry states are editable (the pages show the others read-only), before the first page
const me = await api("GET", "/api/v1/web/me").catch(() => null);
setMe(me);
if (me) $("who").textContent = `Signed in as ${me.viewer.name}`;
await show(new URL(location.href));
