// Keyboard commands (manifest "commands"): pause/resume and stop the attended timer.

import * as api from "./api.js";
import { attendedTimer } from "./format.js";

export async function onCommand(command) {
  try {
    const { timers } = await api.listTimers();
    // The attended timer: the most recently attended running one, else the most recently attended at all.
    const timer = attendedTimer(timers) ?? attendedTimer(timers, { runningOnly: false });
    if (!timer) return;
    if (command === "toggle-pause") await (timer.running ? api.pause(timer.id) : api.resume(timer.id));
    else if (command === "stop-timer") await api.stop(timer.id);
  } catch (err) {
    console.warn("command", command, api.errorText(err));
  }
}
