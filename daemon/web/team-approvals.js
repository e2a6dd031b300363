// Approvals (server mode): the signed-in approver's queue per level (their teams' entries, never their own), bulk
// select by keyboard (arrows move, Space selects, Shift+arrow selects while moving, A selects all), approve, or
// reject with a comment the technician reads.

import { dateTime } from "./dates.js";
import { api, el, entryLabel, flash, hm } from "./ui.js";

let root = null;

function levelsOf(ctx) {
  const roles = Object.values(ctx.me.roles).flat();
  const levels = [1, 2].filter((l) => roles.includes(`approver${l}`));
  return levels.length ? levels : [1];
}

async function load(level, ctx, { keepFlash = false } = {}) {
  const data = await api("GET", `/api/team/v1/approvals?level=${level}&limit=500`);
  const checks = [];
  const all = el("input", { type: "checkbox", id: "select-all", "aria-label": "Select all" });
  const count = el("span", { className: "muted", id: "selected-count", "aria-live": "polite" });
  const update = () => {
    const n = checks.filter((c) => c.checked).length;
    count.textContent = `${n} of ${checks.length} selected`;
    all.checked = n > 0 && n === checks.length;
    for (const c of checks) c.closest("tr").classList.toggle("selected", c.checked);
  };
  all.addEventListener("change", () => {
    checks.forEach((c) => (c.checked = all.checked));
    update();
  });
  const onKey = (ev) => {
    const i = checks.indexOf(ev.target);
    if (i < 0) return;
    if (ev.key === "ArrowDown" || ev.key === "ArrowUp") {
      const next = checks[i + (ev.key === "ArrowDown" ? 1 : -1)];
      if (!next) return;
      ev.preventDefault();
      if (ev.shiftKey) {
        ev.target.checked = true;
        next.checked = true;
        update();
      }
      next.focus();
    } else if (ev.key === "a" || ev.key === "A") {
      ev.preventDefault();
      const on = !checks.every((c) => c.checked);
      checks.forEach((c) => (c.checked = on));
      update();
    }
  };
  const rows = data.entries.map((e) => {
    const box = el("input", {
      type: "checkbox",
      value: e.id,
      "aria-label": `Select ${e.person_name} ${entryLabel(e)} ${dateTime(e.started_at)}`,
      onchange: update,
      onkeydown: onKey,
    });
    checks.push(box);
    return el(
      "tr",
      { dataset: { id: e.id } },
      el("td", {}, box),
      el("td", { textContent: e.person_name }),
      el("td", { textContent: dateTime(e.started_at) }),
      el("th", { scope: "row", textContent: entryLabel(e) }),
      el("td", { textContent: [e.summary, e.company].filter(Boolean).join(" — ") }),
      el("td", { textContent: e.notes }),
      el("td", { className: "num", textContent: hm(e.billed_seconds) }),
    );
  });
  update();
  const comment = el("textarea", { id: "reject-comment", rows: 2, "aria-describedby": "approve-err" });
  const err = el("p", { className: "error", id: "approve-err", role: "alert" });
  const decide = async (action) => {
    const ids = checks.filter((c) => c.checked).map((c) => c.value);
    err.textContent = "";
    comment.removeAttribute("aria-invalid");
    if (!ids.length) return (err.textContent = "Select one or more entries first.");
    if (action === "reject" && !comment.value.trim()) {
      comment.setAttribute("aria-invalid", "true");
      comment.focus();
      return (err.textContent = "Write a comment for the technician: it says what to fix.");
    }
    try {
      const res = await api("POST", "/api/team/v1/approvals", { ids, level, action, comment: comment.value.trim() });
      const bad = res.results.filter((r) => !r.ok);
      await load(level, ctx, { keepFlash: true });
      flash(
        `${action === "approve" ? "Approved" : "Rejected"} ${res.done} entr${res.done === 1 ? "y" : "ies"}.` +
          (bad.length ? ` ${bad.length} refused: ${bad[0].message}` : ""),
        { error: bad.length > 0 },
      );
    } catch (e) {
      err.textContent = e.message;
    }
  };
  const levels = levelsOf(ctx);
  const tabs = el(
    "div",
    { className: "row tabs", role: "group", "aria-label": "Approval level" },
    ...levels.map((l) =>
      el("a", {
        className: `button${l === level ? " current" : ""}`,
        href: `/approvals?level=${l}`,
        textContent: `Level ${l}`,
        "aria-current": l === level ? "page" : undefined,
      }),
    ),
  );
  if (!keepFlash) flash("");
  root.replaceChildren(
    tabs,
    el(
      "p",
      { className: "muted" },
      `${data.total} entr${data.total === 1 ? "y" : "ies"} waiting at level ${level} in your teams. `,
      "Your own time is approved by someone else, so it is not listed here.",
    ),
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
              ...["Technician", "When", "Ticket / task", "Summary", "Notes", "Hours"].map((h) =>
                el("th", { scope: "col", className: h === "Hours" ? "num" : "", textContent: h }),
              ),
            ),
          ),
          el("tbody", {}, ...rows),
        )
      : el("p", { className: "muted", id: "queue-empty", textContent: "Nothing waiting at this level." }),
    el(
      "p",
      { className: "muted kbd-help", hidden: rows.length === 0 },
      "Keyboard: ↑/↓ move between entries, Space selects, Shift+↑/↓ selects while moving, A selects all.",
    ),
    el(
      "div",
      { className: "decide", hidden: rows.length === 0 },
      el("div", { className: "row" }, count),
      el("button", {
        type: "button",
        id: "approve",
        className: "primary",
        textContent: "Approve selected",
        onclick: () => decide("approve"),
      }),
      el("label", { for: "reject-comment" }, "Comment for the technician (needed to reject)"),
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

export async function render(main, params, ctx) {
  root = el("div", { className: "approvals" });
  main.append(root);
  const levels = levelsOf(ctx);
  const asked = Number(params.get("level"));
  await load(levels.includes(asked) ? asked : levels[0], ctx);
}
