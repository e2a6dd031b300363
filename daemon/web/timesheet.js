// Timesheet: the grid of a period (rows tickets / work orders / tasks × days, hours in cells). Type a duration
// into a cell and press Enter: PUT …/cells sets the cell's total (errors appear beside the cell and change
// nothing). Arrow keys move between cells; Shift+Enter (or the cell's ▸ button) opens its entries to edit.
// performance.mark("timesheet-grid") is set when the grid is in the DOM (bench/web_timesheet_bench.py).

import { dayLabel } from "./dates.js";
import { api, el, entryEditor, flash, hm } from "./ui.js";

let sheet = null;
let root = null;
let extraRows = [];

function rowLabel(row) {
  if (row.kind === "task") return row.task;
  const n = row.ticket_number ?? row.ticket_id;
  return `#${n}`;
}

function rowRef(row) {
  if (row.kind === "task") return { task: row.task };
  return { instance: row.instance, ticket: String(row.ticket_number ?? row.ticket_id) };
}

function periodText(p) {
  return `${dayLabel(p.start)} – ${dayLabel(p.end)} ${p.end.slice(0, 4)}`;
}

function cellId(r, d) {
  return `c-${r}-${d}`;
}

function moveFocus(input, dr, dd) {
  const r = Number(input.dataset.r) + dr;
  const d = Number(input.dataset.d) + dd;
  const next = document.getElementById(cellId(r, d));
  if (next) {
    next.focus();
    next.select();
  }
}

async function saveCell(input, row) {
  const err = document.getElementById(`${input.id}-err`);
  const day = sheet.days[Number(input.dataset.d)];
  try {
    const updated = await api("PUT", `/api/v1/timesheets/${sheet.period.id}/cells`, {
      row: rowRef(row),
      day,
      duration: input.value.trim() || "0",
    });
    err.textContent = "";
    input.removeAttribute("aria-invalid");
    flash(`Saved ${rowLabel(row)} on ${dayLabel(day)}.`);
    const r = Number(input.dataset.r);
    await load(sheet.period.id, { focus: cellId(r, Number(input.dataset.d)), updated });
  } catch (e) {
    err.textContent = e.message;
    input.setAttribute("aria-invalid", "true");
  }
}

function onKey(ev, row) {
  const input = ev.target;
  if (ev.key === "Enter" && ev.shiftKey) {
    ev.preventDefault();
    openEntries(row, Number(input.dataset.d), input);
  } else if (ev.key === "Enter") {
    ev.preventDefault();
    if (!input.readOnly) saveCell(input, row);
  } else if (ev.key === "Escape") {
    input.value = input.defaultValue;
    document.getElementById(`${input.id}-err`).textContent = "";
    input.removeAttribute("aria-invalid");
  } else if (ev.key === "ArrowUp") {
    ev.preventDefault();
    moveFocus(input, -1, 0);
  } else if (ev.key === "ArrowDown") {
    ev.preventDefault();
    moveFocus(input, 1, 0);
  } else if (ev.key === "ArrowLeft" && (input.selectionStart === 0 || input.readOnly)) {
    ev.preventDefault();
    moveFocus(input, 0, -1);
  } else if (ev.key === "ArrowRight" && (input.selectionEnd === input.value.length || input.readOnly)) {
    ev.preventDefault();
    moveFocus(input, 0, 1);
  }
}

async function openEntries(row, d, from) {
  const cell = row.cells[d];
  const dialog = root.querySelector("dialog");
  const list = dialog.querySelector(".entries");
  dialog.querySelector("h2").textContent = `${rowLabel(row)} on ${dayLabel(sheet.days[d])}`;
  list.replaceChildren(el("p", { className: "muted", textContent: "Loading…" }));
  dialog.returnFocus = from;
  dialog.showModal();
  const ids = cell?.entries ?? [];
  const details = await Promise.all(ids.map((id) => api("GET", `/api/v1/entries/${encodeURIComponent(id)}`)));
  list.replaceChildren(
    ...(details.length
      ? details.map((x) =>
          entryEditor(x.entry, x.history, {
            readOnly: sheet.period.state === "closed",
            onSaved: () => (dialog.dataset.changed = "1"),
          }),
        )
      : [el("p", { className: "muted", textContent: "No entries in this cell. Type hours into it to add one." })]),
  );
}

