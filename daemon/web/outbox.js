// Outbox: health of each PSA instance (from the last attempts), backlog progress, and the entries waiting or
// failed with the PSA's own message; a failed entry can be edited (its cell in the timesheet) or retried.

import { api, el, entryLabel, flash, hm } from "./ui.js";

const HEALTH = {
  ok: "OK",
  unreachable: "unreachable",
  refusing: "refusing entries",
  no_credentials: "no credentials",
  rate_limited: "rate limited",
  untested: "not tried yet",
};
let root = null;

async function load() {
  const data = await api("GET", "/api/v1/outbox");
  const instances = data.instances ?? [];
  root.replaceChildren(
    el("h2", { textContent: "PSA instances" }),
    instances.length
      ? el(
          "ul",
          { className: "cards" },
          ...instances.map((i) =>
            el(
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
            ),
          ),
        )
      : el("p", { className: "muted", textContent: "No PSA instances configured." }),
    el("h2", { textContent: "Waiting and failed" }),
    data.rows.length
      ? el(
          "table",
          { className: "list" },
          el("thead", {}, el("tr", {}, ...["Entry", "Instance", "Hours", "Status", "Attempts", "PSA's message", ""].map((h) => el("th", { scope: "col", textContent: h })))),
          el(
            "tbody",
            {},
            ...data.rows.map((r) =>
              el(
                "tr",
                { dataset: { id: r.entry_id } },
                el("th", { scope: "row", textContent: r.label ?? entryLabel(r) }),
                el("td", { textContent: r.instance }),
                el("td", { className: "num", textContent: r.billed_seconds !== undefined ? hm(r.billed_seconds) : "" }),
                el("td", { textContent: r.status ?? "" }),
                el("td", { className: "num", textContent: String(r.attempts ?? 0) }),
                el("td", { textContent: r.last_error ?? "" }),
                el(
                  "td",
                  {},
                  r.status === "failed"
                    ? el("button", {
                        type: "button",
                        textContent: "Retry",
                        onclick: async () => {
                          try {
                            await api("POST", `/api/v1/entries/${encodeURIComponent(r.entry_id)}/retry`, {});
                            flash("Queued again.");
                          } catch (e) {
                            flash(e.message, { error: true });
                          }
                          await load();
                        },
                      })
                    : null,
                ),
              ),
            ),
          ),
        )
      : el("p", { className: "muted", textContent: "Nothing waiting: every entry is posted." }),
  );
}

export async function render(main) {
  root = el("div", { className: "outbox" });
  main.append(root);
  await load();
}
