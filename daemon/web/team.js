// The team server's pages (server mode): sign-in, then Approvals, Team timesheet, Team summary and My time, by a
// small client-side router over one HTML file (team.html). The shared helpers, the style sheet and the date format
// are the local web UI's own (ui.js, dates.js, app.css), served by the team server as they are.

import { $, api, el, whenSignedOut } from "./ui.js";
import { router } from "./router.js";
import * as approvals from "./team-approvals.js";
import * as timesheet from "./team-timesheet.js";
import * as summary from "./team-summary.js";
import * as time from "./team-time.js";

const PAGES = { approvals, timesheet, summary, time };
const TITLES = { approvals: "Approvals", timesheet: "Team timesheet", summary: "Team summary", time: "My time" };
let ctx = null;

const approves = (me) => Object.values(me.roles).some((r) => r.includes("approver1") || r.includes("approver2"));

/** The pages this person may use, in menu order (technicians: only their own time). */
function pagesFor(me) {
  return me.is_admin || approves(me) ? ["approvals", "timesheet", "summary", "time"] : ["time"];
}

function pageOf(pathname) {
  const name = pathname.replace(/^\/+/, "").split("/")[0];
  const allowed = pagesFor(ctx.me);
  return allowed.includes(name) ? name : allowed[0];
}

const { show, leave } = router({
  pages: PAGES,
  titles: TITLES,
  suffix: "TicketClock team",
  pageOf,
  context: () => ctx,
  active: () => ctx !== null,
});

/** The sign-in page: e-mail and password; "Sign in with Microsoft" only when the server says it is set up. */
async function signInPage(reason = "") {
  ctx = null;
  leave();
  $("pages").replaceChildren();
  $("who").textContent = "";
  $("signout").hidden = true;
  document.title = "Sign in · TicketClock team";
  document.body.dataset.page = "signin";
  const email = el("input", { id: "email", type: "email", autocomplete: "username", required: true });
  const password = el("input", { id: "password", type: "password", autocomplete: "current-password", required: true });
  const err = el("p", { className: "error", id: "signin-err", role: "alert" });
  const actions = el(
    "div",
    { className: "actions" },
    el("button", { type: "submit", className: "primary" }, "Sign in"),
  );
  const form = el(
    "form",
    {
      className: "signin",
      "aria-label": "Sign in",
      onsubmit: async (ev) => {
        ev.preventDefault();
        err.textContent = "";
        try {
          await api("POST", "/api/team/v1/session", { email: email.value.trim(), password: password.value });
          password.value = "";
          await start();
        } catch (e) {
          err.textContent = e.message.charAt(0).toUpperCase() + e.message.slice(1); // the API's text is a clause
          password.select();
        }
      },
    },
    el("label", { for: "email" }, "E-mail"),
    email,
    el("label", { for: "password" }, "Password"),
    password,
    actions,
    err,
  );
  $("main").replaceChildren(el("h1", { textContent: "Sign in" }));
  if (reason) $("main").append(el("p", { className: "muted", id: "signin-reason", textContent: reason }));
  $("main").append(form);
  document.body.dataset.rendered = "1";
  email.focus();
  const oidc = await oidcMethod();
  if (oidc) actions.append(el("a", { className: "button", id: "oidc", href: oidc.url }, oidc.label));
}

/** The OIDC sign-in the server offers, if any (`GET /api/team/v1/auth-methods`; absent on a server without it). */
async function oidcMethod() {
  let methods = null;
  try {
    const r = await fetch("/api/team/v1/auth-methods", { credentials: "same-origin" });
    if (!r.ok) return null;
    methods = await r.json();
  } catch {
    return null;
  }
  const found = methods?.oidc ?? methods?.microsoft ?? (methods?.methods ?? []).find?.((m) => m?.kind === "oidc");
  if (!found) return null;
  const url = found.url ?? found.start_url ?? found.href;
  return url ? { url, label: found.label ?? "Sign in with Microsoft" } : null;
}

whenSignedOut(() => {
  if (ctx) signInPage("You are signed out, or your session expired: sign in again.");
});

$("signout").addEventListener("click", async () => {
  try {
    await api("DELETE", "/api/team/v1/session");
  } finally {
    await signInPage("Signed out.");
  }
});

async function start() {
  const me = await api("GET", "/api/team/v1/me").catch(() => null);
  if (!me) return signInPage();
  const teams = await api("GET", "/api/team/v1/teams");
  ctx = { me, teams };
  $("who").textContent = `Signed in as ${me.name}`;
  $("signout").hidden = false;
  $("pages").replaceChildren(
    ...pagesFor(me).map((p) => el("li", {}, el("a", { href: `/${p}`, dataset: { page: p }, textContent: TITLES[p] }))),
  );
  await show(new URL(location.href));
}

await start();
