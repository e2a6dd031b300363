// Outbox: health of each PSA instance (from the last attempts), backlog progress, what is waiting, and the failed
// entries with the PSA's own message: edit an entry (notes, billable, work type, times), then retry it.

import { clock, dateTime } from "./dates.js";
import { api, el, entryEditor, entryLabel, flash, hm, sourceBadge } from "./ui.js";

const HEALTH = {
  ok: "OK",
  unreachable: "unreachable",
  refusing: "refusing entries",
  no_credentials: "no credentials",
  rate_limited: "rate limited",
  untested: "not tried yet",
};
let root = null;

function instanceCard(i) {
  return el(
    "li",
    { className: `card health-${i.health}`, dataset: { instance: i.name } },
    el("strong", { textContent: i.name }),
    " ",
    el("span", { className: `pill ${i.health === "ok" ? "good" : "bad"}`, textContent: HEALTH[i.health] ?? i.health }),
    el("p", { textContent: `${i.queued} queued · ${i.sending} sending · ${i.failed} failed` }),
    i.progress?.total
      ? el(
          "p",
          {},
          el("progress", { max: i.progress.total, value: i.progress.posted, "aria-label": `Backlog of ${i.name}` }),
          ` ${i.progress.posted} of ${i.progress.total} posted` +
            (i.progress.rate_per_min ? `, ${i.progress.rate_per_min.toFixed(1)}/min` : "") +
            (i.progress.eta_s ? `, about ${Math.ceil(i.progress.eta_s / 60)} min left` : ""),
        )
      : null,
    i.last_error ? el("p", { className: "error", textContent: i.last_error }) : null,
  );
}

function failedRow(e) {
  const id = encodeURIComponent(e.id);
  const editor = el("td", { colSpan: 6, className: "editor" });
  const editRow = el("tr", { hidden: true }, editor);
  const row = el(
    "tr",
    { dataset: { id: e.id } },
    el("th", { scope: "row", textContent: entryLabel(e) }),
    el("td", {}, sourceBadge(e)),
    el("td", { textContent: dateTime(e.started_at) }),
    el("td", { className: "num", textContent: hm(e.billed_seconds) }),
    el("td", { className: "error", textContent: e.status_reason }),
    el(
      "td",
      {},
      el(
        "div",
        { className: "row" },
        el("button", {
          type: "button",
          textContent: "Edit",
          "aria-expanded": "false",
          onclick: async (ev) => {
            const open = editRow.hidden;
            editRow.hidden = !open;
            ev.target.setAttribute("aria-expanded", String(open));
            if (!open) return;
            const x = await api("GET", `/api/v1/entries/${id}`);
            editor.replaceChildren(
              entryEditor(x.entry, x.history, { onSaved: () => flash("Saved: retry it to post.") }),
            );
            editor.querySelector("input")?.focus();
          },
        }),
        el("button", {
          type: "button",
          className: "primary",
          textContent: "Retry",
          onclick: async () => {
            try {
              await api("POST", `/api/v1/entries/${id}/retry`, {});
              flash(`${entryLabel(e)} is queued again.`);
            } catch (err) {
              flash(err.message, { error: true });
            }
            await load();
          },
        }),
      ),
    ),
  );
  return [row, editRow];
}

async function load() {
  const [data, failed] = await Promise.all([
    api("GET", "/api/v1/outbox"),
    api("GET", "/api/v1/entries?status=failed&limit=500"),
  ]);
  const instances = data.instances ?? [];
  const waiting = data.rows.filter((r) => r.status !== "failed");
  root.replaceChildren(
    el("h2", { textContent: "PSA instances" }),
    instances.length
      ? el("ul", { className: "cards" }, ...instances.map(instanceCard))
      : el("p", { className: "muted", textContent: "No PSA instances configured." }),
    el("h2", { id: "failed-h", textContent: "Failed: the PSA refused these" }),
    failed.entries.length
      ? el(
          "table",
          { className: "list failed", "aria-labelledby": "failed-h" },
          el(
            "thead",
            {},
            el(
              "tr",
              {},
              ...["Entry", "Source", "When", "Hours", "PSA's message", "Actions"].map((h) =>
                el("th", { scope: "col", className: h === "Hours" ? "num" : "", textContent: h }),
              ),
            ),
          ),
          el("tbody", {}, ...failed.entries.flatMap(failedRow)),
        )
      : el("p", { className: "muted", textContent: "No failed entries." }),
    el("h2", { id: "waiting-h", textContent: "Waiting to be posted" }),
    waiting.length
      ? el(
          "table",
          { className: "list", "aria-labelledby": "waiting-h" },
          el(
            "thead",
            {},
            el(
              "tr",
              {},
              ...["Entry", "Instance", "Attempts", "Next try", "Last error"].map((h) =>
                el("th", { scope: "col", textContent: h }),
              ),
            ),
          ),
          el(
            "tbody",
            {},
            ...waiting.map((r) =>
              el(
                "tr",
                { dataset: { id: r.entry_id } },
                el("th", { scope: "row", textContent: r.entry_id }),
                el("td", { textContent: r.instance }),
                el("td", { className: "num", textContent: String(r.attempts) }),
                el("td", { textContent: r.sending_since ? "sending now" : clock(r.next_at) }),
                el("td", { textContent: r.last_error }),
              ),
            ),
          ),
        )
      : el("p", { className: "muted", textContent: "Nothing waiting." }),
  );
}

export async function render(main) {
  root = el("div", { className: "outbox" });
  main.append(root);
  await load();
}
