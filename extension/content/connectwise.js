// Content script for ConnectWise PSA's single-page app, whose URL hash does not name the ticket.
// It reads the "Ticket #N" header and tells the service worker, which adds `page_ticket` to that tab's events
// (and ignores the message unless the tab is on a configured PSA origin). It reads nothing else and sends
// nothing else: no page text, no URL. Declared in manifest.json (the `scripting` permission is not used).
(() => {
  const TICKET = /\bTicket\s*#\s*(\d{1,10})\b/i;
  const SELECTORS = [".ticket-header", "[class*='TicketHeader']", "[class*='ticket-header']", "h1", "h2"];
  let last; // undefined until the first check, so the first result is always sent

  function readTicket() {
    for (const selector of SELECTORS) {
      for (const el of document.querySelectorAll(selector)) {
        const m = TICKET.exec(el.textContent || "");
        if (m) return m[1];
      }
    }
    return null;
  }

  function check() {
    const ticket = readTicket();
    if (ticket === last) return;
    last = ticket;
    try {
      chrome.runtime.sendMessage({ type: "page_ticket", ticket }).catch(() => {});
    } catch {
      // the extension was reloaded: this old content script has no worker any more
    }
  }

  let timer = null;
  const later = () => {
    if (timer === null) {
      timer = setTimeout(() => {
        timer = null;
        check();
      }, 300);
    }
  };

  check();
  new MutationObserver(later).observe(document.documentElement, {
    childList: true,
    subtree: true,
    characterData: true,
  });
  window.addEventListener("hashchange", later);
})();
