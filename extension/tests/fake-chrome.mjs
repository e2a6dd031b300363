// A tiny in-memory stand-in for chrome.storage (local and session), enough for lib/settings.js.

function area() {
  let data = {};
  const clone = (v) => (v === undefined ? v : structuredClone(v));
  return {
    async get(keys) {
      if (keys == null) return clone(data);
      const list = typeof keys === "string" ? [keys] : Array.isArray(keys) ? keys : Object.keys(keys);
      const out = {};
      for (const k of list) {
        if (k in data) out[k] = clone(data[k]);
        else if (keys && typeof keys === "object" && !Array.isArray(keys)) out[k] = keys[k];
      }
      return out;
    },
    async set(items) {
      await null; // writes are asynchronous in Chrome too
      for (const [k, v] of Object.entries(items)) data[k] = clone(v);
    },
    async remove(keys) {
      for (const k of [].concat(keys)) delete data[k];
    },
    async clear() {
      data = {};
    },
    dump: () => clone(data),
  };
}

export function installFakeChrome() {
  const chrome = { storage: { local: area(), session: area() } };
  globalThis.chrome = chrome;
  return chrome;
}
