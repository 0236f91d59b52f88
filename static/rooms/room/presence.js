// Typing and presence (rooms/presence.py): "alice is typing…" under the messages, and who is
// here now (and who was lately) in the header.
//
// The page reports that it shows the room (POST presence/ with an id of its own) at once,
// every data-presence-heartbeat-seconds and when it becomes visible again, and says goodbye
// when it goes (pagehide): a member's tabs share one user stream for every room, so the
// server cannot tell from the stream which room is on screen. Each answer is the list, as
// is each `presence` event; the composer sends a typing signal at most once per
// data-typing-interval-seconds while one types. None of it has an id or is ever replayed.
import { csrfToken, requestJson } from "../api.js";
import { me, room } from "./page.js";

const typingUrl = room.dataset.typingUrl;
const presenceUrl = room.dataset.presenceUrl;
const HEARTBEAT_MS = (Number(room.dataset.presenceHeartbeatSeconds) || 20) * 1000;
const TYPING_INTERVAL_MS = (Number(room.dataset.typingIntervalSeconds) || 0) * 1000;
const TYPING_SHOWN_MS = 6000; // unless the event says otherwise

const line = document.getElementById("typing");
const panel = document.getElementById("presence");
const hereList = document.getElementById("here-now");
const recentList = document.getElementById("recently");
const recentWrap = document.getElementById("recently-wrap");
const input = document.getElementById("composer-input"); // absent for a reader
const tab = crypto.randomUUID
  ? crypto.randomUUID()
  : `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;

const typists = new Map(); // username -> the timer that forgets them
let lastTypingSent = 0;

function showTyping() {
  const names = [...typists.keys()];
  if (names.length === 0) line.textContent = "";
  else if (names.length === 1) line.textContent = `${names[0]} is typing…`;
  else if (names.length === 2) line.textContent = `${names[0]} and ${names[1]} are typing…`;
  else line.textContent = "Several people are typing…";
}

function forget(username) {
  clearTimeout(typists.get(username));
  typists.delete(username);
  showTyping();
}

// A `typing` event: {room, user, seconds}.
export function typing(data) {
  if (data.user === me) return;
  clearTimeout(typists.get(data.user));
  const ms = (Number(data.seconds) || 0) * 1000 || TYPING_SHOWN_MS;
  typists.set(data.user, setTimeout(() => forget(data.user), ms));
  showTyping();
}

// Their message arrived: they are done typing it.
export function messageFrom(author) {
  if (typists.has(author)) forget(author);
}

function fill(list, names) {
  list.replaceChildren(
    ...names.map((name) => {
      const item = document.createElement("li");
      item.textContent = name;
      if (name === me) item.classList.add("me");
      return item;
    }),
  );
}

// A `presence` event, or the answer to a report: {room, here: [...], recent: [...]}.
export function presence(data) {
  fill(hereList, data.here || []);
  fill(recentList, data.recent || []);
  recentWrap.hidden = !(data.recent || []).length;
  panel.hidden = false;
}

async function report() {
  try {
    presence(await requestJson("POST", presenceUrl, { tab, here: true }));
  } catch (err) {
    // The next heartbeat tries again; presence is best effort.
  }
}

function goodbye() {
  // keepalive: the request outlives the page.
  fetch(presenceUrl, {
    method: "POST",
    keepalive: true,
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
    body: JSON.stringify({ tab, here: false }),
  }).catch(() => {});
}

function sendTyping() {
  const now = Date.now();
  if (!input.value.trim() || now - lastTypingSent < TYPING_INTERVAL_MS) return;
  lastTypingSent = now;
  requestJson("POST", typingUrl).catch(() => {});
}

export function start() {
  if (!presenceUrl) return;
  report();
  setInterval(report, HEARTBEAT_MS);
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") report();
  });
  window.addEventListener("pagehide", goodbye);
  // Back from the back/forward cache: the page is here again.
  window.addEventListener("pageshow", (event) => { if (event.persisted) report(); });
  if (input) input.addEventListener("input", sendTyping);
}
