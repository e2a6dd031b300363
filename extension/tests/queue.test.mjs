import { test } from "node:test";
import assert from "node:assert/strict";
import {
  batchMessages,
  batches,
  dropSeqs,
  emptyQueue,
  normalise,
  push,
  resendPoint,
  trimAcked,
  unsent,
} from "../lib/queue.js";

const ev = (seq, type = "tab_updated") => ({ type, seq, at: 1000 + seq });

test("push appends in order", () => {
  const { queue, accepted, dropped } = push(emptyQueue(), [ev(1), ev(2), ev(3)]);
  assert.deepEqual(
    queue.events.map((e) => e.seq),
    [1, 2, 3],
  );
  assert.equal(accepted.length, 3);
  assert.equal(dropped, 0);
  assert.equal(queue.overflow, 0);
});

test("a full queue keeps the oldest events and counts the overflow", () => {
  let q = push(emptyQueue(), [ev(1), ev(2), ev(3)], { cap: 3 }).queue;
  const r = push(q, [ev(4), ev(5)], { cap: 3, now: 55 });
  q = r.queue;
  assert.deepEqual(
    q.events.map((e) => e.seq),
    [1, 2, 3],
  );
  assert.equal(r.dropped, 2);
  assert.equal(q.overflow, 2);
  assert.equal(q.overflowSince, 55);
  q = push(q, [ev(6)], { cap: 3, now: 99 }).queue;
  assert.equal(q.overflow, 3);
  assert.equal(q.overflowSince, 55, "the first overflow time is kept");
});

test("push does not mutate its input", () => {
  const q = emptyQueue();
  push(q, [ev(1)]);
  assert.deepEqual(q, emptyQueue());
});

test("ack trims everything up to and including the acked seq", () => {
  const q = push(emptyQueue(), [ev(1), ev(2), ev(3), ev(4)]).queue;
  assert.deepEqual(
    trimAcked(q, 2).events.map((e) => e.seq),
    [3, 4],
  );
  assert.deepEqual(trimAcked(q, 0).events.length, 4);
  assert.deepEqual(trimAcked(q, 10).events.length, 0);
  assert.equal(trimAcked(q, undefined), q);
});

test("ack frees room for new events", () => {
  let q = push(emptyQueue(), [ev(1), ev(2)], { cap: 2 }).queue;
  q = trimAcked(q, 1);
  const r = push(q, [ev(3)], { cap: 2 });
  assert.equal(r.dropped, 0);
  assert.deepEqual(
    r.queue.events.map((e) => e.seq),
    [2, 3],
  );
});

test("dropSeqs removes refused events only", () => {
  const q = push(emptyQueue(), [ev(1), ev(2), ev(3)]).queue;
  assert.deepEqual(
    dropSeqs(q, [2]).events.map((e) => e.seq),
    [1, 3],
  );
});

test("unsent gives the events after the last sent seq, in order", () => {
  const q = push(emptyQueue(), [ev(4), ev(5), ev(6)]).queue;
  assert.deepEqual(
    unsent(q, 4).map((e) => e.seq),
    [5, 6],
  );
});

test("offline heartbeats are all kept: they prove presence to the daemon", () => {
  let q = emptyQueue();
  for (let seq = 1; seq <= 10; seq++) q = push(q, [ev(seq, "heartbeat")]).queue;
  assert.deepEqual(
    q.events.map((e) => e.seq),
    [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
  );
});

test("batches respect the count and byte limits and keep order", () => {
  const events = Array.from({ length: 2500 }, (_, i) => ev(i + 1));
  const out = batches(events);
  assert.deepEqual(
    out.map((b) => b.length),
    [1000, 1000, 500],
  );
  assert.deepEqual(out.flat(), events);
  const big = Array.from({ length: 5 }, (_, i) => ({ ...ev(i + 1), url: "x".repeat(400) }));
  const small = batches(big, { maxBytes: 1000 });
  assert.ok(small.every((b) => b.length <= 2));
  assert.deepEqual(small.flat(), big);
  assert.deepEqual(batches([]), []);
});

test("normalise repairs whatever storage held", () => {
  assert.deepEqual(normalise(undefined), emptyQueue());
  assert.deepEqual(normalise({ events: "x" }), emptyQueue());
  assert.deepEqual(normalise({ events: [ev(1)], overflow: 2, overflowSince: 5 }).overflow, 2);
});

// The daemon's acknowledgement contract (daemon/timers/events.py, fresh_events), as the extension relies on it.
function daemonApplies(state, message) {
  const fresh = message.events.filter((e) => e.seq > state.acked).sort((a, b) => a.seq - b.seq);
  if (fresh.length && fresh[0].seq !== state.acked + 1 && !(message.after <= state.acked)) {
    return { type: "error", code: "seq_gap", details: { expected: state.acked + 1 } };
  }
  for (const e of fresh) state.applied.push(e.seq);
  if (fresh.length) state.acked = fresh[fresh.length - 1].seq;
  return { type: "ack", seq: state.acked };
}

test("batch messages say which seqs are not coming, so dropped seqs do not stall the daemon", () => {
  const events = [1, 2, 3, 6, 7, 9].map((s) => ev(s));
  const messages = batchMessages("inst", events, 0, { maxCount: 2 });
  assert.deepEqual(
    messages.map((m) => [m.after, m.events.map((e) => e.seq)]),
    [
      [0, [1, 2]],
      [2, [3, 6]],
      [6, [7, 9]],
    ],
  );
  assert.ok(messages.every((m) => m.type === "batch" && m.install === "inst"));
  const daemon = { acked: 0, applied: [] };
  for (const m of messages) assert.equal(daemonApplies(daemon, m).type, "ack");
  assert.deepEqual(daemon.applied, [1, 2, 3, 6, 7, 9]);
});

test("a seq_gap refusal leads to a resend from the expected seq: nothing is lost or applied twice", () => {
  const queue = push(
    emptyQueue(),
    [1, 2, 3, 4, 5, 6].map((s) => ev(s)),
  ).queue;
  const daemon = { acked: 0, applied: [] };
  let sentUpTo = 0;
  const messages = batchMessages("inst", unsent(queue, sentUpTo), sentUpTo, { maxCount: 2 });
  sentUpTo = 6;
  // The first batch is lost on the way (or overtaken): the next one must not be acknowledged.
  const reply = daemonApplies(daemon, messages[1]);
  assert.deepEqual(reply, { type: "error", code: "seq_gap", details: { expected: 1 } });
  assert.equal(daemon.acked, 0);
  sentUpTo = resendPoint(sentUpTo, reply.details.expected);
  assert.equal(sentUpTo, 0);
  for (const m of batchMessages("inst", unsent(queue, sentUpTo), sentUpTo, { maxCount: 2 })) {
    assert.equal(daemonApplies(daemon, m).type, "ack");
  }
  // The stale third batch arrives late: only repeats, acknowledged without applying anything again.
  assert.deepEqual(daemonApplies(daemon, messages[2]), { type: "ack", seq: 6 });
  assert.deepEqual(daemon.applied, [1, 2, 3, 4, 5, 6]);
});

test("resendPoint never moves forward and ignores a malformed refusal", () => {
  assert.equal(resendPoint(10, 4), 3);
  assert.equal(resendPoint(2, 9), 2);
  assert.equal(resendPoint(5, undefined), 5);
  assert.equal(resendPoint(5, "3"), 5);
});
