// My time (server mode): the signed-in person's own entries as the server has them, newest first, with what
// happened to each (approved, rejected with the approver's comment, posted…) and its audit trail.

import { dateTime } from "./dates.js";
import { api, el, entryLabel, hm, query, statusText } from "./ui.js";

const ACTION_TEXT = {
  "synced:pending": "synced (pending)",
  "synced:submitted": "submitted",
  "synced:rejected": "synced (rejected)",
  approved_l1: "approved at level 1",
  approved: "approved",
  rejected_l1: "rejected at level 1",
  rejected_l2: "rejected at level 2",
  conflict: "edit refused: already approved",
};

function trail(audit) {
  return el(
    "ol",
    { className: "audit" },
    ...audit.map((a) =>
      el(
        "li",
        {},
        el("time", { textContent: dateTime(a.at, { seconds: true }) }),
        ` · ${a.actor}: ${ACTION_TEXT[a.action] ?? a.action}`,
        a.detail?.comment ? ` — “${a.detail.comment}”` : "",
      ),
    ),
  );
}

async function rows(before) {
  return api("GET", `/api/team/v1/entries?${query({ mine: 1, limit: 100, before })}`);
}

export async function render(main, params) {
  let page = await rows(params.get("before") ?? "");
  const body = el("tbody", {});
  const more = el("button", { type: "button", id: "more", textContent: "Older entries" });
  const add = (entries) => {
    for (const e of entries) {
      const detail = el("td", { colSpan: 6 });
      const detailRow = el("tr", { hidden: true }, detail);
      const open = el("button", {
        type: "button",
        className: "link",
        textContent: "History",
        "aria-expanded": "false",
        "aria-label": `History of ${entryLabel(e)} ${dateTime(e.started_at)}`,
        onclick: async () => {
          const shown = open.getAttribute("aria-expanded") === "true";
          open.setAttribute("aria-expanded", String(!shown));
          detailRow.hidden = shown;
          if (!shown && !detail.firstChild) {
            try {
              detail.append(trail((await api("GET", `/api/team/v1/entries/${encodeURIComponent(e.id)}/audit`)).audit));
            } catch (err) {
              detail.append(el("p", { className: "error", role: "alert", textContent: err.message }));
            }
          }
        },
      });
      body.append(
        el(
          "tr",
          { dataset: { id: e.id, status: e.status } },
          el("td", { textContent: dateTime(e.started_at) }),
          el("th", { scope: "row", textContent: entryLabel(e) }),
          el("td", { textContent: [e.summary, e.company].filter(Boolean).join(" — ") }),
          el("td", { className: "num", textContent: hm(e.actual_seconds) }),
          el(
            "td",
            { className: `status-${e.status}` },
            statusText(e.status),
            e.status_comment ? el("span", { className: "comment" }, ` — “${e.status_comment}”`) : null,
          ),
          el("td", {}, open),
        ),
        detailRow,
      );
    }
    more.hidden = !page.next;
  };
  more.addEventListener("click", async () => {
    page = await rows(page.next);
    add(page.entries);
  });
  main.append(
    el(
      "p",
      { className: "muted" },
      "Your entries as your TicketClock synced them, and what your approvers decided. Edit them on your own machine.",
    ),
  );
  if (!page.entries.length) {
    main.append(el("p", { className: "muted", id: "no-entries", textContent: "No time synced yet." }));
    return;
  }
  main.append(
    el(
      "table",
      { className: "list", id: "my-time", "aria-label": "My entries" },
      el(
        "thead",
        {},
        el(
          "tr",
          {},
          ...["When", "Ticket / task", "Summary", "Hours", "Status", "Details"].map((h) =>
            el("th", { scope: "col", className: h === "Hours" ? "num" : "", textContent: h }),
          ),
        ),
      ),
      body,
    ),
    more,
  );
  add(page.entries);
}
