// Automations: the per-automation settings (list + edit form, saved with PUT /api/v1/automations; a refusal is shown
// beside the field it names and nothing changes), the recent runs and what became of each (logged → its entry,
// absorbed, skipped and why, failed with the PSA's message), the rules editor and its explain view.
//
// The rule set is edited as JSON in a textarea, not as a form: it is a global block plus a list of scoped overrides,
// each with its own match (instance, company, tag, board, automation) and any of seven settings (rounding nested) —
// a form for that would be a page of nested repeaters, while the JSON is the same shape as the config file's
// [rules] and the API's, can be copied between machines, and is validated twice: its syntax here before sending,
// its meaning by the daemon, whose refusal names the field (shown beside the textarea; the rules in force stay).
//
// A session minted by the browser extension may read all of this but not change it (daemon/api/security.py
// SCRIPT_WRITES): the page says so and offers no save buttons.

import { api, clock, dayLabel, el, entryEditor, entryLabel, flash, hm, query, statusText } from "./ui.js";

let root = null;
let state = null;

const RUN_STATUS = {
  logged: "logged",
  absorbed: "absorbed",
  skipped: "skipped",
  failed: "failed",
};
const FIELDS = ["name", "enabled", "apply_to", "log_as", "minutes", "notes", "work_type", "billable", "overlap"];
const BILLABLE = { default: "Rules' default", agreement: "Per agreement", yes: "Billable", no: "Not billable" };
const OVERLAP = { add: "Add both", absorb: "Absorb into the timer" };

function day(epoch) {
  const d = new Date(epoch * 1000);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
}
const when = (epoch) => `${dayLabel(day(epoch))} ${clock(epoch)}`;

function applyText(a) {
  if (a.apply_to === "none") return "No clients";
  if (a.apply_to === "all") return "All clients";
  return `Clients tagged “${a.apply_to.slice(4)}”`;
}
function logAsText(a) {
  if (a.log_as === "starter") return "Who started it";
  if (a.log_as === "assignee") return "Ticket's assignee";
  return `User ${a.log_as.slice(5)}`;
}

function section(id, title, ...children) {
  return el(
    "section",
    { id, "aria-labelledby": `${id}-h` },
    el("h2", { id: `${id}-h`, textContent: title }),
    ...children,
  );
}

// ---- settings ---------------------------------------------------------------------------------------------------

function settingsSection() {
  const view = state.automations;
  const source =
    view.source === "stored"
      ? `Saved on this page${view.updated_at ? ` (${when(view.updated_at)})` : ""}; they win over the config file's [[automations]].`
      : "From the config file's [[automations]].";
  const editor = el("div", { id: "automation-editor" });
  const rows = view.automations.map((a, i) =>
    el(
      "tr",
      { dataset: { name: a.name } },
      el("th", { scope: "row", textContent: a.name }),
      el("td", {}, el("span", { className: `pill ${a.enabled ? "good" : ""}`, textContent: a.enabled ? "on" : "off" })),
      el("td", { textContent: applyText(a) }),
      el("td", { textContent: logAsText(a) }),
      el("td", { className: "num", textContent: a.minutes ? `${a.minutes} min` : "measured" }),
      el("td", { textContent: a.work_type || "—" }),
      el("td", { textContent: BILLABLE[a.billable] ?? a.billable }),
      el("td", { textContent: OVERLAP[a.overlap] ?? a.overlap }),
      el(
        "td",
        {},
        el("button", {
          type: "button",
          textContent: state.readOnly ? "View" : "Edit",
          "aria-label": `${state.readOnly ? "View" : "Edit"} ${a.name}`,
          onclick: () => openEditor(editor, i),
        }),
      ),
    ),
  );
  const table = rows.length
    ? el(
        "table",
        { className: "list", id: "automation-list" },
        el("caption", { className: "sr-only", textContent: "Automations" }),
        el(
          "thead",
          {},
          el(
            "tr",
            {},
            ...["Automation", "Enabled", "Applies to", "Logged as", "Time", "Work type", "Billable", "Overlap", ""].map(
              (t) => el("th", { scope: "col", textContent: t }),
            ),
          ),
        ),
        el("tbody", {}, ...rows),
      )
    : el("p", { className: "muted", textContent: "No automations yet." });
  const actions = state.readOnly
    ? null
    : el(
        "div",
        { className: "row" },
        el("button", { type: "button", textContent: "Add automation", onclick: () => openEditor(editor, -1) }),
        view.source === "stored" ? resetButton("settings", "[[automations]]", "automations") : null,
      );
  return section("settings", "Settings", el("p", { className: "muted", textContent: source }), table, actions, editor);
}

