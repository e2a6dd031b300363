// Approvals: the queue of each level, select / select all, approve or reject (with a comment) in bulk.

import { dateTime } from "./dates.js";
import { api, el, entryLabel, flash, hm, sourceBadge } from "./ui.js";

let root = null;

async function load(level) {
  const data = await api("GET", `/api/v1/approvals?level=${level}`);
  const levels = data.levels ?? 1;
  const checks = [];
  const all = el("input", { type: "checkbox", id: "select-all", "aria-label": "Select all" });
  all.addEventListener("change", () => checks.forEach((c) => (c.checked = all.checked)));
  const rows = data.entries.map((e) => {
    const box = el("input", {
      type: "checkbox",
      value: e.id,
      "aria-label": `Select ${entryLabel(e)} ${dateTime(e.started_at)}`,
    });
    checks.push(box);
    return el(
      "tr",
      { dataset: { id: e.id } },
      el("td", {}, box),
      el("td", { textContent: dateTime(e.started_at) }),
      el("th", { scope: "row", textContent: entryLabel(e) }),
      el("td", { textContent: [e.summary, e.company].filter(Boolean).join(" — ") }),
      el("td", {}, sourceBadge(e)),
      el("td", { textContent: e.notes }),
      el("td", { className: "num", textContent: hm(e.billed_seconds) }),
    );
  });
  const comment = el("textarea", { id: "reject-comment", rows: 2 });
  const err = el("p", { className: "error", id: "approve-err", role: "alert" });
  const decide = async (action) => {
    const ids = checks.filter((c) => c.checked).map((c) => c.value);
    err.textContent = "";
    if (!ids.length) return (err.textContent = "Select one or more entries first.");
    try {
      const res = await api("POST", "/api/v1/approvals", { ids, action, comment: comment.value.trim() });
      const bad = res.results.filter((r) => !r.ok);
      await load(level);
      const done = res.results.length - bad.length;
      flash(
        `${action === "approve" ? "Approved" : "Rejected"} ${done} entr${done === 1 ? "y" : "ies"}.` +
          (bad.length ? ` ${bad.length} refused: ${bad[0].error.message}` : ""),
        { error: bad.length > 0 },
      );
    } catch (e) {
      err.textContent = e.message;
    }
  };
  const tabs = el(
    "div",
    { className: "row tabs", role: "group", "aria-label": "Approval level" },
    ...Array.from({ length: levels }, (_, i) =>
      el("a", {
        className: `button${i + 1 === level ? " current" : ""}`,
        href: `/approvals?level=${i + 1}`,
        textContent: levels === 1 ? "Waiting for approval" : `Level ${i + 1}`,
        "aria-current": i + 1 === level ? "page" : undefined,
      }),
    ),
  );
  root.replaceChildren(
    el("p", {
      className: "notice",
      textContent: "On this machine you are both technician and approver: you approve your own time here.",
    }),
    tabs,
    rows.length
      ? el(
          "table",
          { className: "list", "aria-label": `Entries waiting at level ${level}` },
          el(
            "thead",
            {},
            el(
              "tr",
              {},
              el("th", { scope: "col" }, all),
              ...["When", "Ticket / task", "Summary", "Source", "Notes", "Hours"].map((h) =>
                el("th", { scope: "col", className: h === "Hours" ? "num" : "", textContent: h }),
              ),
            ),
          ),
          el("tbody", {}, ...rows),
        )
      : el("p", { className: "muted", textContent: "Nothing waiting at this level." }),
    el(
      "div",
      { className: "decide", hidden: rows.length === 0 },
      el("button", {
        type: "button",
        id: "approve",
        className: "primary",
        textContent: "Approve selected",
        onclick: () => decide("approve"),
      }),
      el("label", { for: "reject-comment" }, "Comment (needed to reject)"),
      comment,
      el("button", {
        type: "button",
        id: "reject",
        className: "danger",
        textContent: "Reject selected",
        onclick: () => decide("reject"),
      }),
      err,
    ),
  );
}

export async function render(main, params) {
  root = el("div", { className: "approvals" });
  main.append(root);
  await load(Number(params.get("level")) === 2 ? 2 : 1);
}
