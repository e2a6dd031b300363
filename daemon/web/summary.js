// Summary: totals grouped by day / ticket / company / work type / billable / status / period with their buckets,
// drill-down from any total to its entries (and an entry's audit trail), a chart of hours per day stacked by
// bucket (inline SVG, every day of the period; the table below is its text alternative), the period's dates with
// previous/next like the timesheet, and CSV/XLSX export links.

import { clock, dateTime, dayLabel } from "./dates.js";
import { api, download, el, entryEditor, entryLabel, flash, hm, query, sourceBadge, statusText, svg } from "./ui.js";

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
const cap = (text) => text[0].toUpperCase() + text.slice(1);

/** Hours per day of the period, stacked by bucket: every day has its slot (a day without time is a gap), the axis is
 * in hours. Its text alternative is the table named `tableName` (the caption says so; aria-describedby points there). */
function chart(rows, days, tableName) {
  // drawn at the page's width (1 unit = 1 px: the labels keep their size); it scales if the window changes
  const W = Math.max(480, Math.min(1400, (root?.clientWidth ?? 660) - 20));
  const H = 190;
  const left = 34;
  const bottom = H - 22;
  const top = 8;
  const byDay = new Map(rows.map((r) => [r.key, r]));
  const totalOf = (r) => BUCKETS.reduce((s, b) => s + (r?.buckets[b] ?? 0), 0);
  const maxH = Math.max(1, Math.ceil(Math.max(0, ...rows.map(totalOf)) / 3600));
  const step = maxH <= 4 ? 1 : maxH <= 8 ? 2 : maxH <= 20 ? 4 : Math.ceil(maxH / 5);
  const topH = Math.ceil(maxH / step) * step;
  const yOf = (seconds) => bottom - (seconds / (topH * 3600)) * (bottom - top);
  const slot = (W - left - 4) / Math.max(days.length, 1);
  const bw = Math.max(3, Math.min(48, slot - 4));
  const parts = [];
  for (let h = 0; h <= topH; h += step) {
    const y = yOf(h * 3600);
    parts.push(
      svg("line", { x1: left, y1: y, x2: W, y2: y, stroke: h ? "#e3e5e8" : "#888" }),
      svg("text", { x: left - 4, y: y + 4, "text-anchor": "end", "font-size": 10, fill: "#444" }, `${h}h`),
    );
  }
  const labelEvery = slot >= 38 ? 1 : Math.ceil(38 / slot);
  days.forEach((day, i) => {
    const x = left + 2 + i * slot + (slot - bw) / 2;
    const r = byDay.get(day);
    let acc = 0;
    for (const b of BUCKETS) {
      const v = r?.buckets[b] ?? 0;
      if (v <= 0) continue;
      const y1 = yOf(acc);
      acc += v;
      const y2 = yOf(acc);
      parts.push(
        svg(
          "rect",
          { x, y: y2, width: bw, height: Math.max(1, y1 - y2), fill: COLOURS[b], "data-day": day },
          svg("title", {}, `${dayLabel(day)}: ${b} ${hm(v)}`),
        ),
      );
    }
    if (i % labelEvery === 0)
      parts.push(
        svg(
          "text",
          { x: x + bw / 2, y: H - 8, "text-anchor": "middle", "font-size": 10, fill: "#333" },
          days.length > 10 ? dayLabel(day).split(" ")[1] : dayLabel(day).split(" ").slice(0, 2).join(" "),
        ),
      );
  });
  const svgNode = svg("svg", {
    viewBox: `0 0 ${W} ${H}`,
    width: "100%",
    preserveAspectRatio: "xMinYMid meet",
    role: "img",
    "aria-label": days.length
      ? `Chart: hours per day from ${dayLabel(days[0])} to ${dayLabel(days.at(-1))}, stacked by status`
      : "Chart: hours per day",
    "aria-describedby": "chart-cap",
  });
  svgNode.append(...parts);
  return el(
    "figure",
    { className: "chart", dataset: { days: String(days.length) } },
    svgNode,
    el(
      "figcaption",
      {},
      ...BUCKETS.map((b) =>
        el("span", { className: "legend" }, el("span", { className: `key key-${b}`, "aria-hidden": "true" }), b),
      ),
      el("span", { id: "chart-cap", className: "cap-text muted" }, `Figures: the table “${tableName}” below.`),
    ),
  );
}