/** "Use the config file's …": forgets what was saved on this page (DELETE), so the config file's are in force. */
function resetButton(what, table, key) {
  return el("button", {
    type: "button",
    className: "danger",
    textContent: `Use the config file's ${what}`,
    onclick: async () => {
      if (!confirm(`Forget the ${what} saved here and use the config file's ${table}?`)) return;
      state[key] = await api("DELETE", `/api/v1/${key}`);
      flash(`${what[0].toUpperCase()}${what.slice(1)} reset to the config file's.`);
      draw();
    },
  });
}

/** One error line per field, tied to its control by aria-describedby. */
function fieldError(field) {
  return el("span", { className: "error", id: `auto-${field}-err` });
}

function workTypeControl(current) {
  const lists = state.workTypes.filter((w) => w.work_types.length);
  if (!lists.length) {
    const input = el("input", { id: "auto-work_type", value: current, size: 24 });
    return { control: input, read: () => input.value.trim(), note: state.workTypesNote };
  }
  const select = el(
    "select",
    { id: "auto-work_type" },
    el("option", { value: "", textContent: "(the rules' default)" }),
  );
  let found = current === "";
  for (const w of lists) {
    const group = el("optgroup", { label: w.instance });
    for (const item of w.work_types) {
      group.append(el("option", { value: item.value, textContent: item.name || item.value }));
      if (item.value === current) found = true;
    }
    select.append(group);
  }
  if (!found) select.append(el("option", { value: current, textContent: `${current} (not in the PSA's list)` }));
  select.value = current;
  return { control: select, read: () => select.value, note: "" };
}