function buildGrid() {
  const closed = sheet.period.state === "closed";
  const rows = [...sheet.rows, ...extraRows.filter((x) => !sheet.rows.some((r) => r.key === x.key))];
  const thead = el(
    "thead",
    {},
    el(
      "tr",
      {},
      el("th", { scope: "col", textContent: "Ticket / task" }),
      ...sheet.days.map((d) => el("th", { scope: "col", className: "num", textContent: dayLabel(d) })),
      el("th", { scope: "col", className: "num", textContent: "Total" }),
    ),
  );
  const tbody = el("tbody");
  const frag = document.createDocumentFragment();
  rows.forEach((row, r) => {
    const label = rowLabel(row);
    const tr = el(
      "tr",
      { dataset: { key: row.key } },
      el(
        "th",
        { scope: "row" },
        el("span", { className: "row-label", textContent: label }),
        el("span", { className: "row-sub", textContent: [row.summary, row.company].filter(Boolean).join(" — ") }),
      ),
    );
    sheet.days.forEach((day, d) => {
      const cell = row.cells.find((c) => c.day === day) ?? { day, seconds: 0, entries: [] };
      row.cells[d] = cell;
      const id = cellId(r, d);
      const input = el("input", {
        id,
        className: "cell",
        value: cell.seconds ? hm(cell.seconds) : "",
        readOnly: closed,
        autocomplete: "off",
        "aria-label": `${label}, ${dayLabel(day)}`,
        "aria-describedby": `${id}-err`,
        dataset: { r: String(r), d: String(d) },
      });
      input.defaultValue = input.value;
      input.addEventListener("keydown", (ev) => onKey(ev, row));
      input.addEventListener("focus", () => input.select());
      const td = el(
        "td",
        { className: cell.statuses?.some((s) => s !== "pending") ? "cell-td locked" : "cell-td" },
        input,
        cell.entries.length
          ? el("button", {
              type: "button",
              className: "open-cell",
              tabIndex: -1,
              textContent: "▸",
              "aria-label": `Entries of ${label} on ${dayLabel(day)}`,
              onclick: () => openEntries(row, d, input),
            })
          : null,
        el("span", { className: "cell-error", id: `${id}-err`, role: "alert" }),
      );
      tr.append(td);
    });
    tr.append(el("td", { className: "num total", textContent: hm(row.total_seconds ?? 0) }));
    frag.append(tr);
  });
  tbody.append(frag);
  if (!rows.length)
    tbody.append(
      el(
        "tr",
        { className: "empty" },
        el("td", {
          colSpan: sheet.days.length + 2,
          className: "muted",
          textContent: closed
            ? "No time in this period."
            : "No time in this period yet. Add a row below (a ticket number or a task), then type hours into its cells.",
        }),
      ),
    );
  const tfoot = el(
    "tfoot",
    {},
    el(
      "tr",
      {},
      el("th", { scope: "row", textContent: "Total" }),
      ...sheet.totals.days.map((s) => el("td", { className: "num", textContent: hm(s) })),
      el("td", { className: "num total", textContent: hm(sheet.totals.seconds) }),
    ),
  );
  return el("table", { className: "grid", "aria-label": `Timesheet ${periodText(sheet.period)}` }, thead, tbody, tfoot);
}

