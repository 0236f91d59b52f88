// The history's scrolling: older pages as the reader scrolls up, the position kept while
// they arrive, the "New messages" button, and a fresh history after a reset. A page opened
// at a message (a search result, ?around=<id>) loads newer pages too as one scrolls down,
// until it reaches the present.
import { requestJson } from "../api.js";
import * as messages from "./messages.js";
import { messagesUrl, room } from "./page.js";

const PAGE_SIZE = 50;
const LOAD_OLDER_WITHIN_PX = 300; // from the top
const LOAD_NEWER_WITHIN_PX = 300; // from the bottom, when opened at an older message
const AT_BOTTOM_WITHIN_PX = 48;

const scroller = document.getElementById("history");
const jump = document.getElementById("jump");
const historyStart = document.getElementById("history-start");
const historyLoading = document.getElementById("history-loading");
let hasMore = room.dataset.hasMore === "true";
let hasNewer = room.dataset.hasNewer === "true"; // newer messages than those shown exist
let loadingOlder = false;
let loadingNewer = false;

function fromBottom() {
  return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight;
}

// Whether the history shown reaches the present (live messages belong at its end).
export function showingLatest() {
  return !hasNewer;
}

export function atBottom() {
  return !hasNewer && fromBottom() < AT_BOTTOM_WITHIN_PX;
}

export function scrollToBottom() {
  scroller.scrollTop = scroller.scrollHeight;
  jump.hidden = true;
}

// After a message was put in: follow it if the reader was at the bottom, else offer the
// jump to it if someone else wrote it.
export function afterInsert(wasAtBottom, fromOthers) {
  if (wasAtBottom) scrollToBottom();
  else if (fromOthers) jump.hidden = false;
}

// Keep what the reader is looking at still while content changes above it.
function keepingPosition(change) {
  const height = scroller.scrollHeight;
  const top = scroller.scrollTop;
  change();
  scroller.scrollTop = top + (scroller.scrollHeight - height);
}

function showHistoryEnd() {
  historyStart.hidden = hasMore;
}

async function loadOlder() {
  const oldest = messages.oldestId();
  if (!hasMore || loadingOlder || oldest === null) return;
  loadingOlder = true;
  historyLoading.classList.add("active");
  try {
    const page = await requestJson("GET", `${messagesUrl}?before=${oldest}&limit=${PAGE_SIZE}`);
    keepingPosition(() => {
      for (const message of page.messages) {
        if (!messages.has(message.id)) messages.upsert(message);
      }
      hasMore = page.has_more;
      showHistoryEnd();
    });
  } catch (err) {
    console.warn("could not load older messages", err);
  } finally {
    loadingOlder = false;
    historyLoading.classList.remove("active");
  }
  // A tall screen may still show no scrollbar: keep filling it.
  if (hasMore && scroller.scrollTop < LOAD_OLDER_WITHIN_PX) loadOlder();
}

async function loadNewer() {
  const newest = messages.newestId();
  if (!hasNewer || loadingNewer || newest === null) return;
  loadingNewer = true;
  try {
    const page = await requestJson("GET", `${messagesUrl}?after=${newest}&limit=${PAGE_SIZE}`);
    for (const message of page.messages) {
      if (!messages.has(message.id)) messages.upsert(message);
    }
    hasNewer = page.has_more;
  } catch (err) {
    console.warn("could not load newer messages", err);
  } finally {
    loadingNewer = false;
  }
  if (hasNewer && fromBottom() < LOAD_NEWER_WITHIN_PX) loadNewer();
}

// A message arrived live while the page shows an older part of the history: offer the way
// down to the present rather than show it after a gap.
export function newerArrived() {
  jump.hidden = false;
}

// Reload the latest page after a reset: what we had may be stale. Return the room's last
// event id as the page was read (the answer's last_event_id).
export async function reload() {
  const page = await requestJson("GET", `${messagesUrl}?limit=${PAGE_SIZE}`);
  const keep = new Set(page.messages.map((m) => m.id));
  const newest = page.messages.length ? page.messages[page.messages.length - 1].id : Infinity;
  messages.dropAllBut(keep, newest);
  for (const message of page.messages) messages.upsert(message);
  hasMore = page.has_more;
  if (hasNewer) {
    // Back to the present: the address no longer points at the older message.
    hasNewer = false;
    window.history.replaceState(null, "", window.location.pathname);
  }
  showHistoryEnd();
  scrollToBottom();
  return Number(page.last_event_id) || 0;
}

// Open at the newest message, and fill a screen that the first page does not.
// onJump: after the "New messages" button took the reader down.
export function start({ onJump }) {
  jump.addEventListener("click", async () => {
    if (hasNewer) await reload().catch((err) => console.warn("could not load the present", err));
    scrollToBottom();
    onJump();
  });
  scroller.addEventListener("scroll", () => {
    if (atBottom()) jump.hidden = true;
    if (scroller.scrollTop < LOAD_OLDER_WITHIN_PX) loadOlder();
    if (hasNewer && fromBottom() < LOAD_NEWER_WITHIN_PX) loadNewer();
  }, { passive: true });
  showHistoryEnd();
}

export function openAtBottom() {
  scrollToBottom();
  if (hasMore && scroller.scrollHeight <= scroller.clientHeight) loadOlder();
}

// Open at one message (a search result): marked, in the middle of the screen.
export function openAt(id) {
  const element = messages.element(id);
  if (!element) {
    openAtBottom();
    return;
  }
  element.classList.add("found");
  element.setAttribute("aria-current", "true");
  element.scrollIntoView({ block: "center" });
  if (hasNewer) jump.hidden = false;
  if (hasMore && scroller.scrollTop < LOAD_OLDER_WITHIN_PX) loadOlder();
  if (hasNewer && fromBottom() < LOAD_NEWER_WITHIN_PX) loadNewer();
}