async function drill(filter, base, title, out) {
  const data = await api("GET", `/api/v1/entries?${query({ ...base, ...filter, limit: 5000 })}`);
  const total = data.entries.reduce((s, e) => s + e.actual_seconds, 0);
  const heading = el("h2", {
    id: "drill-h",
    tabIndex: -1,
    textContent: `${title}: ${data.entries.length} entr${data.entries.length === 1 ? "y" : "ies"}, ${hm(total)}`,
  });
  if (!data.entries.length) {
    out.replaceChildren(heading, el("p", { className: "muted", textContent: "No entries behind this total." }));
    heading.focus();
    return;
  }
  out.replaceChildren(
    heading,
    el(
      "table",
      { className: "list drill", "aria-labelledby": "drill-h" },
      el(
        "thead",
        {},
        el(
          "tr",
          {},
          ...["When", "Ticket / task", "Summary", "Source", "Hours", "Status", ""].map((h) =>
            el("th", { scope: "col", className: h === "Hours" ? "num" : "", textContent: h }),
          ),
        ),
      ),
      el(
        "tbody",
        {},
        ...data.entries.flatMap((e) => {
          // the details open in a full-width row under the entry (an editor does not fit in a column)
          const detail = el("td", { colSpan: 7, className: "editor" });
          const detailRow = el("tr", { className: "detail", hidden: true, dataset: { detailOf: e.id } }, detail);
          const button = el("button", {
            type: "button",
            className: "link",
            textContent: "Details",
            "aria-expanded": "false",
            "aria-label": `Details of ${entryLabel(e)} at ${clock(e.started_at)}`,
            onclick: async () => {
              const open = detailRow.hidden;
              detailRow.hidden = !open;
              button.setAttribute("aria-expanded", String(open));
              if (!open) return;
              const x = await api("GET", `/api/v1/entries/${encodeURIComponent(e.id)}`);
              detail.replaceChildren(
                entryEditor(x.entry, x.history, { onSaved: () => flash("Entry saved: Show again to see new totals.") }),
              );
              detail.querySelector("details")?.setAttribute("open", "");
              detail.querySelector("input, textarea, summary")?.focus();
            },
          });
          const row = el(
            "tr",
            { dataset: { id: e.id, seconds: String(e.actual_seconds) } },
            el("td", { className: "nowrap", textContent: dateTime(e.started_at) }),
            el("th", { scope: "row", textContent: entryLabel(e) }),
            el("td", { textContent: e.summary || e.company || "" }),
            el("td", {}, sourceBadge(e)),
            el("td", { className: "num", textContent: hm(e.actual_seconds) }),
            el("td", { textContent: statusText(e.status) }),
            el("td", {}, button),
          );
          return [row, detailRow];
        }),
      ),
    ),
  );
  heading.focus();
}

function periodText(p) {
  return `${dayLabel(p.start)} – ${dayLabel(p.end)} ${p.end.slice(0, 4)}`;
}

async function load(params) {
  const group = GROUPS.includes(params.get("group")) ? params.get("group") : "day";
  const asked = params.get("period") || "current";
  // the period's dates, previous and next: the timesheet's own answer (one definition of periods, the daemon's)
  const sheet = await api("GET", `/api/v1/timesheets/${encodeURIComponent(asked)}`);
  const p = sheet.period;
  const period = p.id;
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
  const tableName = `Totals by ${GROUP_TEXT[group].toLowerCase()}, ${periodText(p)}`;
  const chartArgs = [(days ?? data).rows, sheet.days, tableName];
  const figure = rows.length ? chart(...chartArgs) : null;
  drawn = figure ? { figure, args: chartArgs } : null;
  const nav = (id, text, label) =>
    el("a", {
      className: "button",
      href: `/summary?${query({ period: id, group })}`,
      textContent: text,
      "aria-label": label,
    });
  root.replaceChildren(
    el(
      "div",
      { className: "period-bar" },
      nav(p.prev, "← Previous", "Previous period"),
      el("h2", { id: "period-h", textContent: periodText(p) }),
      nav(p.next, "Next →", "Next period"),
      el("span", {
        className: `pill ${p.state === "closed" ? "bad" : ""}`,
        textContent: p.state === "closed" ? "closed" : p.kind,
      }),
    ),
    el(
      "form",
      {
        className: "row options",
        "aria-label": "Summary options",
        onsubmit: (ev) => {
          ev.preventDefault();
          globalThis.ticketclockGo(`/summary?${query({ period, group: select.value })}`);
        },
      },
      el("label", { for: "group" }, "Group by "),
      select,
      el("button", { type: "submit", textContent: "Show" }),
      el("span", { className: "spacer" }),
      el(
        "span",
        { className: "exports" },
        el("span", { className: "muted" }, "Export:"),
        exportLink("Entries CSV", `/api/v1/entries/export?format=csv&${exportQ}`),
        exportLink("Entries XLSX", `/api/v1/entries/export?format=xlsx&${exportQ}`),
        exportLink("Summary CSV", `/api/v1/summary/export?format=csv&group=${group}&${exportQ}`),
        exportLink("Summary XLSX", `/api/v1/summary/export?format=xlsx&group=${group}&${exportQ}`),
      ),
    ),
    figure,
    rows.length
      ? el(
          "table",
          { className: "list summary", id: "summary-table" },
          el("caption", { className: "sr-only", textContent: tableName }),
          el(
            "thead",
            {},
            el(
              "tr",
              {},
              ...[GROUP_TEXT[group], "Entries", "Hours", "Billed", ...BUCKETS.map(cap)].map((h, i) =>
                el("th", { scope: "col", className: i ? "num" : "", textContent: h }),
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
        )
      : el("p", {
          className: "muted empty",
          textContent: "No time in this period. Use ← Previous to look back, or add time on the Timesheet.",
        }),
    out,
  );
}

let drawn = null; // the chart's figure and its arguments, redrawn at the page's width when the window changes
let resizeTimer = null;
function onResize() {
  cancelAnimationFrame(resizeTimer);
  resizeTimer = requestAnimationFrame(() => {
    if (!drawn?.figure.isConnected) return;
    const figure = chart(...drawn.args);
    drawn.figure.replaceWith(figure);
    drawn.figure = figure;
  });
}

export async function render(main, params) {
  root = el("div", { className: "summary-page" });
  main.append(root);
  window.addEventListener("resize", onResize);
  await load(params);
}

export function leave() {
  window.removeEventListener("resize", onResize);
  cancelAnimationFrame(resizeTimer);
  drawn = null;
}
