// The room page: history, live events, the composer and the connection state.
//
// Every message element is keyed by message id, so whatever path a message comes by
// (first render, older history, the live stream, a replay after reconnect, the answer
// to our own POST) it is shown once. Events are applied in id order and an event id
// already applied is ignored. Message text is only ever set as text.
import { ApiError, requestJson } from "./api.js";

const room = document.getElementById("room");
const list = document.getElementById("messages");
const scroller = document.getElementById("history");
const template = document.getElementById("message-template");
const conn = document.getElementById("conn");
const jump = document.getElementById("jump");
const announcer = document.getElementById("announcer");
const composer = document.getElementById("composer");
const input = document.getElementById("composer-input");
const historyStart = document.getElementById("history-start");
const historyLoading = document.getElementById("history-loading");
const me = room.dataset.username;
const messagesUrl = room.dataset.messagesUrl;
const PAGE_SIZE = 50;
const DELETED_TEXT = "This message was deleted.";
const REMOVED_TEXT = "This message was removed by a moderator.";
const notice = document.getElementById("room-notice");

const byId = new Map();        // message id -> element
const outbox = new Map();      // client_id -> {body, element, state}
let lastEventId = Number(room.dataset.lastEventId) || 0;
let hasMore = room.dataset.hasMore === "true";
let oldestLoaded = null;       // the smallest message id of the contiguous history shown
let loadingOlder = false;

// Rendering

const URL_PATTERN = /\bhttps?:\/\/[^\s<>"']+[^\s<>"'.,;:!?)\]}]/g;

// Message text is always set as text; links become anchors built from text nodes.
function renderBody(element, text) {
  element.replaceChildren();
  let last = 0;
  for (const match of text.matchAll(URL_PATTERN)) {
    element.append(document.createTextNode(text.slice(last, match.index)));
    const link = document.createElement("a");
    link.href = match[0];
    link.textContent = match[0];
    link.rel = "noopener noreferrer nofollow";
    link.target = "_blank";
    element.append(link);
    last = match.index + match[0].length;
  }
  element.append(document.createTextNode(text.slice(last)));
}

function formatTime(element) {
  const date = new Date(element.getAttribute("datetime"));
  if (Number.isNaN(date.getTime())) return;
  const sameDay = date.toDateString() === new Date().toDateString();
  element.textContent = sameDay
    ? date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })
    : date.toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
  element.title = date.toLocaleString([], { dateStyle: "full", timeStyle: "medium" });
}

function applyMessage(element, message) {
  element.dataset.id = message.id ?? "";
  element.dataset.author = message.author;
  element.classList.toggle("mine", message.author === me);
  element.classList.toggle("deleted", Boolean(message.deleted));
  element.classList.toggle("removed", Boolean(message.removed) && !message.deleted);
  element.querySelector(".author").textContent = message.author;
  const time = element.querySelector(".time");
  time.setAttribute("datetime", message.created);
  formatTime(time);
  element.querySelector(".edited").hidden = !message.edited || Boolean(message.deleted);
  const body = element.querySelector(".body");
  if (message.deleted) {
    body.textContent = DELETED_TEXT;
    closeEditor(element);
  } else if (message.removed) {
    body.textContent = REMOVED_TEXT;
    closeEditor(element);
  } else {
    renderBody(body, message.body);
  }
}

function newMessageElement(message) {
  const element = template.content.firstElementChild.cloneNode(true);
  applyMessage(element, message);
  return element;
}

function setStatus(element, text) {
  const status = element.querySelector(".status");
  status.textContent = text || "";
  status.hidden = !text;
}

function announce(text) {
  // Replace the text so that screen readers read each new message once.
  announcer.textContent = text;
}

// Insert or update a message from the server; keep the list in id order.
function upsert(message) {
  let element = byId.get(message.id);
  if (!element && message.client_id && outbox.has(message.client_id)) {
    element = outbox.get(message.client_id).element;
    outbox.delete(message.client_id);
    setStatus(element, "");
    element.querySelector(".retry").hidden = true;
    element.classList.remove("pending", "failed");
  }
  const isNew = !element;
  if (element) applyMessage(element, message);
  else element = newMessageElement(message);
  byId.set(message.id, element);
  placeInOrder(element, message.id);
  if (oldestLoaded === null || message.id < oldestLoaded) oldestLoaded = message.id;
  return { element, isNew };
}

