import { test } from "node:test";
import assert from "node:assert/strict";
import {
  attendedTimer,
  badgeFor,
  formatClock,
  formatElapsed,
  heldText,
  isHeld,
  liveElapsed,
  noticeTitle,
  stateText,
  timerLabel,
} from "../lib/format.js";

test("elapsed as h:mm:ss", () => {
  assert.equal(formatElapsed(0), "0:00:00");
  assert.equal(formatElapsed(59.9), "0:00:59");
  assert.equal(formatElapsed(61), "0:01:01");
  assert.equal(formatElapsed(3600 * 12 + 5 * 60 + 7), "12:05:07");
  assert.equal(formatElapsed(-5), "0:00:00");
  assert.equal(formatElapsed(NaN), "0:00:00");
});

test("live elapsed adds the local delta only while running", () => {
  assert.equal(liveElapsed({ elapsed_s: 100, as_of: 1000, running: true }, 1030), 130);
  assert.equal(liveElapsed({ elapsed_s: 100, as_of: 1000, running: false }, 1030), 100);
  assert.equal(liveElapsed({ elapsed_s: 100, as_of: 1000, running: true }, 990), 100, "clock skew never subtracts");
});

test("labels", () => {
  assert.equal(timerLabel({ label: "#12345" }), "#12345");
  assert.equal(timerLabel({ label: "", ticket: { id: 5 } }), "#5");
  assert.equal(timerLabel({ label: "", ticket: { id: null, number: "T2024.1" } }), "#T2024.1");
  assert.equal(timerLabel({ label: "", ticket: null, task: "Admin" }), "Admin");
});

test("state text names why a timer is paused", () => {
  assert.equal(stateText({ state: "running" }), "running");
  assert.equal(stateText({ state: "paused", paused_by: "idle" }), "paused (away)");
  assert.equal(stateText({ state: "paused", paused_by: null }), "paused");
});

test("badge: number running, in the most recently attended running timer's colour", () => {
  const timers = [
    { id: "a", running: true, colour: "#e6194b", last_attended: 10, state: "running" },
    { id: "b", running: true, colour: "#3cb44b", last_attended: 20, state: "running" },
    { id: "c", running: false, colour: "#4363d8", last_attended: 30, state: "paused" },
  ];
  assert.deepEqual(badgeFor(timers), { text: "2", colour: "#3cb44b" });
  assert.equal(badgeFor([]).text, "");
  assert.equal(attendedTimer(timers).id, "b");
  assert.equal(attendedTimer(timers, { runningOnly: false }).id, "c");
});

test("a closed ticket's timer is held; the popup says until when and that reopening continues it", () => {
  assert.equal(isHeld({ kind: "auto", state: "closing" }), true);
  assert.equal(isHeld({ kind: "auto", state: "stopped" }), true);
  assert.equal(isHeld({ kind: "auto", state: "running" }), false);
  assert.equal(isHeld({ kind: "manual", state: "paused" }), false);
  assert.equal(stateText({ kind: "auto", state: "stopped" }), "ticket closed");
  const at = 1_780_000_000;
  assert.equal(heldText({ held_until: at }), `held until ${formatClock(at)} — reopening continues it`);
  assert.equal(heldText({ held_until: null }), "held until the browser is back — reopening continues it");
  assert.equal(heldText(undefined), "closed — reopening continues it");
  assert.equal(
    heldText({ held_until: at, status_reason: "too_short" }),
    `held until ${formatClock(at)} — reopening continues it; too short to post so far`,
  );
});

test("notice titles name what changed billed time; unknown codes still get one", () => {
  assert.equal(noticeTitle({ code: "evicted" }), "Timer stopped: 9 timers at once");
  assert.equal(noticeTitle({ code: "something_new" }), "TicketClock");
});
