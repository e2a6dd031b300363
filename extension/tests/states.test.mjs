// The connection states the popup and the options page show: "refused" (the daemon answers but does not know our
// token) stays until the next pairing; "other_port" needs a TicketClock daemon answering on another port (a real
// HTTP server on 127.0.0.1 here); the options page opens once after installation.
import { test, beforeEach, afterEach } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { installFakeChrome } from "./fake-chrome.mjs";
import * as settings from "../lib/settings.js";
import * as api from "../lib/api.js";
import { openOptionsOnce } from "../lib/onboarding.js";

let chrome;
let servers = [];
beforeEach(() => {
  chrome = installFakeChrome();
});
afterEach(async () => {
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  servers = [];
});

function serve(handler) {
  return new Promise((resolve) => {
    const server = http.createServer(handler);
    servers.push(server);
    server.listen(0, "127.0.0.1", () => resolve(server.address().port));
  });
}

async function closedPort() {
  const port = await serve(() => {});
  await new Promise((resolve) => servers.pop().close(resolve));
  return port;
}

const ticketclockHealth = (req, res) => {
  res.setHeader("Content-Type", "application/json");
  res.end(JSON.stringify({ status: "ok", version: "0.1.0", pid: 4242 }));
};

test("a refused token is forgotten and remembered as refused until a new pairing", async () => {
  await settings.setToken("tc_old");
  assert.equal(await settings.wasRefused(), false);
  const err = await api.unpaired();
  assert.equal(err.code, "unpaired");
  assert.equal(await settings.getToken(), "");
  assert.equal(await settings.wasRefused(), true);
  const asked = await api.listTimers().catch((e) => e); // nothing sent without a token; the text says why
  assert.equal(asked.code, "unauthorized");
  assert.match(api.errorText(asked), /pair again/);
  await settings.setToken("tc_new");
  assert.equal(await settings.wasRefused(), false);
});

test("never paired: the error says so", async () => {
  const asked = await api.listTimers().catch((e) => e);
  assert.equal(asked.code, "unpaired");
});

test("the other ports asked: the default and the last one seen, never the options' own", async () => {
  assert.deepEqual(await api.otherPorts(47611), [47600]);
  await settings.setSeenPort(47612);
  assert.deepEqual(await api.otherPorts(47611), [47600, 47612]);
  assert.deepEqual(await api.otherPorts(47600), [47612]);
  assert.deepEqual(await api.otherPorts(47612), [47600]);
});

test("a daemon on another port is found when nothing answers on the options' port", async () => {
  const daemonPort = await serve(ticketclockHealth);
  const configured = await closedPort();
  const candidates = [await closedPort(), daemonPort];
  assert.equal(await api.daemonOnOtherPort(configured, { candidates }), daemonPort);
});

test("something on the other port that is not TicketClock does not count", async () => {
  const other = await serve((req, res) => res.end("<html>a web server</html>"));
  assert.equal(await api.daemonOnOtherPort(await closedPort(), { candidates: [other] }), null);
});

test("only valid ports are remembered as seen", async () => {
  await settings.setSeenPort(70000);
  assert.equal(await settings.getSeenPort(), null);
  await settings.setSeenPort(47611);
  assert.equal(await settings.getSeenPort(), 47611);
});

test("the options page opens once after installation, and not when already paired", async () => {
  let opened = 0;
  chrome.runtime = { openOptionsPage: async () => (opened += 1) };
  assert.equal(await openOptionsOnce(), true);
  assert.equal(await openOptionsOnce(), false);
  assert.equal(opened, 1);

  chrome = installFakeChrome();
  chrome.runtime = { openOptionsPage: async () => (opened += 1) };
  await settings.setToken("tc_managed");
  assert.equal(await openOptionsOnce(), false);
  assert.equal(opened, 1);
});

function managedPolicy(policy) {
  chrome.storage.managed = { get: async () => structuredClone(policy) };
}

test("a managed policy's port wins over the options page; bad values are ignored", async () => {
  await settings.setPort(47611);
  managedPolicy({ daemonPort: 47622 });
  assert.equal(await settings.getPort(), 47622);
  managedPolicy({ daemonPort: "junk", pairingSecret: "short" });
  assert.deepEqual(await settings.getManaged(), {});
  assert.equal(await settings.getPort(), 47611);
});

test("no policy support at all: nothing is managed", async () => {
  chrome.storage.managed = {
    get: async () => {
      throw new Error("managed storage is not available");
    },
  };
  assert.deepEqual(await settings.getManaged(), {});
});

test("the policy's PSA origins are reported only until the daemon sends its own list", async () => {
  managedPolicy({ psaOrigins: ["https://na.myconnectwise.net/", 42] });
  assert.deepEqual([...(await settings.getOrigins())], ["https://na.myconnectwise.net"]);
  await settings.setConfig({ instances: [{ name: "h", kind: "halopsa", origins: ["https://x.halopsa.com"] }] });
  assert.deepEqual([...(await settings.getOrigins())], ["https://x.halopsa.com"]);
});

test("a managed install that pairs itself does not open the options page", async () => {
  let opened = 0;
  chrome.runtime = { openOptionsPage: async () => (opened += 1) };
  managedPolicy({ pairingSecret: "s".repeat(32) });
  assert.equal(await openOptionsOnce(), false);
  assert.equal(opened, 0);
});