function openEditor(box, index) {
  const a = index >= 0 ? state.automations.automations[index] : null;
  const ro = state.readOnly;
  const name = el("input", { id: "auto-name", value: a?.name ?? "", required: true, size: 30 });
  const enabled = el("input", { id: "auto-enabled", type: "checkbox", checked: a?.enabled ?? true });
  const applyKind = el(
    "select",
    { id: "auto-apply_to", "aria-label": "Applies to" },
    el("option", { value: "all", textContent: "All clients" }),
    el("option", { value: "tag", textContent: "Clients tagged" }),
    el("option", { value: "none", textContent: "No clients" }),
  );
  const applyTag = el("input", { id: "auto-apply_tag", "aria-label": "Client tag", size: 16 });
  const apply = a?.apply_to ?? "all";
  applyKind.value = apply.startsWith("tag:") ? "tag" : apply;
  applyTag.value = apply.startsWith("tag:") ? apply.slice(4) : "";
  const logKind = el(
    "select",
    { id: "auto-log_as", "aria-label": "Log as" },
    el("option", { value: "starter", textContent: "Who started it" }),
    el("option", { value: "assignee", textContent: "The ticket's assignee" }),
    el("option", { value: "user", textContent: "This PSA user" }),
  );
  const logUser = el("input", { id: "auto-log_user", "aria-label": "PSA user", size: 16 });
  const logAs = a?.log_as ?? "starter";
  logKind.value = logAs.startsWith("user:") ? "user" : logAs;
  logUser.value = logAs.startsWith("user:") ? logAs.slice(5) : "";
  const sync = () => {
    applyTag.hidden = applyKind.value !== "tag";
    logUser.hidden = logKind.value !== "user";
  };
  applyKind.addEventListener("change", sync);
  logKind.addEventListener("change", sync);
  sync();
  const minutes = el("input", {
    id: "auto-minutes",
    type: "number",
    inputMode: "numeric",
    value: a?.minutes ?? "",
    placeholder: "measured",
    size: 6,
  });
  const notes = el("textarea", { id: "auto-notes", rows: 2, value: a?.notes ?? "{automation}: {outcome}. {notes}" });
  const wt = workTypeControl(a?.work_type ?? "");
  const billable = el(
    "select",
    { id: "auto-billable" },
    ...Object.entries(BILLABLE).map(([v, t]) => el("option", { value: v, textContent: t })),
  );
  billable.value = a?.billable ?? "default";
  const overlap = el(
    "select",
    { id: "auto-overlap" },
    ...Object.entries(OVERLAP).map(([v, t]) => el("option", { value: v, textContent: t })),
  );
  overlap.value = a?.overlap ?? "add";
  const errors = Object.fromEntries(FIELDS.map((f) => [f, fieldError(f)]));
  const controls = {
    name,
    enabled,
    apply_to: applyKind,
    log_as: logKind,
    minutes,
    notes,
    work_type: wt.control,
    billable,
    overlap,
  };
  for (const [f, c] of Object.entries(controls)) c.setAttribute("aria-describedby", errors[f].id);
  applyTag.setAttribute("aria-describedby", errors.apply_to.id);
  logUser.setAttribute("aria-describedby", errors.log_as.id);
  const formErr = el("p", { className: "error", id: "auto-form-err", role: "alert" });
  const clearErrors = () => {
    formErr.textContent = "";
    for (const f of FIELDS) errors[f].textContent = "";
    for (const c of [...Object.values(controls), applyTag, logUser]) c.removeAttribute("aria-invalid");
  };
  const line = (label, control, field, ...extra) =>
    el(
      "div",
      { className: "row" },
      el("label", { for: control.id, textContent: label }),
      control,
      ...extra,
      errors[field],
    );
  const form = el(
    "form",
    {
      className: "entry-edit automation-edit",
      "aria-label": a ? `Settings of ${a.name}` : "New automation",
      onsubmit: async (ev) => {
        ev.preventDefault();
        clearErrors();
        const item = {
          name: name.value.trim(),
          enabled: enabled.checked,
          apply_to: applyKind.value === "tag" ? `tag:${applyTag.value.trim()}` : applyKind.value,
          log_as: logKind.value === "user" ? `user:${logUser.value.trim()}` : logKind.value,
          minutes: minutes.value.trim() === "" ? null : Number(minutes.value),
          notes: notes.value,
          work_type: wt.read(),
          billable: billable.value,
          overlap: overlap.value,
        };
        const list = [...state.automations.automations];
        const at = index >= 0 ? index : list.length;
        list[at] = item;
        try {
          state.automations = await api("PUT", "/api/v1/automations", { automations: list });
        } catch (e) {
          // "automations[2].minutes": beside that field when it is this automation's; else above the buttons
          const m = /^automations\[(\d+)\]\.(\w+)/.exec(e.details?.field ?? "");
          const field = m && Number(m[1]) === at && m[2] in errors ? m[2] : null;
          if (field) {
            // the message may start with the field's own path ("automations[0].notes: …"): beside it, that is said
            errors[field].textContent = e.message.startsWith(`${e.details.field}: `)
              ? e.message.slice(e.details.field.length + 2)
              : e.message;
            const control = controls[field];
            const target =
              field === "apply_to" && applyKind.value === "tag"
                ? applyTag
                : field === "log_as" && logKind.value === "user"
                  ? logUser
                  : control;
            target.setAttribute("aria-invalid", "true");
            target.focus();
          } else {
            formErr.textContent = e.message;
          }
          return;
        }
        flash(`Saved ${item.name}.`);
        draw();
      },
    },
    el("h3", { textContent: a ? a.name : "New automation" }),
    line("Name", name, "name"),
    el("div", { className: "row" }, enabled, el("label", { for: enabled.id, textContent: "Enabled" }), errors.enabled),
    line("Applies to", applyKind, "apply_to", applyTag),
    line("Log time as", logKind, "log_as", logUser),
    line("Minutes", minutes, "minutes", el("span", { className: "muted", textContent: "empty: the run's own span" })),
    el("label", { for: notes.id, textContent: "Notes template" }),
    notes,
    el("p", {
      className: "muted",
      textContent: "Placeholders: {automation}, {outcome}, {started_by}, {notes} (the run's own notes).",
    }),
    errors.notes,
    line(
      "Work type",
      wt.control,
      "work_type",
      wt.note ? el("span", { className: "muted", textContent: wt.note }) : null,
    ),
    line("Billable", billable, "billable"),
    line("While my own timer runs on the ticket", overlap, "overlap"),
    formErr,
    ro
      ? null
      : el(
          "div",
          { className: "row" },
          el("button", { type: "submit", className: "primary", textContent: "Save" }),
          el("button", { type: "button", textContent: "Cancel", onclick: () => box.replaceChildren() }),
        ),
  );
  if (ro) for (const c of form.querySelectorAll("input, textarea, select")) c.disabled = true;
  box.replaceChildren(form);
  if (ro) form.scrollIntoView();
  else name.focus();
}

