// Team summary (server mode): the time this person may see (their teams' as an approver, everyone's as an admin,
// their own otherwise), summed per technician, day, company, work type, status or ticket over a range of days.

import { teamsToSee } from "./team-timesheet.js";
import { api, el, hm, localDay, query, statusText } from "./ui.js";

const GROUPS = {
  technician: "Technician",
  day: "Day",
  company: "Company",
  work_type: "Work type",
  status: "Status",
  ticket: "Ticket / task",
};

function monthStart(day) {
  return `${day.slice(0, 8)}01`;
}

export async function render(main, params, ctx) {
  const teams = teamsToSee(ctx);
  const today = localDay(Date.now() / 1000);
  const chosen = {
    team: teams.some((t) => t.id === params.get("team")) ? params.get("team") : (teams[0]?.id ?? ""),
    from: params.get("from") ?? monthStart(today),
    to: params.get("to") ?? today,
    group: params.get("group") in GROUPS ? params.get("group") : "technician",
  };
  const team = el(
    "select",
    { id: "s-team", name: "team" },
    ...(ctx.me.is_admin ? [el("option", { value: "", textContent: "All teams" })] : []),
    ...teams.map((t) => el("option", { value: t.id, textContent: t.name })),
  );
  team.value = chosen.team;
  const from = el("input", { id: "s-from", name: "from", type: "date", value: chosen.from, required: true });
  const to = el("input", { id: "s-to", name: "to", type: "date", value: chosen.to, required: true });
  const group = el(
    "select",
    { id: "s-group", name: "group" },
    ...Object.entries(GROUPS).map(([value, textContent]) => el("option", { value, textContent })),
  );
  group.value = chosen.group;
  const form = el(
    "form",
    {
      className: "filters",
      "aria-label": "Summary filters",
      onsubmit: (ev) => {
        ev.preventDefault();
        globalThis.ticketclockGo(
          `/summary?${query({ team: team.value, from: from.value, to: to.value, group: group.value })}`,
        );
      },
    },
    el("label", { for: "s-team" }, "Team", team),
    el("label", { for: "s-from" }, "From", from),
    el("label", { for: "s-to" }, "To", to),
    el("label", { for: "s-group" }, "Group by", group),
    el("button", { type: "submit", className: "primary" }, "Show"),
  );
  main.append(form);
  const data = await api("GET", `/api/team/v1/summary?${query(chosen)}`);
  const label = (r) => (data.group === "status" ? statusText(r.label) : r.label || "—");
  main.append(
    data.rows.length
      ? el(
          "table",
          { className: "list", id: "summary-table", "aria-label": `Time by ${GROUPS[data.group].toLowerCase()}` },
          el(
            "thead",
            {},
            el(
              "tr",
              {},
              el("th", { scope: "col", textContent: GROUPS[data.group] }),
              el("th", { scope: "col", className: "num", textContent: "Entries" }),
              el("th", { scope: "col", className: "num", textContent: "Hours" }),
              el("th", { scope: "col", className: "num", textContent: "Billed" }),
            ),
          ),
          el(
            "tbody",
            {},
            ...data.rows.map((r) =>
              el(
                "tr",
                { dataset: { key: r.key } },
                el("th", { scope: "row", textContent: label(r) }),
                el("td", { className: "num", textContent: String(r.entries) }),
                el("td", { className: "num", textContent: hm(r.seconds) }),
                el("td", { className: "num", textContent: hm(r.billed_seconds) }),
              ),
            ),
          ),
          el(
            "tfoot",
            {},
            el(
              "tr",
              {},
              el("th", { scope: "row", textContent: "Total" }),
              el("td", { className: "num", textContent: String(data.entries) }),
              el("td", { className: "num total", id: "summary-total", textContent: hm(data.seconds) }),
              el("td", { className: "num", textContent: hm(data.billed_seconds) }),
            ),
          ),
        )
      : el("p", { className: "muted", textContent: "No time in this range." }),
    el("p", { className: "muted", textContent: `Days in ${data.timezone}.` }),
  );
}
