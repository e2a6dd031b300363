// The client-side router of both web UIs (the daemon's pages, app.js; the team server's, team.js): one HTML file,
// each page a module with `render(main, params, ctx)` and an optional `leave()`. Links to pages of the app change
// the page without a reload; the browser's back and forward buttons work.

import { $, el, flash } from "./ui.js";

/**
 * pages: name -> module; titles: name -> heading; suffix: after the title in the tab ("TicketClock");
 * pageOf(pathname): the page's name for an address; context(): what the pages get as `ctx`;
 * active(): whether addresses are routed now (the team UI's sign-in page is not).
 */
export function router({ pages, titles, suffix, pageOf, context = () => undefined, active = () => true }) {
  let current = null;

  async function show(url) {
    const name = pageOf(url.pathname);
    current?.leave?.();
    current = pages[name];
    document.title = `${titles[name]} · ${suffix}`;
    for (const a of document.querySelectorAll("nav a")) {
      if (a.dataset.page === name) a.setAttribute("aria-current", "page");
      else a.removeAttribute("aria-current");
    }
    const main = $("main");
    main.replaceChildren(el("h1", { textContent: titles[name] }));
    flash("");
    document.body.dataset.page = name;
    delete document.body.dataset.rendered;
    try {
      await current.render(main, url.searchParams, context());
    } catch (err) {
      if (err.status !== 401) main.append(el("p", { className: "error", role: "alert", textContent: err.message }));
    }
    document.body.dataset.rendered = "1";
  }

  /** Go to a page of this app without reloading (the links and the pages' own navigation use this). */
  function go(href, { replace = false } = {}) {
    const url = new URL(href, location.href);
    if (replace) history.replaceState(null, "", url);
    else history.pushState(null, "", url);
    return show(url);
  }
  globalThis.ticketclockGo = go;

  document.addEventListener("click", (ev) => {
    const a = ev.target.closest?.("a[href]");
    if (!a || !active() || a.target || a.dataset.download || a.hasAttribute("download")) return;
    if (ev.ctrlKey || ev.metaKey || ev.shiftKey) return;
    const url = new URL(a.href);
    if (url.origin !== location.origin || url.pathname.startsWith("/api/")) return;
    ev.preventDefault();
    go(url).then(() => $("main").focus());
  });
  window.addEventListener("popstate", () => active() && show(new URL(location.href)));

  /** Leave the page shown (signed out): its `leave()` runs, nothing is shown until the next `show`. */
  function leave() {
    current?.leave?.();
    current = null;
  }
  return { show, go, leave };
}