function addRowForm() {
  const ticket = el("input", { id: "add-ticket", inputMode: "numeric", size: 8 });
  const instance = el(
    "select",
    { id: "add-instance" },
    ...sheet.instances.map((n) => el("option", { value: n, textContent: n })),
  );
  instance.hidden = sheet.instances.length <= 1;
  const task = el("input", { id: "add-task", size: 16, autocomplete: "off" });
  task.setAttribute("list", "task-list");
  const taskList = el("datalist", { id: "task-list" }, ...sheet.tasks.map((t) => el("option", { value: t })));
  return el(
    "form",
    {
      className: "row add-row",
      "aria-label": "Add a row",
      onsubmit: (ev) => {
        ev.preventDefault();
        const t = ticket.value.trim().replace(/^#/, "");
        const k = task.value.trim();
        if (!t && !k) return flash("Type a ticket number or a task.", { error: true });
        const row = t
          ? {
              key: `ticket:${instance.value}:${t}`,
              kind: "ticket",
              instance: instance.value,
              ticket_id: null,
              ticket_number: t,
              task: null,
              summary: "",
              company: "",
              cells: [],
              total_seconds: 0,
            }
          : {
              key: `task:${k}`,
              kind: "task",
              instance: "",
              ticket_id: null,
              ticket_number: null,
              task: k,
              summary: "",
              company: "",
              cells: [],
              total_seconds: 0,
            };
        if (!extraRows.some((x) => x.key === row.key)) extraRows.push(row);
        draw();
        const r = [...root.querySelectorAll("tbody tr")].findIndex((tr) => tr.dataset.key === row.key);
        document.getElementById(cellId(Math.max(r, 0), 0))?.focus();
      },
    },
    el("label", { for: "add-ticket" }, "Ticket "),
    ticket,
    instance.hidden ? null : el("label", { for: "add-instance", className: "sr-only" }, "PSA instance"),
    instance,
    el("span", { className: "muted" }, "or"),
    el("label", { for: "add-task" }, "Task "),
    task,
    taskList,
    el("button", { type: "submit", textContent: "Add row" }),
  );
}

function draw() {
  const p = sheet.period;
  const closed = p.state === "closed";
  const head = el(
    "div",
    { className: "period-bar" },
    el("a", {
      className: "button",
      href: `/timesheet?period=${p.prev}`,
      textContent: "← Previous",
      "aria-label": "Previous period",
    }),
    el("h2", { id: "period-h", textContent: periodText(p) }),
    el("a", {
      className: "button",
      href: `/timesheet?period=${p.next}`,
      textContent: "Next →",
      "aria-label": "Next period",
    }),
    el("span", { className: `pill ${closed ? "bad" : ""}`, textContent: closed ? "closed" : p.kind }),
    closed
      ? null
      : el("button", {
          type: "button",
          id: "submit-period",
          className: "primary",
          textContent: "Submit period",
          onclick: async () => {
            try {
              const res = await api("POST", `/api/v1/timesheets/${p.id}/submit`);
              await load(p.id);
              flash(`Submitted ${res.submitted} entr${res.submitted === 1 ? "y" : "ies"} for approval.`);
            } catch (e) {
              flash(e.message, { error: true });
            }
          },
        }),
  );
  const dialog = el(
    "dialog",
    { "aria-labelledby": "dlg-h" },
    el("h2", { id: "dlg-h" }),
    el("div", { className: "entries" }),
    el("form", { method: "dialog" }, el("button", { textContent: "Close" })),
  );
  dialog.addEventListener("close", async () => {
    const back = dialog.returnFocus;
    if (dialog.dataset.changed) await load(p.id, { focus: back?.id });
    else back?.focus();
  });
  const parts = [
    head,
    closed ? el("p", { className: "notice", textContent: "This period is closed: it is shown read-only." }) : null,
    el("p", {
      className: "muted help",
      textContent: closed
        ? "Arrow keys move between cells; Shift+Enter shows a cell's entries."
        : "Type hours (1:30, 1.5, 90m) and press Enter. Arrow keys move between cells; Shift+Enter opens a cell's entries.",
    }),
    el("div", { className: "grid-wrap" }, buildGrid()),
    closed ? null : addRowForm(),
    dialog,
  ];
  root.replaceChildren(...parts.filter(Boolean));
  performance.mark("timesheet-grid");
  document.body.dataset.grid = String(performance.now());
}

async function load(period, { focus } = {}) {
  const [data, psa] = await Promise.all([
    api("GET", `/api/v1/timesheets/${encodeURIComponent(period)}`),
    sheet?.instances ? Promise.resolve(null) : api("GET", "/api/v1/psa").catch(() => null),
  ]);
  const instances = sheet?.instances ?? (psa?.instances ?? []).map((i) => i.name);
  if (sheet && sheet.period.id !== data.period.id) extraRows = [];
  sheet = { ...data, instances };
  draw();
  if (focus) document.getElementById(focus)?.focus();
}

export async function render(main, params) {
  root = el("div", { className: "timesheet" });
  main.append(root);
  sheet = null;
  extraRows = [];
  await load(params.get("period") || "current");
}

export function leave() {
  root = null;
}
