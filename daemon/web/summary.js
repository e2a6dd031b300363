// Summary: totals grouped by day / ticket / company / work type / billable / status / period with their buckets,
// drill-down from any total to its entries (and an entry's audit trail), a chart of hours per day stacked by
// bucket (inline SVG), and CSV/XLSX export links.

import { api, clock, dayLabel, download, el, entryEditor, entryLabel, flash, hm, query, svg } from "./ui.js";

function exportLink(text, path) {
  return el("a", {
    className: "button",
    href: path,
    textContent: text,
    dataset: { download: "1" },
    onclick: (ev) => {
      ev.preventDefault();
      download(path).catch((err) => flash(err.message, { error: true }));
    },
  });
}

function localDay(epoch) {
  const d = new Date(epoch * 1000);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
}

const BUCKETS = ["pending", "submitted", "approved", "posted", "failed", "voided"];
const COLOURS = {
  pending: "#8a8f98",
  submitted: "#2f6fb2",
  approved: "#6a4fb0",
  posted: "#1f7a45",
  failed: "#b3261e",
  voided: "#c9ccd1",
};
const GROUPS = ["day", "ticket", "company", "work_type", "billable", "status", "period"];
const GROUP_TEXT = {
  day: "Day",
  ticket: "Ticket",
  company: "Company",
  work_type: "Work type",
  billable: "Billable",
  status: "Status",
  period: "Period",
};
let root = null;

function chart(rows) {
  const W = 640;
  const H = 180;
  const max = Math.max(3600, ...rows.map((r) => BUCKETS.reduce((s, b) => s + (r.buckets[b] ?? 0), 0)));
  const bw = Math.min(56, Math.max(4, Math.floor((W - 40) / Math.max(rows.length, 1)) - 4));
  const bars = [];
  rows.forEach((r, i) => {
    let y = H - 20;
    const x = 36 + i * (bw + 4);
    for (const b of BUCKETS) {
      const h = ((r.buckets[b] ?? 0) / max) * (H - 30);
      if (h <= 0) continue;
      y -= h;
      bars.push(
        svg(
          "rect",
          { x, y, width: bw, height: h, fill: COLOURS[b] },
          svg("title", {}, `${r.label}: ${b} ${hm(r.buckets[b])}`),
        ),
      );
    }
    bars.push(
      svg(
        "text",
        { x: x + bw / 2, y: H - 6, "text-anchor": "middle", "font-size": 10, fill: "#333" },
        r.label.split(" ").slice(0, 2).join(" "),
      ),
    );
  });
  const desc = rows.map((r) => `${r.label}: ${hm(r.seconds)}`).join("; ");
  return el(
    "figure",
    { className: "chart" },
    svg(
      "svg",
      {
        viewBox: `0 0 ${W} ${H}`,
        role: "img",
        "aria-label": `Hours per day, stacked by status. ${desc}`,
        width: "100%",
      },
      svg("text", { x: 0, y: 12, "font-size": 10, fill: "#333" }, hm(max)),
      svg("line", { x1: 32, y1: H - 20, x2: W, y2: H - 20, stroke: "#999" }),
      ...bars,
    ),
    el(
      "figcaption",
      {},
      ...BUCKETS.map((b) =>
        el("span", { className: "legend" }, el("span", { className: `key key-${b}`, "aria-hidden": "true" }), b),
      ),
    ),
  );
}

async function drill(filter, base, title, out) {
  const data = await api("GET", `/api/v1/entries?${query({ ...base, ...filter, limit: 5000 })}`);
  const total = data.entries.reduce((s, e) => s + e.actual_seconds, 0);
  out.replaceChildren(
    el("h2", {
      id: "drill-h",
      tabIndex: -1,
      textContent: `${title}: ${data.entries.length} entr${data.entries.length === 1 ? "y" : "ies"}, ${hm(total)}`,
    }),
    el(
      "table",
      { className: "list drill", "aria-labelledby": "drill-h" },
      el(
        "thead",
        {},
        el(
          "tr",
          {},
          ...["When", "Ticket / task", "Summary", "Hours", "Status", ""].map((h) =>
            el("th", { scope: "col", textContent: h }),
          ),
        ),
      ),
      el(
        "tbody",
        {},
        ...data.entries.map((e) => {
          const cell = el("td");
          cell.append(
            el("button", {
              type: "button",
              className: "link",
              textContent: "Details",
              "aria-label": `Details of ${entryLabel(e)} at ${clock(e.started_at)}`,
              onclick: async () => {
                const x = await api("GET", `/api/v1/entries/${encodeURIComponent(e.id)}`);
                cell.replaceChildren(entryEditor(x.entry, x.history, { readOnly: true }));
                cell.querySelector("details")?.setAttribute("open", "");
              },
            }),
          );
          return el(
            "tr",
            { dataset: { id: e.id, seconds: String(e.actual_seconds) } },
            el("td", { textContent: `${dayLabel(localDay(e.started_at))} ${clock(e.started_at)}` }),
            el("th", { scope: "row", textContent: entryLabel(e) }),
            el("td", { textContent: e.summary }),
            el("td", { className: "num", textContent: hm(e.actual_seconds) }),
            el("td", { textContent: e.status }),
            cell,
          );
        }),
      ),
    ),
  );
  out.querySelector("h2").focus();
}

