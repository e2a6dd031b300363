// After installation: open the options page once, with the pairing step first. Not again on updates or browser
// restarts, and not when the browser is already paired (a managed install pairs itself).

import * as settings from "./settings.js";

export async function openOptionsOnce() {
  if (!(await settings.firstOnboarding())) return false;
  if ((await settings.getToken()) || (await settings.getManaged()).pairingSecret) return false;
  await globalThis.chrome.runtime.openOptionsPage();
  return true;
}
