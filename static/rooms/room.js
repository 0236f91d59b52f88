// The room page: history, live events, the composer and the connection state.
//
// Every message element is keyed by message id, so whatever path a message comes by
// (first render, older history, the live stream, a replay after reconnect, the answer
// to our own POST) it is shown once. Events are applied in id order and an event id
// already applied is ignored.
import { ApiError, requestJson } from "./api.js";

const room = document.getElementById("room");
const list = document.getElementById("messages");
const history = document.getElementById("history");
const template = document.getElementById("message-template");
const conn = document.getElementById("conn");
const jump = document.getElementById("jump");
const announcer = document.getElementById("announcer");
const composer = document.getElementById("composer");
const input = document.getElementById("composer-input");
const me = room.dataset.username;
const messagesUrl = room.dataset.messagesUrl;

const byId = new Map();        // message id -> element
const outbox = new Map();      // client_id -> {body, element, state}
let lastEventId = Number(room.dataset.lastEventId) || 0;
let hasMore = room.dataset.hasMore === "true";
let loadingOlder = false;

// Rendering

const URL_PATTERN = /\bhttps?:\/\/[^\s<>"']+[^\s<>"'.,;:!?)\]]/g;

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
  element.title = date.toLocaleString();
}

function applyMessage(element, message) {
  element.dataset.id = message.id ?? "";
  element.dataset.author = message.author;
  element.classList.toggle("mine", message.author === me);
  element.classList.toggle("deleted", Boolean(message.deleted));
  element.querySelector(".author").textContent = message.author;
  const time = element.querySelector(".time");
  time.setAttribute("datetime", message.created);
  formatTime(time);
  element.querySelector(".edited").hidden = !message.edited || message.deleted;
  const body = element.querySelector(".body");
  if (message.deleted) body.textContent = "This message was deleted.";
  else renderBody(body, message.body);
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

// Insert or update a message from the server; keep the list in id order.
function upsert(message, { announce = false } = {}) {
  let element = byId.get(message.id);
  if (!element && message.client_id && outbox.has(message.client_id)) {
    element = outbox.get(message.client_id).element;
    outbox.delete(message.client_id);
    setStatus(element, "");
    element.querySelector(".retry").hidden = true;
    element.classList.remove("pending", "failed");
  }
  if (element) {
    applyMessage(element, message);
  } else {
    element = newMessageElement(message);
    if (announce && message.author !== me) {
      announcer.textContent = `${message.author}: ${message.deleted ? "deleted message" : message.body}`;
    }
  }
  byId.set(message.id, element);
  placeInOrder(element, message.id);
  return element;
}

function placeInOrder(element, id) {
  // Confirmed messages are ordered by id; pending ones stay at the end.
  let before = null;
  for (const other of list.children) {
    const otherId = Number(other.dataset.id);
    if (other === element) continue;
    if (!other.dataset.id || otherId > id) { before = other; break; }
  }
  if (element.nextSibling !== before || element.parentNode !== list) list.insertBefore(element, before);
}

// Scrolling

function atBottom() {
  return history.scrollHeight - history.scrollTop - history.clientHeight < 40;
}

function scrollToBottom() {
  history.scrollTop = history.scrollHeight;
  jump.hidden = true;
}

function afterInsert(wasAtBottom, fromOthers) {
  if (wasAtBottom) scrollToBottom();
  else if (fromOthers) jump.hidden = false;
}

jump.addEventListener("click", scrollToBottom);
history.addEventListener("scroll", () => {
  if (atBottom()) jump.hidden = true;
  if (history.scrollTop < 200) loadOlder();
});

async function loadOlder() {
  if (!hasMore || loadingOlder) return;
  const ids = [...byId.keys()];
  if (!ids.length) return;
  loadingOlder = true;
  document.getElementById("history-loading").hidden = false;
  try {
    const oldest = Math.min(...ids);
    const page = await requestJson("GET", `${messagesUrl}?before=${oldest}&limit=50`);
    const previousHeight = history.scrollHeight;
    for (const message of page.messages) {
      if (!byId.has(message.id)) upsert(message);
    }
    history.scrollTop += history.scrollHeight - previousHeight;
    hasMore = page.has_more;
    document.getElementById("history-start").hidden = hasMore;
  } catch (err) {
    console.warn("could not load older messages", err);
  } finally {
    loadingOlder = false;
    document.getElementById("history-loading").hidden = true;
  }
}

// Reload the latest page after a reset: what we had may be stale.
async function reloadHistory() {
  const page = await requestJson("GET", `${messagesUrl}?limit=50`);
  for (const [id, element] of byId) {
    if (!page.messages.some((m) => m.id === id)) element.remove();
  }
  byId.clear();
  for (const message of page.messages) upsert(message);
  hasMore = page.has_more;
  document.getElementById("history-start").hidden = hasMore;
  scrollToBottom();
}

// The stream

function setConnection(state) {
  conn.dataset.state = state;
  conn.textContent = { live: "Live", reconnecting: "Reconnecting…", offline: "Offline", connecting: "Connecting…", closed: "Disconnected" }[state];
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
window.addEventListener("offline", () => setConnection("offline"));
window.addEventListener("online", () => setConnection("reconnecting"));

stream.addEventListener("message", onEvent((message) => {
  const wasAtBottom = atBottom();
  upsert(message, { announce: true });
  afterInsert(wasAtBottom, message.author !== me);
}));
stream.addEventListener("message_edited", onEvent((message) => upsert(message)));
stream.addEventListener("message_deleted", onEvent((data) => {
  const element = byId.get(data.id);
  if (!element) return;
  element.classList.add("deleted");
  element.querySelector(".body").textContent = "This message was deleted.";
  element.querySelector(".edited").hidden = true;
}));
stream.addEventListener("member_joined", onEvent(() => {}));
stream.addEventListener("member_left", onEvent(() => {}));
stream.addEventListener("reset", (event) => {
  lastEventId = Number(event.lastEventId) || lastEventId;
  reloadHistory().catch((err) => console.warn("could not reload history", err));
});
stream.addEventListener("revoked", () => {
  stream.close();
  setConnection("closed");
  conn.textContent = "You no longer have access to this room";
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
  setStatus(entry.element, "sending…");
  entry.element.querySelector(".retry").hidden = true;
  entry.element.classList.remove("failed");
  try {
    const message = await requestJson("POST", messagesUrl, { body: entry.body, client_id: clientId });
    const wasAtBottom = atBottom();
    upsert(message);
    afterInsert(wasAtBottom, false);
  } catch (err) {
    if (!outbox.has(clientId)) return; // the stream delivered it meanwhile
    if (err.status === 0 || err.status >= 500) {
      // Not delivered, or we don't know: the same client_id makes a retry safe.
      entry.state = "waiting";
      setStatus(entry.element, "not sent yet: will retry when the connection is back");
      entry.element.querySelector(".retry").hidden = false;
    } else {
      entry.state = "failed";
      entry.element.classList.add("failed");
      setStatus(entry.element, `not sent: ${err.message}`);
      entry.element.querySelector(".retry").hidden = false;
    }
  }
}

function flushOutbox() {
  for (const [clientId, entry] of outbox) {
    if (entry.state === "waiting") send(clientId);
  }
}
window.addEventListener("online", flushOutbox);

if (composer) {
  composer.addEventListener("submit", (event) => {
    event.preventDefault();
    const body = input.value.trim();
    if (!body) return;
    const clientId = newClientId();
    const element = newMessageElement({ id: null, author: me, body, created: new Date().toISOString() });
    element.classList.add("pending");
    element.querySelector(".retry").addEventListener("click", () => {
      outbox.get(clientId).state = "waiting";
      send(clientId);
    });
    outbox.set(clientId, { body, element, state: "waiting" });
    list.append(element);
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
  const autosize = () => {
    input.style.height = "auto";
    input.style.height = `${Math.min(input.scrollHeight, 200)}px`;
  };
  input.addEventListener("input", autosize);
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
      upsert(await requestJson("DELETE", url));
    } catch (err) {
      setStatus(element, `could not delete: ${err.message}`);
    }
  } else if (button.classList.contains("edit")) {
    startEdit(element, url);
  }
});

function startEdit(element, url) {
  if (element.querySelector("form.edit-form")) return;
  const body = element.querySelector(".body");
  const form = document.createElement("form");
  form.className = "edit-form";
  const label = document.createElement("label");
  label.className = "sr-only";
  label.textContent = "Edit message";
  const area = document.createElement("textarea");
  area.value = body.textContent;
  area.maxLength = Number(room.dataset.maxLength);
  label.append(area);
  const save = document.createElement("button");
  save.type = "submit";
  save.className = "small primary";
  save.textContent = "Save";
  const cancel = document.createElement("button");
  cancel.type = "button";
  cancel.className = "small";
  cancel.textContent = "Cancel";
  form.append(label, save, cancel);
  body.hidden = true;
  body.after(form);
  area.focus();
  const close = () => { form.remove(); body.hidden = false; };
  cancel.addEventListener("click", close);
  area.addEventListener("keydown", (event) => {
    if (event.key === "Escape") close();
    if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); form.requestSubmit(); }
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      upsert(await requestJson("PATCH", url, { body: area.value }));
      close();
    } catch (err) {
      setStatus(element, err instanceof ApiError ? `could not save: ${err.message}` : "could not save");
    }
  });
}

// First render

for (const element of list.querySelectorAll(".message")) {
  byId.set(Number(element.dataset.id), element);
  formatTime(element.querySelector(".time"));
  if (!element.classList.contains("deleted")) {
    const body = element.querySelector(".body");
    renderBody(body, body.textContent);
  }
}
scrollToBottom();
if (history.scrollHeight <= history.clientHeight) loadOlder();
