// Options: daemon port, pairing, status, PSA origins (and the optional host permission for them).

import * as api from "./lib/api.js";
import * as settings from "./lib/settings.js";
import { originSet } from "./lib/events.js";

const $ = (id) => document.getElementById(id);

const STATUS_TEXT = {
  connected: "connected",
  connecting: "connecting…",
  pairing: "pairing itself (managed by your organisation)…",
  disconnected: "daemon not running: nothing answers on this port (start it with `ticketclock serve`)",
  unpaired: "not paired",
  unauthorized: "the daemon refused the token: pair again",
  refused: "daemon refuses this browser — pair again (its pairing was revoked, or the daemon's data folder changed)",
  other_port: "daemon on another port: set the port below to the one it uses",
  unproven: "the program on this port did not prove it is your TicketClock daemon; the token was not sent",
};

function show(node, text, ok) {
  node.textContent = text;
  node.className = ok ? "ok" : "bad";
}

async function renderStatus() {
  const status = await settings.getStatus();
  $("status").textContent = STATUS_TEXT[status.state] ?? status.state;
  $("status").dataset.state = status.state;
  $("status-detail").textContent = status.error && status.state !== "connected" ? `(${status.error})` : "";
  const paired = Boolean(await settings.getToken());
  $("paired").textContent = paired ? "yes" : "no";
  const result = $("pair-result");
  if (!paired && result.className === "ok") {
    // The pairing was revoked (or forgotten) since: the old "Paired." would contradict the status above.
    show(result, "This pairing was revoked or forgotten: pair again with a new code.", false);
  }
}

async function renderConfig() {
  const config = await settings.getConfig();
  const origins = [...originSet(config.instances)];
  $("origins").replaceChildren(
    ...(origins.length
      ? origins.map((o) => Object.assign(document.createElement("li"), { textContent: o }))
      : [Object.assign(document.createElement("li"), { textContent: "none yet (connect to the daemon first)" })]),
  );
  $("grant").disabled = origins.length === 0;
  const MODES = { focus: "focus (only the ticket you look at runs)", open: "open (every open ticket runs)" };
  $("mode").textContent = MODES[config.mode] ?? config.mode ?? "unknown (not connected yet)";
  $("idle").textContent = `${Math.round(config.idle_s / 60)} min`;
  $("heartbeat").textContent = `${config.heartbeat_s} s`;
}

$("port-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  try {
    const port = await settings.setPort($("port").value);
    show($("port-result"), `Saved: 127.0.0.1:${port}`, true);
  } catch (err) {
    show($("port-result"), err.message, false);
  }
});

$("pair-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const result = $("pair-result");
  result.textContent = "Pairing…";
  result.className = "";
  try {
    await api.pair($("code").value, api.clientName());
    $("code").value = "";
    show(result, "Paired. This browser now reports your PSA tabs to TicketClock.", true);
    result.dataset.outcome = "ok";
  } catch (err) {
    show(result, api.errorText(err), false);
    result.dataset.outcome = err.code ?? "error";
  }
  await renderStatus();
});

$("grant").addEventListener("click", async () => {
  const origins = [...originSet((await settings.getConfig()).instances)].map((o) => `${o}/*`);
  try {
    const granted = await chrome.permissions.request({ origins });
    show($("grant-result"), granted ? "Access granted." : "Access not granted.", granted);
  } catch (err) {
    show($("grant-result"), err.message, false);
  }
});

chrome.storage.onChanged.addListener((changes) => {
  if ("status" in changes || "token" in changes) renderStatus();
  if ("config" in changes) renderConfig();
});

$("port").value = String(await settings.getPort());
if ((await settings.getManaged()).daemonPort) {
  $("port").disabled = true;
  show($("port-result"), "Set by your organisation's policy.", true);
}
await renderStatus();
await renderConfig();
document.body.dataset.rendered = "1";