async function load(params) {
  const group = GROUPS.includes(params.get("group")) ? params.get("group") : "day";
  const period = params.get("period") || "current";
  const base = { period };
  const [data, days] = await Promise.all([
    api("GET", `/api/v1/summary?${query({ period, group })}`),
    group === "day" ? null : api("GET", `/api/v1/summary?${query({ period, group: "day" })}`),
  ]);
  const select = el(
    "select",
    { id: "group", name: "group" },
    ...GROUPS.map((g) => el("option", { value: g, textContent: GROUP_TEXT[g] })),
  );
  select.value = group;
  const periodInput = el("input", { id: "period", name: "period", value: period, size: 12 });
  const out = el("section", { className: "drill-out", "aria-live": "polite" });
  const rows = data.rows.map((r) =>
    el(
      "tr",
      { dataset: { key: r.key } },
      el("th", { scope: "row", textContent: r.label }),
      el("td", { className: "num", textContent: String(r.count) }),
      el(
        "td",
        { className: "num" },
        el("button", {
          type: "button",
          className: "link total",
          textContent: hm(r.seconds),
          "aria-label": `${hm(r.seconds)} for ${r.label}: show the entries`,
          onclick: () => drill(r.filter, base, r.label, out),
        }),
      ),
      el("td", { className: "num", textContent: hm(r.billed_seconds) }),
      ...BUCKETS.map((b) => el("td", { className: "num", textContent: r.buckets[b] ? hm(r.buckets[b]) : "" })),
    ),
  );
  const exportQ = query({ period });
  root.replaceChildren(
    el(
      "form",
      { className: "row", method: "get", action: "/summary", "aria-label": "Summary options" },
      el("label", { for: "period" }, "Period "),
      periodInput,
      el("label", { for: "group" }, "Group by "),
      select,
      el("button", { type: "submit", textContent: "Show" }),
      exportLink("Entries CSV", `/api/v1/entries/export?format=csv&${exportQ}`),
      exportLink("Entries XLSX", `/api/v1/entries/export?format=xlsx&${exportQ}`),
      exportLink("Summary CSV", `/api/v1/summary/export?format=csv&group=${group}&${exportQ}`),
      exportLink("Summary XLSX", `/api/v1/summary/export?format=xlsx&group=${group}&${exportQ}`),
    ),
    chart((days ?? data).rows),
    el(
      "table",
      { className: "list summary" },
      el(
        "thead",
        {},
        el(
          "tr",
          {},
          ...[GROUP_TEXT[group], "Entries", "Hours", "Billed", ...BUCKETS].map((h) =>
            el("th", { scope: "col", textContent: h }),
          ),
        ),
      ),
      el("tbody", {}, ...rows),
      el(
        "tfoot",
        {},
        el(
          "tr",
          {},
          el("th", { scope: "row", textContent: "Total" }),
          el("td", { className: "num", textContent: String(data.totals.count) }),
          el("td", { className: "num", textContent: hm(data.totals.seconds) }),
          el("td", { className: "num", textContent: hm(data.totals.billed_seconds) }),
          ...BUCKETS.map((b) =>
            el("td", { className: "num", textContent: data.totals.buckets[b] ? hm(data.totals.buckets[b]) : "" }),
          ),
        ),
      ),
    ),
    out,
  );
  root.querySelector("form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    globalThis.ticketclockGo(`/summary?${query({ period: periodInput.value.trim(), group: select.value })}`);
  });
}

export async function render(main, params) {
  root = el("div", { className: "summary-page" });
  main.append(root);
  await load(params);
}