function placeInOrder(element, id) {
  // Confirmed messages are ordered by id; pending ones stay at the end. New messages
  // almost always belong at the end: look from there.
  let before = null;
  for (let other = list.lastElementChild; other; other = other.previousElementSibling) {
    if (other === element) continue;
    if (other.dataset.id && Number(other.dataset.id) < id) break;
    before = other;
  }
  if (element.parentNode !== list || element.nextElementSibling !== before) {
    const oldNext = element.parentNode === list ? element.nextElementSibling : null;
    list.insertBefore(element, before);
    regroup(oldNext);
  }
  regroupAround(element);
}

// A message that follows one by the same author within a few minutes is "continued": it
// is shown without repeating the name and time (screen readers still get both).
const GROUP_MS = 5 * 60 * 1000;

function timeOf(element) {
  return Date.parse(element.querySelector(".time").getAttribute("datetime"));
}

function regroup(element) {
  if (!element || element.parentNode !== list) return;
  const previous = element.previousElementSibling;
  const gap = previous ? timeOf(element) - timeOf(previous) : NaN;
  element.classList.toggle(
    "continued",
    Boolean(previous) && previous.dataset.author === element.dataset.author && gap >= 0 && gap < GROUP_MS,
  );
}

function regroupAround(element) {
  regroup(element);
  regroup(element.nextElementSibling);
}

function markRemoved(id) {
  const element = byId.get(id);
  if (!element || element.classList.contains("deleted")) return;
  element.classList.add("removed");
  element.querySelector(".body").textContent = REMOVED_TEXT;
  element.querySelector(".body").hidden = false;
  element.querySelector(".edited").hidden = true;
  closeEditor(element);
}

function showNotice(text) {
  notice.textContent = text;
  notice.hidden = !text;
}

// What keeps the viewer from posting: first from the page, then from the stream's events.
const siteModerator = room.dataset.siteModerator === "true";
const postingState = {
  archived: room.dataset.archived === "true",
  locked: room.dataset.locked === "true",
  slowModeSeconds: Number(room.dataset.slowModeSeconds) || 0,
  muted: room.dataset.muted === "true",
  mutedUntil: room.dataset.mutedUntil || null,
};

function untilText(iso) {
  const date = iso ? new Date(iso) : null;
  if (!date || Number.isNaN(date.getTime())) return "";
  return ` until ${date.toLocaleString([], { dateStyle: "medium", timeStyle: "short" })}`;
}

// The notice says why one cannot post; the composer is off while one cannot.
function applyPostingState() {
  const state = postingState;
  const lockedOut = state.locked && !room.classList.contains("can-moderate");
  if (state.archived) showNotice("This room is archived: it is read-only.");
  else if (lockedOut) showNotice("This room is locked: only moderators can post.");
  else if (state.muted) showNotice(`You cannot post here: you are muted in this room${untilText(state.mutedUntil)}.`);
  else if (state.slowModeSeconds) showNotice(`Slow mode: one message every ${state.slowModeSeconds} seconds.`);
  else showNotice("");
  if (composer && conn.dataset.state !== "closed") {
    const blocked = state.archived || lockedOut || state.muted;
    for (const control of composer.elements) control.disabled = blocked;
  }
}

function markDeleted(id) {
  const element = byId.get(id);
  if (!element) return;
  element.classList.add("deleted");
  element.querySelector(".body").textContent = DELETED_TEXT;
  element.querySelector(".body").hidden = false;
  element.querySelector(".edited").hidden = true;
  closeEditor(element);
}

// Scrolling

function atBottom() {
  return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 48;
}

function scrollToBottom() {
  scroller.scrollTop = scroller.scrollHeight;
  jump.hidden = true;
}

// Keep what the reader is looking at still while content changes above it.
function keepingPosition(change) {
  const height = scroller.scrollHeight;
  const top = scroller.scrollTop;
  change();
  scroller.scrollTop = top + (scroller.scrollHeight - height);
}

function afterInsert(wasAtBottom, fromOthers) {
  if (wasAtBottom) scrollToBottom();
  else if (fromOthers) jump.hidden = false;
}

jump.addEventListener("click", () => {
  scrollToBottom();
  if (input) input.focus();
});
scroller.addEventListener("scroll", () => {
  if (atBottom()) jump.hidden = true;
  if (scroller.scrollTop < 300) loadOlder();
}, { passive: true });

function showHistoryEnd() {
  historyStart.hidden = hasMore;
}