// ---- runs ---------------------------------------------------------------------------------------------------------

function outcomeCell(r) {
  const pill = el("span", {
    className: `pill ${r.status === "logged" ? "good" : r.status === "failed" ? "bad" : ""}`,
    textContent: RUN_STATUS[r.status] ?? r.status,
  });
  const parts = [pill];
  if (r.entry_id) {
    parts.push(
      " ",
      el("a", {
        href: `/automations?${query({ entry: r.entry_id })}`,
        textContent: `entry (${statusText(r.entry_status) || "—"})`,
        "aria-label": `Entry of run ${r.run_id}: ${statusText(r.entry_status)}`,
      }),
    );
  }
  if (r.reason) parts.push(el("div", { className: r.status === "failed" ? "error" : "muted", textContent: r.reason }));
  return el("td", { className: "outcome" }, ...parts);
}

function runsSection() {
  const filter = el(
    "select",
    { id: "runs-status" },
    el("option", { value: "", textContent: "All" }),
    ...Object.keys(RUN_STATUS).map((s) => el("option", { value: s, textContent: RUN_STATUS[s] })),
  );
  filter.value = state.runFilter;
  filter.addEventListener("change", async () => {
    state.runFilter = filter.value;
    await loadRuns();
    draw();
    document.getElementById("runs-status")?.focus();
  });
  const runs = state.runs;
  const table = runs.length
    ? el(
        "table",
        { className: "list", id: "run-list" },
        el("caption", { className: "sr-only", textContent: "Recent automation runs" }),
        el(
          "thead",
          {},
          el(
            "tr",
            {},
            ...["Finished", "Automation", "Ticket", "Started by", "Time", "Outcome", "What became of it"].map((t) =>
              el("th", { scope: "col", textContent: t }),
            ),
          ),
        ),
        el(
          "tbody",
          {},
          ...runs.map((r) =>
            el(
              "tr",
              { dataset: { run: r.run_id, status: r.status } },
              el("td", { textContent: when(r.finished_at) }),
              el("th", { scope: "row", textContent: r.automation }),
              el("td", { textContent: `${r.instance ? `${r.instance} ` : ""}#${r.ticket}` }),
              el("td", { textContent: r.started_by || "—" }),
              el("td", { className: "num", textContent: hm(r.finished_at - r.started_at) }),
              el("td", { textContent: r.outcome || "—" }),
              outcomeCell(r),
            ),
          ),
        ),
      )
    : el("p", { className: "muted", textContent: "No runs recorded yet." });
  return section(
    "runs",
    "Recent runs",
    el(
      "div",
      { className: "row" },
      el("label", { for: filter.id, textContent: "Show" }),
      filter,
      el("button", {
        type: "button",
        id: "runs-refresh",
        textContent: "Refresh",
        onclick: async () => {
          await loadRuns();
          draw();
          document.getElementById("runs-refresh")?.focus();
        },
      }),
    ),
    table,
  );
}

// ---- rules --------------------------------------------------------------------------------------------------------

