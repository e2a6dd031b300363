// The outgoing event queue, as pure functions over a plain object that lives in chrome.storage.local.
//
//   { events: [<event with seq>, ...], overflow: <events dropped because the queue was full>, overflowSince }
//
// Events stay queued until the daemon acknowledges their seq. When the queue is full the OLDEST events are
// kept (they carry the start of the story; a fresh snapshot on reconnect repairs the end) and every refused
// event is counted so the popup and a notification can say that time may be missing.

export const QUEUE_CAP = 5000;
export const MAX_BATCH = 1000; // daemon/timers/events.py MAX_BATCH
export const MAX_BATCH_BYTES = 900_000; // below the daemon's 1,000,000-byte frame limit

export function emptyQueue() {
  return { events: [], overflow: 0, overflowSince: null };
}

/** A queue read from storage, repaired into the expected shape. */
export function normalise(value) {
  if (!value || !Array.isArray(value.events)) return emptyQueue();
  return {
    events: value.events,
    overflow: Number.isInteger(value.overflow) ? value.overflow : 0,
    overflowSince: typeof value.overflowSince === "number" ? value.overflowSince : null,
  };
}

/**
 * Append events (already numbered) to the queue; returns { queue, accepted, dropped }.
 * Every heartbeat is kept, offline ones too: the daemon credits an attended ticket only across gaps shorter than
 * two heartbeat intervals, so the heartbeats are what proves the technician was there while it was down. At one
 * every 30 s (the alarm), the cap holds well over a day of them.
 */
export function push(queue, events, { cap = QUEUE_CAP, now = null } = {}) {
  const list = queue.events.slice();
  let dropped = 0;
  const accepted = [];
  for (const event of events) {
    const n = list.length;
    if (n < cap) {
      list.push(event);
      accepted.push(event);
    } else {
      dropped += 1;
    }
  }
  const overflow = queue.overflow + dropped;
  const overflowSince = dropped && queue.overflowSince === null ? now : queue.overflowSince;
  return { queue: { events: list, overflow, overflowSince }, accepted, dropped };
}

/** Remove every event the daemon has applied (seq <= acked). */
export function trimAcked(queue, acked) {
  if (typeof acked !== "number") return queue;
  return { ...queue, events: queue.events.filter((e) => e.seq > acked) };
}

/** Remove events the daemon said it will never accept. */
export function dropSeqs(queue, seqs) {
  const gone = new Set(seqs);
  return { ...queue, events: queue.events.filter((e) => !gone.has(e.seq)) };
}

/** Events not yet sent on this connection (seq above the last one sent), in order. */
export function unsent(queue, sentUpTo) {
  return queue.events.filter((e) => e.seq > sentUpTo);
}

const encoder = new TextEncoder();

/** Split events into batches of at most MAX_BATCH events and about maxBytes of JSON, keeping order. */
export function batches(events, { maxCount = MAX_BATCH, maxBytes = MAX_BATCH_BYTES } = {}) {
  const out = [];
  let current = [];
  let bytes = 0;
  for (const event of events) {
    const size = encoder.encode(JSON.stringify(event)).length + 1;
    if (current.length && (current.length >= maxCount || bytes + size > maxBytes)) {
      out.push(current);
      current = [];
      bytes = 0;
    }
    current.push(event);
    bytes += size;
  }
  if (current.length) out.push(current);
  return out;
}

/**
 * The batch messages that send `events` (queued, in seq order) after `sentUpTo`, the highest seq already sent on
 * this connection (or acknowledged). Each carries `after`: seqs up to it are not coming, so the daemon applies
 * the batch even where seqs jump (events refused or dropped for good), yet refuses it with `seq_gap` if anything
 * sent before it was not applied. The contract is in daemon/timers/events.py.
 */
export function batchMessages(install, events, sentUpTo, limits = {}) {
  const out = [];
  let after = sentUpTo;
  for (const chunk of batches(events, limits)) {
    out.push({ type: "batch", install, events: chunk, after });
    after = chunk[chunk.length - 1].seq;
  }
  return out;
}

/** After a `seq_gap` refusal naming `expected`: the new "sent up to", so everything from `expected` is resent. */
export function resendPoint(sentUpTo, expected) {
  return Number.isInteger(expected) && expected >= 1 ? Math.min(sentUpTo, expected - 1) : sentUpTo;
}
