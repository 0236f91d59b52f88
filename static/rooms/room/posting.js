// What keeps the viewer from posting (an archived room, a locked one, a mute), or slows
// them down: the notice under the history says so, and the composer is off while they
// cannot post. The page renders the first state; the stream's events change it. The
// notice's words are the page's: <template id="notice-..."> (templates/rooms/_room_notice.html).
import { isDate, localDateTime } from "../time.js";
import * as outbox from "./outbox.js";
import { announce, me, room, siteModerator } from "./page.js";

const notice = document.getElementById("room-notice");
const state = {
  archived: room.dataset.archived === "true",
  locked: room.dataset.locked === "true",
  slowModeSeconds: Number(room.dataset.slowModeSeconds) || 0,
  muted: room.dataset.muted === "true",
  mutedUntil: room.dataset.mutedUntil || null,
};
let revoked = false;

// The notice for `reason` from its template, filled in; null for none.
function noticeFor(reason) {
  if (!reason) return null;
  const content = document.getElementById(`notice-${reason}`).content.cloneNode(true);
  const until = content.querySelector(".until");
  if (until && isDate(state.mutedUntil)) {
    const time = until.querySelector("time");
    time.setAttribute("datetime", state.mutedUntil);
    time.textContent = localDateTime(state.mutedUntil);
  } else if (until) {
    until.remove();
  }
  const seconds = content.querySelector(".seconds");
  if (seconds) seconds.textContent = String(state.slowModeSeconds);
  return content;
}

function apply() {
  const lockedOut = state.locked && !room.classList.contains("can-moderate");
  let reason = null;
  if (state.archived) reason = "archived";
  else if (lockedOut) reason = "locked";
  else if (state.muted) reason = "muted";
  else if (state.slowModeSeconds) reason = "slow";
  const content = noticeFor(reason);
  if (content) notice.replaceChildren(content);
  else notice.replaceChildren();
  notice.hidden = !content;
  if (!revoked) outbox.enable(!(state.archived || lockedOut || state.muted));
}

export function muted(data) {
  if (data.user !== me) return;
  state.muted = true;
  state.mutedUntil = data.until;
  apply();
}

// A mute ends by a moderator's hand or when its time runs out (the server's task worker
// writes the same event then): either way the composer works again, without a reload.
export function unmuted(data) {
  if (data.user !== me || !state.muted) return;
  state.muted = false;
  state.mutedUntil = null;
  apply();
  announce("You can post in this room again.");
}

export function roomUpdated(data) {
  state.archived = Boolean(data.archived);
  state.locked = Boolean(data.locked);
  state.slowModeSeconds = Number(data.slow_mode_seconds) || 0;
  const topic = document.getElementById("room-topic");
  if (topic && typeof data.topic === "string") {
    topic.textContent = data.topic;
    topic.hidden = !data.topic;
  }
  apply();
}

// Named or unnamed a room moderator: the moderators' buttons and the right to post in a
// locked room follow (site moderators moderate every room whatever their role).
export function roleChanged(data) {
  if (data.user !== me) return;
  const moderates = siteModerator || data.role === "owner" || data.role === "moderator";
  room.classList.toggle("can-moderate", moderates);
  apply();
}

// Access lost: nothing can be posted any more.
export function revoke() {
  revoked = true;
  outbox.enable(false);
}

// The page rendered the first state; what needs the script (a mute's end in the viewer's
// time) is put in now.
export function start() {
  if (!notice.hidden || state.muted) apply();
}
