// Reading: the "New messages" line where the reader left off, and the read position moved
// as they actually read (the tab visible and the history at the bottom), so that the
// room stops being bold in the sidebar of every tab (the user stream's `read` event).
import { requestJson } from "../api.js";
import * as live from "../live.js";
import * as history from "./history.js";
import * as messages from "./messages.js";
import { isMember, lastRead, readUrl, slug } from "./page.js";

const MARK_AFTER_MS = 300; // a burst of messages, or of scroll events, is one request
// And a look now and then, for what no event tells (the layout settling at the bottom, a
// window that got the focus unnoticed): no request unless there is something new to mark.
const CHECK_EVERY_MS = 2000;

const scroller = document.getElementById("history");
const dividerTemplate = document.getElementById("unread-divider");
let marked = lastRead; // the furthest read position we know of
let timer = null;

// Whether the reader sees the newest messages now.
export function isReading() {
  return isMember && document.visibilityState === "visible" && history.atBottom();
}

// Mark what is shown as read, soon, if the reader is reading (call after a message came).
export function markSoon() {
  if (!isMember) return;
  clearTimeout(timer);
  timer = setTimeout(mark, MARK_AFTER_MS);
}

async function mark() {
  const newest = messages.newestId();
  if (!isReading() || newest === null || newest <= marked) return;
  const before = marked;
  marked = newest;
  try {
    const state = await requestJson("POST", readUrl, { up_to: newest });
    marked = Math.max(marked, Number(state.last_read) || 0);
  } catch (err) {
    if (marked === newest) marked = before; // try again at the next chance
    console.warn("could not mark the room read", err);
  }
}

// The line stays where it was put until the page is left.
// LIMITATION: it is placed among the messages rendered (the latest page); when more unread
// ones lie above them, it sits above the first one shown, and the page still opens at the
// bottom.
function showDivider() {
  const divider = dividerTemplate.content.firstElementChild.cloneNode(true);
  messages.placeMarker(divider, lastRead);
}

export function start() {
  if (!isMember) return;
  showDivider();
  scroller.addEventListener("scroll", () => { if (history.atBottom()) markSoon(); }, { passive: true });
  document.addEventListener("visibilitychange", markSoon);
  window.addEventListener("focus", markSoon);
  window.addEventListener("resize", markSoon);
  setInterval(() => { if (isReading()) markSoon(); }, CHECK_EVERY_MS);
  live.listen({
    event: ({ event, data }) => {
      // Read in another tab or device: nothing to send for what is read already.
      if (event === "read" && data.room === slug) marked = Math.max(marked, Number(data.last_read) || 0);
    },
  });
  markSoon();
}
