import { test } from "node:test";
import assert from "node:assert/strict";
import {
  diffTab,
  focusedWindowId,
  heartbeat,
  idleChanged,
  isReportable,
  normaliseOrigin,
  originSet,
  snapshot,
  tabActivated,
  tabClosed,
  windowFocused,
} from "../lib/events.js";

const instances = [
  { name: "cw", kind: "connectwise", origins: ["https://NA.myconnectwise.net:443/"] },
  { name: "halo", kind: "halopsa", origins: ["https://acme.halopsa.com", "http://127.0.0.1:8123"] },
];
const origins = originSet(instances);
const CW =
  "https://na.myconnectwise.net/v4_6_release/services/system_io/Service/fv_sr100_request.rails?service_recid=5";
const HALO = "https://acme.halopsa.com/ticket?id=77";
const OTHER = "https://mail.example.com/inbox?secret=1";

const tab = (over = {}) => ({ id: 7, windowId: 1, url: CW, title: "Ticket #5", active: true, ...over });

test("origins are normalised: case, default port, trailing path", () => {
  assert.equal(normaliseOrigin("HTTPS://Example.COM:443/x?y"), "https://example.com");
  assert.equal(normaliseOrigin("http://127.0.0.1:8123/ticket?id=1"), "http://127.0.0.1:8123");
  assert.equal(normaliseOrigin("http://example.com:80"), "http://example.com");
  assert.equal(normaliseOrigin("chrome://newtab"), null);
  assert.equal(normaliseOrigin("not a url"), null);
  assert.equal(normaliseOrigin(""), null);
  assert.deepEqual([...origins].sort(), [
    "http://127.0.0.1:8123",
    "https://acme.halopsa.com",
    "https://na.myconnectwise.net",
  ]);
});

test("only configured PSA origins are reportable", () => {
  assert.ok(isReportable(CW, origins));
  assert.ok(isReportable(HALO, origins));
  assert.ok(!isReportable(OTHER, origins));
  assert.ok(!isReportable("http://127.0.0.1:9999/ticket?id=1", origins), "another port is another origin");
  assert.ok(!isReportable("https://acme.halopsa.com.evil.example/ticket?id=1", origins));
  assert.ok(!isReportable("about:blank", origins));
  assert.ok(!isReportable(`${HALO}&x=${"a".repeat(9000)}`, origins), "too long for the protocol");
  assert.ok(!isReportable(HALO, new Set()));
});

test("a new PSA tab is reported as tab_opened with exactly the protocol's fields", () => {
  const { events, next } = diffTab(undefined, tab(), origins, 100.5);
  assert.deepEqual(events, [
    { type: "tab_opened", at: 100.5, tab: 7, window: 1, url: CW, title: "Ticket #5", active: true },
  ]);
  assert.deepEqual(next, { tab: 7, window: 1, url: CW, title: "Ticket #5" });
});

test("pendingUrl counts for a tab still loading", () => {
  const { events } = diffTab(undefined, tab({ url: "", pendingUrl: HALO }), origins, 1);
  assert.equal(events[0].url, HALO);
});

test("changes of a reported tab are tab_updated; no change sends nothing", () => {
  const prev = diffTab(undefined, tab(), origins, 1).next;
  assert.deepEqual(diffTab(prev, tab(), origins, 2).events, []);
  const { events } = diffTab(prev, tab({ title: "Ticket #5 - Printer" }), origins, 3);
  assert.deepEqual(events, [{ type: "tab_updated", at: 3, tab: 7, window: 1, url: CW, title: "Ticket #5 - Printer" }]);
});

test("page tickets ride along and are kept across updates", () => {
  const spa = "https://na.myconnectwise.net/v2024_1/ConnectWise.aspx?locale=en_US#XQAAAA";
  const first = diffTab(undefined, tab({ url: spa }), origins, 1, "4242");
  assert.equal(first.events[0].page_ticket, "4242");
  const again = diffTab(first.next, tab({ url: spa, title: "Manage" }), origins, 2);
  assert.equal(again.events[0].page_ticket, "4242");
  const cleared = diffTab(again.next, tab({ url: spa, title: "Manage" }), origins, 3, null);
  assert.equal(cleared.events[0].type, "tab_updated");
  assert.ok(!("page_ticket" in cleared.events[0]));
});

test("a non-PSA tab yields nothing at all", () => {
  assert.deepEqual(diffTab(undefined, tab({ url: OTHER, title: "Inbox" }), origins, 1), { events: [], next: null });
});

test("leaving the PSA origins closes the tab without describing the new page", () => {
  const prev = diffTab(undefined, tab(), origins, 1).next;
  const { events, next } = diffTab(prev, tab({ url: OTHER, title: "Inbox", windowId: 1 }), origins, 2);
  assert.deepEqual(events, [{ type: "tab_closed", at: 2, tab: 7, window: 1 }]);
  assert.equal(next, null);
  assert.ok(!JSON.stringify(events).includes("example.com"));
});

test("long titles are clipped by code point", () => {
  const title = "😀".repeat(3000);
  const { events } = diffTab(undefined, tab({ title }), origins, 1);
  assert.equal(Array.from(events[0].title).length, 2048);
});

test("snapshot lists PSA tabs only, keeps page tickets, and says which window has focus", () => {
  const tabs = [
    tab({ id: 1, url: CW, active: true }),
    tab({ id: 2, url: OTHER, title: "secret", active: false }),
    tab({ id: 3, url: HALO, title: "Halo", active: false, windowId: 2 }),
  ];
  const { event, reported } = snapshot(tabs, 2, origins, { 1: { page_ticket: "9" } }, 50);
  assert.deepEqual(event, {
    type: "snapshot",
    at: 50,
    focused_window: 2,
    tabs: [
      { tab: 1, window: 1, url: CW, title: "Ticket #5", active: true, page_ticket: "9" },
      { tab: 3, window: 2, url: HALO, title: "Halo", active: false },
    ],
  });
  assert.deepEqual(Object.keys(reported), ["1", "3"]);
  assert.ok(!JSON.stringify(event).includes("secret"));
  assert.equal(snapshot([], undefined, origins, {}, 1).event.focused_window, -1);
});

test("small events carry exactly their fields", () => {
  assert.deepEqual(tabActivated(-1, 3, 1), { type: "tab_activated", at: 1, tab: -1, window: 3 });
  assert.deepEqual(tabClosed(4, 3, 1), { type: "tab_closed", at: 1, tab: 4, window: 3 });
  assert.deepEqual(windowFocused(-1, 1), { type: "window_focused", at: 1, window: -1 });
  assert.deepEqual(heartbeat(9.5), { type: "heartbeat", at: 9.5 });
});

test("idle since: threshold before now for idle, now for locked and active", () => {
  assert.deepEqual(idleChanged("idle", 1000, 300), { type: "idle", at: 1000, state: "idle", since: 700 });
  assert.deepEqual(idleChanged("locked", 1000, 300), { type: "idle", at: 1000, state: "locked", since: 1000 });
  assert.deepEqual(idleChanged("active", 1000, 300), { type: "idle", at: 1000, state: "active", since: 1000 });
  assert.equal(idleChanged("idle", 100, 300).since, 0);
});

test("a snapshot names a focused window only while the browser really has the focus", () => {
  assert.equal(focusedWindowId({ id: 7, focused: true }), 7);
  assert.equal(focusedWindowId({ id: 7, focused: false }), -1, "a browser in the background takes no attention");
  assert.equal(focusedWindowId(null), -1);
  assert.equal(focusedWindowId({ focused: true }), -1);
});