async function loadOlder() {
  if (!hasMore || loadingOlder || oldestLoaded === null) return;
  loadingOlder = true;
  historyLoading.classList.add("active");
  try {
    const page = await requestJson("GET", `${messagesUrl}?before=${oldestLoaded}&limit=${PAGE_SIZE}`);
    keepingPosition(() => {
      for (const message of page.messages) {
        if (!byId.has(message.id)) upsert(message);
        else if (message.id < oldestLoaded) oldestLoaded = message.id;
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
  if (hasMore && scroller.scrollTop < 300) loadOlder();
}

// Reload the latest page after a reset: what we had may be stale.
async function reloadHistory() {
  const page = await requestJson("GET", `${messagesUrl}?limit=${PAGE_SIZE}`);
  const keep = new Set(page.messages.map((m) => m.id));
  const newest = page.messages.length ? page.messages[page.messages.length - 1].id : Infinity;
  // Drop what the page no longer vouches for; keep what arrived live after it was read.
  for (const [id, element] of byId) {
    if (!keep.has(id) && id <= newest) {
      element.remove();
      byId.delete(id);
    }
  }
  for (const element of list.children) regroup(element);
  oldestLoaded = null;
  for (const id of byId.keys()) if (oldestLoaded === null || id < oldestLoaded) oldestLoaded = id;
  for (const message of page.messages) upsert(message);
  hasMore = page.has_more;
  showHistoryEnd();
  scrollToBottom();
}

// The stream

const STATES = {
  connecting: "Connecting…",
  live: "Live",
  reconnecting: "Reconnecting…",
  offline: "Offline",
  closed: "No access",
};

function setConnection(state) {
  if (conn.dataset.state === "closed") return;
  conn.dataset.state = state;
  conn.querySelector(".conn-label").textContent = STATES[state];
  room.classList.toggle("disconnected", state !== "live");
}

function onEvent(handler) {
  return (event) => {
    const id = Number(event.lastEventId);
    if (id && id <= lastEventId) return; // already applied
    if (id) lastEventId = id;
    handler(JSON.parse(event.data));
  };
}

const stream = new ReconnectingEventSource(room.dataset.eventsUrl, {
  lastEventId: String(lastEventId),
  max_retry_time: 5000,
});
stream.onopen = () => {
  setConnection("live");
  flushOutbox();
};
stream.onerror = () => setConnection(navigator.onLine ? "reconnecting" : "offline");
// The stream reports errors only once it has been open: a first connect that keeps failing
// (the server is down as the page loads) shows as reconnecting too.
setTimeout(() => {
  if (conn.dataset.state === "connecting") setConnection(navigator.onLine ? "reconnecting" : "offline");
}, 5000);
window.addEventListener("offline", () => setConnection("offline"));
window.addEventListener("online", () => {
  // The stream may have stayed open through a short loss; if not, it is reconnecting.
  setConnection(stream.readyState === 1 ? "live" : "reconnecting");
  flushOutbox();
});

stream.addEventListener("message", onEvent((message) => {
  const wasAtBottom = atBottom();
  const { isNew } = upsert(message);
  const fromOthers = message.author !== me;
  if (isNew && fromOthers) announce(`${message.author}: ${message.body}`);
  afterInsert(wasAtBottom, isNew && fromOthers);
}));
stream.addEventListener("message_edited", onEvent((message) => {
  // Only messages on screen: an edit to an older one must not open a gap in the history.
  if (byId.has(message.id)) upsert(message);
}));
stream.addEventListener("message_deleted", onEvent((data) => markDeleted(data.id)));
stream.addEventListener("message_removed", onEvent((data) => markRemoved(data.id)));
stream.addEventListener("message_restored", onEvent((message) => upsert(message)));
stream.addEventListener("user_muted", onEvent((data) => {
  if (data.user !== me) return;
  postingState.muted = true;
  postingState.mutedUntil = data.until;
  applyPostingState();
}));
// A mute ends by a moderator's hand or when its time runs out (the server's task worker
// writes the same event then): either way the composer works again, without a reload.
stream.addEventListener("user_unmuted", onEvent((data) => {
  if (data.user !== me || !postingState.muted) return;
  postingState.muted = false;
  postingState.mutedUntil = null;
  applyPostingState();
  announce("You can post in this room again.");
}));
stream.addEventListener("room_updated", onEvent((data) => {
  postingState.archived = Boolean(data.archived);
  postingState.locked = Boolean(data.locked);
  postingState.slowModeSeconds = Number(data.slow_mode_seconds) || 0;
  applyPostingState();
}));
stream.addEventListener("user_banned", onEvent(() => {}));
stream.addEventListener("user_unbanned", onEvent(() => {}));
// Named or unnamed a room moderator: the moderators' buttons and the right to post in a
// locked room follow (site moderators moderate every room whatever their role).
stream.addEventListener("member_role_changed", onEvent((data) => {
  if (data.user !== me) return;
  const moderates = siteModerator || data.role === "owner" || data.role === "moderator";
  room.classList.toggle("can-moderate", moderates);
  applyPostingState();
}));
stream.addEventListener("member_joined", onEvent(() => {}));
stream.addEventListener("member_left", onEvent(() => {}));
stream.addEventListener("reset", (event) => {
  const data = JSON.parse(event.data);
  lastEventId = Number(data.last_event_id) || 0;
  reloadHistory().catch((err) => console.warn("could not reload history", err));
});
stream.addEventListener("revoked", () => {
  stream.close();
  setConnection("offline");
  conn.dataset.state = "closed";
  conn.querySelector(".conn-label").textContent = STATES.closed;
  announce("You no longer have access to this room.");
  if (composer) {
    for (const control of composer.elements) control.disabled = true;
  }
});

// Posting

function newClientId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
}

async function send(clientId) {
  const entry = outbox.get(clientId);
  if (!entry || entry.state === "sending") return;
  entry.state = "sending";
  setStatus(entry.element, "Sending…");
  entry.element.querySelector(".retry").hidden = true;
  entry.element.classList.remove("failed");
  try {
    const message = await requestJson("POST", messagesUrl, { body: entry.body, client_id: clientId });
    const wasAtBottom = atBottom();
    upsert(message);
    afterInsert(wasAtBottom, false);
  } catch (err) {
    if (!outbox.has(clientId)) return; // the stream delivered it meanwhile
    entry.element.querySelector(".retry").hidden = false;
    entry.element.classList.add("failed");
    if (err.status === 0 || err.status >= 500) {
      // Not delivered, or we don't know: the same client_id makes a retry safe.
      entry.state = "waiting";
      setStatus(entry.element, "Not sent yet: it will be sent when the connection is back.");
      announce("Your message is not sent yet. It will be sent when the connection is back.");
    } else {
      entry.state = "failed";
      setStatus(entry.element, `Not sent: ${err.message}.`);
      announce(`Your message was not sent: ${err.message}. Use Retry to try again.`);
    }
  }
}

function flushOutbox() {
  for (const [clientId, entry] of outbox) {
    if (entry.state === "waiting") send(clientId);
  }
}

// Something the network did not deliver is retried every few seconds too, in case no
// "online" or reconnect event comes (the stream can stay up while a POST fails).
setInterval(() => { if (stream.readyState === 1) flushOutbox(); }, 5000);

window.addEventListener("beforeunload", (event) => {
  if (outbox.size) event.preventDefault(); // unsent messages: ask before leaving
});

function autosize() {
  input.style.height = "auto";
  input.style.height = `${Math.min(input.scrollHeight, 200)}px`;
}

if (composer) {
  composer.addEventListener("submit", (event) => {
    event.preventDefault();
    const body = input.value.trim();
    if (!body) return;
    const clientId = newClientId();
    const element = newMessageElement({ id: null, author: me, body, created: new Date().toISOString() });
    element.classList.add("pending");
    element.querySelector(".retry").addEventListener("click", () => {
      const entry = outbox.get(clientId);
      if (!entry) return;
      entry.state = "waiting";
      send(clientId);
    });
    outbox.set(clientId, { body, element, state: "waiting" });
    list.append(element);
    regroup(element);
    scrollToBottom();
    input.value = "";
    autosize();
    send(clientId);
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      composer.requestSubmit();
    }
  });
  input.addEventListener("input", autosize);
}

// Joining a public room one is reading.
const joinButton = document.querySelector("#join-form [data-join]");
if (joinButton) {
  joinButton.addEventListener("click", async () => {
    joinButton.disabled = true;
    try {
      await requestJson("POST", `/rooms/${encodeURIComponent(joinButton.dataset.join)}/join/`);
      window.location.reload();
    } catch (err) {
      joinButton.disabled = false;
      document.getElementById("join-error").textContent = `Could not join: ${err.message}`;
    }
  });
}

// Editing and deleting one's own messages

list.addEventListener("click", async (event) => {
  const button = event.target.closest("button");
  const element = event.target.closest(".message");
  if (!button || !element || !element.dataset.id) return;
  const url = `${messagesUrl}${element.dataset.id}/`;
  if (button.classList.contains("delete")) {
    if (!window.confirm("Delete this message?")) return;
    try {
      const message = await requestJson("DELETE", url);
      upsert(message);
      markDeleted(message.id);
      input?.focus();
    } catch (err) {
      setStatus(element, `Could not delete: ${err.message}.`);
    }
  } else if (button.classList.contains("edit")) {
    startEdit(element, url);
  } else if (button.classList.contains("remove")) {
    const reason = window.prompt("Remove this message for everyone. Reason (for the moderation log):");
    if (reason === null) return;
    try {
      await requestJson("POST", `${url}remove/`, { reason });
      markRemoved(Number(element.dataset.id));
    } catch (err) {
      setStatus(element, `Could not remove: ${err.message}.`);
    }
  } else if (button.classList.contains("restore")) {
    try {
      upsert(await requestJson("POST", `${url}restore/`, {}));
    } catch (err) {
      setStatus(element, `Could not restore: ${err.message}.`);
    }
  } else if (button.classList.contains("report")) {
    const reason = window.prompt("Report this message to the moderators. What is wrong with it?");
    if (!reason) return;
    try {
      await requestJson("POST", `${url}report/`, { reason });
      setStatus(element, "Reported. Thank you: the moderators will look at it.");
    } catch (err) {
      setStatus(element, `Could not report: ${err.message}.`);
    }
  }
});

function closeEditor(element) {
  const form = element.querySelector("form.edit-form");
  if (!form) return;
  form.remove();
  element.querySelector(".body").hidden = false;
  element.classList.remove("editing");
}

function startEdit(element, url) {
  if (element.querySelector("form.edit-form")) return;
  const body = element.querySelector(".body");
  const form = document.createElement("form");
  form.className = "edit-form";
  const label = document.createElement("label");
  label.className = "sr-only";
  label.textContent = "Edit message";
  label.htmlFor = `edit-${element.dataset.id}`;
  const area = document.createElement("textarea");
  area.id = label.htmlFor;
  area.value = body.textContent;
  area.maxLength = Number(room.dataset.maxLength);
  area.rows = Math.min(8, area.value.split("\n").length + 1);
  const hint = document.createElement("span");
  hint.className = "hint";
  hint.textContent = "Enter to save · Esc to cancel";
  const save = document.createElement("button");
  save.type = "submit";
  save.className = "small primary";
  save.textContent = "Save";
  const cancel = document.createElement("button");
  cancel.type = "button";
  cancel.className = "small";
  cancel.textContent = "Cancel";
  form.append(label, area, hint, cancel, save);
  body.hidden = true;
  element.classList.add("editing");
  body.after(form);
  area.focus();
  area.setSelectionRange(area.value.length, area.value.length);
  const close = () => {
    closeEditor(element);
    element.querySelector(".edit").focus();
  };
  cancel.addEventListener("click", close);
  area.addEventListener("keydown", (event) => {
    if (event.key === "Escape") { event.preventDefault(); close(); }
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    save.disabled = true;
    try {
      upsert(await requestJson("PATCH", url, { body: area.value }));
      setStatus(element, "");
      close();
    } catch (err) {
      save.disabled = false;
      setStatus(element, err instanceof ApiError ? `Could not save: ${err.message}.` : "Could not save.");
    }
  });
}

// First render

for (const element of list.querySelectorAll(".message")) {
  const id = Number(element.dataset.id);
  byId.set(id, element);
  if (oldestLoaded === null || id < oldestLoaded) oldestLoaded = id;
  formatTime(element.querySelector(".time"));
  if (!element.classList.contains("deleted") && !element.classList.contains("removed")) {
    const body = element.querySelector(".body");
    renderBody(body, body.textContent);
  }
}
for (const element of list.children) regroup(element);
showHistoryEnd();
if (!notice.hidden || postingState.muted) applyPostingState();
scrollToBottom();
if (hasMore && scroller.scrollHeight <= scroller.clientHeight) loadOlder();
if (input && window.matchMedia("(hover: hover) and (pointer: fine)").matches) input.focus();
