// Team timesheet (server mode): a team's technicians × the days of a period (the team's own periods), hours and
// the states of the entries behind each cell; previous / next period; level-2 approvers and admins close or reopen
// the period (a closed period's entries are read-only, and each technician's daemon is told).

import { api, dayLabel, el, flash, hm, query, statusText } from "./ui.js";

/** The teams whose whole timesheet this person may see (approvers of the team, admins). */
export function teamsToSee(ctx) {
  return ctx.teams.filter((t) => ctx.me.is_admin || t.roles.includes("approver1") || t.roles.includes("approver2"));
}

function teamPicker(teams, chosen, onChange) {
  const select = el(
    "select",
    { id: "team", onchange: () => onChange(select.value) },
    ...teams.map((t) => el("option", { value: t.id, textContent: t.name })),
  );
  select.value = chosen;
  return el("label", { for: "team" }, "Team ", select);
}

const STATUS_PILL = { rejected: "bad", failed: "bad", posted: "good", queued: "good", approved: "good" };

export async function render(main, params, ctx) {
  const teams = teamsToSee(ctx);
  if (!teams.length) {
    main.append(el("p", { className: "muted", textContent: "You approve no team yet." }));
    return;
  }
  const teamId = teams.some((t) => t.id === params.get("team")) ? params.get("team") : teams[0].id;
  const data = await api(
    "GET",
    `/api/team/v1/teams/${encodeURIComponent(teamId)}/timesheet?${query({ period: params.get("period") ?? "current" })}`,
  );
  const p = data.period;
  const here = (period) => `/timesheet?${query({ team: teamId, period })}`;
  const mayClose = ctx.me.is_admin || data.team.roles.includes("approver2");
  const err = el("p", { className: "error", id: "period-err", role: "alert" });
  const change = async (action) => {
    err.textContent = "";
    try {
      const url = `/api/team/v1/teams/${encodeURIComponent(teamId)}/periods/${p.id}/${action}`;
      const res = await api("POST", url);
      await globalThis.ticketclockGo(here(p.id), { replace: true });
      flash(
        `${action === "close" ? "Closed" : "Reopened"} the period ${res.start} – ${res.end}; ` +
          `${res.technicians} technician${res.technicians === 1 ? "" : "s"} told.`,
      );
    } catch (e) {
      err.textContent = e.message;
    }
  };
  const head = el(
    "tr",
    {},
    el("th", { scope: "col", textContent: "Technician" }),
    ...p.days.map((d) => el("th", { scope: "col", className: "num", textContent: dayLabel(d) })),
    el("th", { scope: "col", className: "num", textContent: "Total" }),
  );
  const rows = data.rows.map((r) =>
    el(
      "tr",
      { dataset: { person: r.person_id } },
      el("th", { scope: "row", textContent: r.name }),
      ...r.days.map((c) =>
        el(
          "td",
          { className: "num", dataset: { day: c.day } },
          c.seconds ? hm(c.seconds) : el("span", { className: "muted", textContent: "–" }),
          ...c.statuses.map((s) =>
            el("span", { className: `pill ${STATUS_PILL[s] ?? ""}`.trim(), textContent: statusText(s) }),
          ),
        ),
      ),
      el("td", { className: "num total", textContent: hm(r.seconds) }),
    ),
  );
  main.append(
    el(
      "div",
      { className: "filters" },
      teamPicker(teams, teamId, (id) => globalThis.ticketclockGo(`/timesheet?${query({ team: id })}`)),
    ),
    el(
      "div",
      { className: "period-bar row" },
      el("a", { className: "button", href: here(p.previous), "aria-label": "Previous period" }, "← Previous"),
      el("h2", { id: "period-title", textContent: `${dayLabel(p.start)} – ${dayLabel(p.end)}` }),
      el("a", { className: "button", href: here(p.next), "aria-label": "Next period" }, "Next →"),
      p.closed
        ? el("span", { className: "pill bad", id: "period-state", textContent: "Closed: read-only" })
        : el("span", { className: "pill", id: "period-state", textContent: "Open" }),
      mayClose
        ? el("button", {
            type: "button",
            id: p.closed ? "reopen-period" : "close-period",
            className: p.closed ? "" : "danger",
            textContent: p.closed ? "Reopen period" : "Close period",
            onclick: () => change(p.closed ? "reopen" : "close"),
          })
        : null,
    ),
    err,
    rows.length
      ? el(
          "div",
          { className: "grid-wrap", tabIndex: 0, role: "region", "aria-label": "Team timesheet (scrolls sideways)" },
          el(
            "table",
            { className: "list team-sheet", "aria-labelledby": "period-title" },
            el("thead", {}, head),
            el("tbody", {}, ...rows),
            el(
              "tfoot",
              {},
              el(
                "tr",
                {},
                el("th", { scope: "row", textContent: "Team" }),
                ...data.day_seconds.map((s) => el("td", { className: "num", textContent: hm(s) })),
                el("td", { className: "num total", textContent: hm(data.seconds) }),
              ),
            ),
          ),
        )
      : el("p", { className: "muted", textContent: "This team has no technicians yet." }),
  );
}