function rulesSection() {
  const view = state.rules;
  const text = el("textarea", {
    id: "rules-json",
    rows: Math.min(24, JSON.stringify(view.rules, null, 2).split("\n").length + 1),
    spellcheck: false,
    value: JSON.stringify(view.rules, null, 2),
    readOnly: state.readOnly,
    "aria-describedby": "rules-err rules-help",
  });
  const err = el("p", { className: "error", id: "rules-err", role: "alert" });
  const base = Object.entries(view.base ?? {})
    .filter(([, v]) => v !== "")
    .map(([k, v]) => `${k} = ${v}`)
    .join(", ");
  const lists = state.workTypes.filter((w) => w.work_types.length || w.roles.length);
  return section(
    "rules",
    "Rules",
    el("p", {
      className: "muted",
      id: "rules-help",
      textContent:
        (view.source === "stored"
          ? "Saved on this page; they win over the config file's [rules]. "
          : "From the config file's [rules]. ") +
        "Global settings, then `scoped` overrides, each with a `match` (instance, company, tag, board, automation)." +
        (base ? ` Inherited from the config file: ${base}.` : ""),
    }),
    el("label", { for: text.id, textContent: "Rule set (JSON)" }),
    text,
    err,
    lists.length
      ? el(
          "details",
          {},
          el("summary", { textContent: "Work types and roles the PSA knows" }),
          ...lists.map((w) =>
            el(
              "p",
              {},
              el("strong", { textContent: `${w.instance}: ` }),
              `work types ${w.work_types.map((x) => x.value).join(", ") || "—"}; roles ${w.roles.map((x) => x.value).join(", ") || "—"}`,
            ),
          ),
        )
      : null,
    state.readOnly
      ? null
      : el(
          "div",
          { className: "row" },
          el("button", {
            type: "button",
            className: "primary",
            id: "rules-save",
            textContent: "Save rules",
            onclick: async () => {
              err.textContent = "";
              text.removeAttribute("aria-invalid");
              let body;
              try {
                body = JSON.parse(text.value);
              } catch (e) {
                err.textContent = `Not valid JSON: ${e.message}`;
                text.setAttribute("aria-invalid", "true");
                text.focus();
                return;
              }
              try {
                state.rules = await api("PUT", "/api/v1/rules", body);
              } catch (e) {
                const field = e.details?.field;
                err.textContent = field && !e.message.includes(field) ? `${field}: ${e.message}` : e.message;
                text.setAttribute("aria-invalid", "true");
                text.focus();
                return;
              }
              flash("Rules saved.");
              draw();
            },
          }),
          view.source === "stored" ? resetButton("rules", "[rules]", "rules") : null,
        ),
  );
}

// ---- explain ------------------------------------------------------------------------------------------------------

function explainSection() {
  const minutes = el("input", { id: "x-minutes", type: "number", min: 0, step: "any", value: "7", size: 6 });
  const instance = el(
    "select",
    { id: "x-instance" },
    el("option", { value: "", textContent: "(none)" }),
    ...state.instances.map((n) => el("option", { value: n, textContent: n })),
  );
  const company = el("input", { id: "x-company", size: 18 });
  const tags = el("input", { id: "x-tags", size: 18, placeholder: "managed, vip" });
  const board = el("input", { id: "x-board", size: 14 });
  const automation = el(
    "select",
    { id: "x-automation" },
    el("option", { value: "", textContent: "(none)" }),
    ...state.automations.automations.map((a) => el("option", { value: a.name, textContent: a.name })),
  );
  const err = el("p", { className: "error", id: "x-err", role: "alert" });
  const out = el("div", { id: "explain-result", "aria-live": "polite" });
  const field = (label, control) => el("label", { for: control.id }, `${label} `, control);
  const form = el(
    "form",
    {
      className: "entry-edit",
      "aria-label": "Explain",
      onsubmit: async (ev) => {
        ev.preventDefault();
        err.textContent = "";
        const body = {
          seconds: Math.round(Number(minutes.value) * 60),
          instance: instance.value,
          company: company.value.trim(),
          tags: tags.value
            .split(",")
            .map((t) => t.trim())
            .filter(Boolean),
          board: board.value.trim(),
          automation: automation.value,
        };
        try {
          const x = await api("POST", "/api/v1/rules/explain", body);
          out.replaceChildren(...explained(x));
        } catch (e) {
          err.textContent = e.message;
          out.replaceChildren();
        }
      },
    },
    el(
      "div",
      { className: "row" },
      field("Minutes measured", minutes),
      field("PSA", instance),
      field("Company", company),
      field("Tags", tags),
      field("Board / queue", board),
      field("Automation", automation),
      el("button", { type: "submit", className: "primary", textContent: "Explain" }),
    ),
    err,
  );
  return section(
    "explain",
    "Explain",
    el("p", {
      className: "muted",
      textContent:
        "What an entry with this context would record, and the rule behind each decision (nothing is saved).",
    }),
    form,
    out,
  );
}

