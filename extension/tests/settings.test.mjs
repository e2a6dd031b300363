import { test, beforeEach } from "node:test";
import assert from "node:assert/strict";
import { installFakeChrome } from "./fake-chrome.mjs";
import * as settings from "../lib/settings.js";

let chrome;
beforeEach(() => {
  chrome = installFakeChrome();
});

test("port defaults to 47600 and only takes valid ports", async () => {
  assert.equal(await settings.getPort(), 47600);
  await settings.setPort("47601");
  assert.equal(await settings.getPort(), 47601);
  await assert.rejects(settings.setPort(70000), RangeError);
  await chrome.storage.local.set({ daemonPort: "junk" });
  assert.equal(await settings.getPort(), 47600);
});

test("token round-trips; empty when unpaired", async () => {
  assert.equal(await settings.getToken(), "");
  await settings.setToken("abc");
  assert.equal(await settings.getToken(), "abc");
});

test("the install id is created once and kept", async () => {
  const [a, b] = await Promise.all([settings.getInstallId(), settings.getInstallId()]);
  assert.equal(a, b);
  assert.equal(await settings.getInstallId(), a);
  assert.equal(chrome.storage.local.dump().installId, a);
});

test("enqueue numbers events with strictly increasing seqs, even when called concurrently", async () => {
  await Promise.all([
    settings.enqueue([{ type: "heartbeat", at: 1 }]),
    settings.enqueue([
      { type: "heartbeat", at: 2 },
      { type: "heartbeat", at: 3 },
    ]),
    settings.enqueue([{ type: "idle", at: 4, state: "active", since: 4 }]),
  ]);
  const q = await settings.getQueue();
  assert.deepEqual(
    q.events.map((e) => e.seq),
    [1, 2, 3, 4],
  );
  assert.deepEqual(
    q.events.map((e) => e.at),
    [1, 2, 3, 4],
  );
  assert.equal(chrome.storage.local.dump().seq, 4);
});

test("seqs survive a restart (they live in storage) and acks trim the queue", async () => {
  await settings.enqueue([
    { type: "heartbeat", at: 1 },
    { type: "heartbeat", at: 2 },
  ]);
  await settings.ackUpTo(1);
  assert.deepEqual(
    (await settings.getQueue()).events.map((e) => e.seq),
    [2],
  );
  await settings.enqueue([{ type: "tab_closed", at: 3, tab: 1, window: 1 }]);
  assert.deepEqual(
    (await settings.getQueue()).events.map((e) => e.seq),
    [2, 3],
  );
  await settings.dropEvents([3]);
  assert.deepEqual(
    (await settings.getQueue()).events.map((e) => e.seq),
    [2],
  );
});

test("a daemon that has seen more than we remember moves our counter forward", async () => {
  await settings.ackUpTo(41);
  const { accepted } = await settings.enqueue([{ type: "heartbeat", at: 1 }]);
  assert.equal(accepted[0].seq, 42);
});

test("overflow is counted and cleared on request", async () => {
  const many = Array.from({ length: 5003 }, (_, i) => ({ type: "tab_closed", at: i, tab: i, window: 1 }));
  const { dropped } = await settings.enqueue(many);
  assert.equal(dropped, 3);
  const q = await settings.getQueue();
  assert.equal(q.events.length, 5000);
  assert.equal(q.events[0].at, 0, "the oldest are kept");
  assert.equal(q.overflow, 3);
  await settings.clearOverflow();
  assert.equal((await settings.getQueue()).overflow, 0);
});

test("config gives normalised origins and sane defaults", async () => {
  assert.deepEqual(await settings.getConfig(), { instances: [], heartbeat_s: 20, idle_s: 300, mode: null });
  await settings.setConfig({
    type: "config",
    instances: [{ name: "halo", kind: "halopsa", origins: ["https://Acme.HaloPSA.com/"] }],
    heartbeat_s: 15,
    idle_s: 120,
  });
  assert.deepEqual([...(await settings.getOrigins())], ["https://acme.halopsa.com"]);
  assert.equal((await settings.getConfig()).heartbeat_s, 15);
});

test("reported tabs and status live in session storage", async () => {
  await settings.setReported({ 5: { tab: 5, window: 1, url: "u", title: "" } });
  assert.deepEqual(Object.keys(chrome.storage.session.dump().reported), ["5"]);
  assert.deepEqual(await settings.getReported(), { 5: { tab: 5, window: 1, url: "u", title: "" } });
  assert.equal((await settings.getStatus()).state, "disconnected");
  await settings.setStatus("connected");
  assert.equal((await settings.getStatus()).state, "connected");
  assert.equal(chrome.storage.local.dump().status, undefined);
});
