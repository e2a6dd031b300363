// The one date and time format of the web pages: the user's zone (the browser's), 24-hour, days as "Mon 23 Nov".
// Every page formats times through here (never toLocaleString, whose shape follows the browser's locale).

const pad = (n) => String(n).padStart(2, "0");

/** Epoch seconds -> "15:16" (local, 24-hour). */
export function clock(epoch) {
  const d = new Date(epoch * 1000);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** Epoch seconds -> "15:16:23" (local, 24-hour). */
export function clockSeconds(epoch) {
  const d = new Date(epoch * 1000);
  return `${clock(epoch)}:${pad(d.getSeconds())}`;
}

/** Epoch seconds -> the local calendar day, "2026-11-23". */
export function localDay(epoch) {
  const d = new Date(epoch * 1000);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

const DAY_FMT = new Intl.DateTimeFormat("en-GB", { weekday: "short", day: "numeric", month: "short", timeZone: "UTC" });
/** A calendar day "2026-11-23" -> "Mon 23 Nov" (a day has no zone: formatted as written). */
export function dayLabel(day) {
  return DAY_FMT.format(new Date(`${day}T00:00:00Z`)).replace(",", "");
}

/** Epoch seconds -> "Mon 23 Nov 09:00" (with `seconds`: "Mon 23 Nov 09:00:05"). */
export function dateTime(epoch, { seconds = false } = {}) {
  return `${dayLabel(localDay(epoch))} ${seconds ? clockSeconds(epoch) : clock(epoch)}`;
}