function explained(x) {
  return [
    el(
      "p",
      { className: "explain-summary" },
      `Billed ${hm(x.billed_seconds)} of ${hm(x.actual_seconds)} measured · ${BILLABLE[x.billable] ?? x.billable}` +
        (x.work_type ? ` · work type ${x.work_type}` : "") +
        (x.role ? ` · role ${x.role}` : "") +
        (x.void_reason ? ` · not posted: ${x.void_reason}` : ""),
    ),
    el(
      "table",
      { className: "list", id: "decisions" },
      el("caption", { className: "sr-only", textContent: "Decisions and the rule behind each" }),
      el(
        "thead",
        {},
        el("tr", {}, ...["Setting", "Value", "Rule"].map((t) => el("th", { scope: "col", textContent: t }))),
      ),
      el(
        "tbody",
        {},
        ...x.decisions.map((d) =>
          el(
            "tr",
            { dataset: { setting: d.setting } },
            el("th", { scope: "row", textContent: d.setting }),
            el("td", { textContent: String(d.value === "" ? "—" : d.value) }),
            el("td", { textContent: d.source }),
          ),
        ),
      ),
    ),
    x.explanation.length
      ? el(
          "ul",
          { className: "explanation" },
          ...x.explanation.map((n) =>
            el("li", {}, el("strong", { textContent: n.rule }), `: ${n.detail}`, n.source ? ` (${n.source})` : ""),
          ),
        )
      : null,
  ].filter(Boolean);
}

// ---- one entry (the runs' links) ---------------------------------------------------------------------------------

async function entrySection(id) {
  const back = el("p", {}, el("a", { href: "/automations", textContent: "← All automations" }));
  try {
    const x = await api("GET", `/api/v1/entries/${encodeURIComponent(id)}`);
    const e = x.entry;
    return section(
      "entry",
      `Entry ${entryLabel(e)} · ${when(e.started_at)}`,
      back,
      el("p", {
        className: "muted",
        textContent:
          `${statusText(e.status)}` +
          (e.automation ? ` · from automation ${e.automation}` : "") +
          (e.status_reason ? ` · ${e.status_reason}` : ""),
      }),
      entryEditor(e, x.history, { onSaved: () => flash("Entry saved.") }),
    );
  } catch (err) {
    return section("entry", "Entry", back, el("p", { className: "error", role: "alert", textContent: err.message }));
  }
}

// ---- page ---------------------------------------------------------------------------------------------------------

async function loadRuns() {
  const data = await api("GET", `/api/v1/automation-runs?${query({ limit: 50, status: state.runFilter })}`);
  state.runs = data.runs;
}

async function loadWorkTypes() {
  const found = await Promise.all(
    state.instances.map((n) => api("GET", `/api/v1/psa/${encodeURIComponent(n)}/work-types`).catch((e) => e)),
  );
  state.workTypes = found.filter((w) => !(w instanceof Error));
  const failed = found.filter((w) => w instanceof Error);
  state.workTypesNote = state.instances.length
    ? failed.length
      ? `The PSA's list is not available (${failed[0].message}); type the work type.`
      : ""
    : "No PSA is configured; type the work type.";
}

function draw() {
  if (!root) return;
  const parts = [
    state.readOnly
      ? el("p", {
          className: "notice",
          textContent:
            "Read-only: this sign-in came from the browser extension. Run `ticketclock open` to change automations and rules.",
        })
      : null,
    state.entry,
    settingsSection(),
    runsSection(),
    rulesSection(),
    explainSection(),
  ];
  root.replaceChildren(...parts.filter(Boolean));
}

export async function render(main, params) {
  root = el("div", { className: "automations" });
  main.append(root);
  const [me, automations, rules, psa] = await Promise.all([
    api("GET", "/api/v1/web/me"),
    api("GET", "/api/v1/automations"),
    api("GET", "/api/v1/rules"),
    api("GET", "/api/v1/psa").catch(() => ({ instances: [] })),
  ]);
  state = {
    readOnly: me.scope !== "full",
    automations,
    rules,
    instances: psa.instances.map((i) => i.name),
    runFilter: params.get("status") ?? "",
    runs: [],
    workTypes: [],
    workTypesNote: "",
    entry: null,
  };
  if (!(state.runFilter in RUN_STATUS)) state.runFilter = "";
  await Promise.all([loadRuns(), loadWorkTypes()]);
  if (params.get("entry")) state.entry = await entrySection(params.get("entry"));
  draw();
}

export function leave() {
  root = null;
  state = null;
}
