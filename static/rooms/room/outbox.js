// The composer and the outbox. One's own post shows at once, pending, and is sent with a
// client_id, so that sending it again never posts it twice. One that could not be sent
// stays, marked "not sent yet" with a Retry button, and goes again when the stream
// reconnects, the browser is back online, or every few seconds.
import { requestJson } from "../api.js";
import { afterInsert, atBottom, reload, scrollToBottom, showingLatest } from "./history.js";
import * as messages from "./messages.js";
import { announce, me, messagesUrl } from "./page.js";
import * as uploads from "./uploads.js";

const RETRY_EVERY_MS = 5000;
const MAX_COMPOSER_PX = 200;

const composer = document.getElementById("composer"); // absent until one joins the room
const input = document.getElementById("composer-input");
const replyBar = document.getElementById("reply-bar");
let replying = null; // {id, author, excerpt}: the message the next post answers
// client_id -> {body, attachments (upload ids), element, state: waiting, sending or failed}
const outbox = new Map();

function newClientId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
}

// The element of a pending post whose message has arrived (by the stream, say): it is sent.
function claim(clientId) {
  const entry = outbox.get(clientId);
  if (!entry) return null;
  outbox.delete(clientId);
  messages.setStatus(entry.element, "");
  entry.element.querySelector(".retry").hidden = true;
  entry.element.classList.remove("pending", "failed");
  return entry.element;
}

async function send(clientId) {
  const entry = outbox.get(clientId);
  if (!entry || entry.state === "sending") return;
  entry.state = "sending";
  messages.setStatus(entry.element, "Sending…");
  entry.element.querySelector(".retry").hidden = true;
  entry.element.classList.remove("failed");
  try {
    const payload = { body: entry.body, client_id: clientId };
    if (entry.attachments.length) payload.attachments = entry.attachments;
    if (entry.replyTo) payload.reply_to = entry.replyTo.id;
    const message = await requestJson("POST", messagesUrl, payload);
    const wasAtBottom = atBottom();
    messages.upsert(message);
    afterInsert(wasAtBottom, false);
  } catch (err) {
    if (!outbox.has(clientId)) return; // the stream delivered it meanwhile
    entry.element.querySelector(".retry").hidden = false;
    entry.element.classList.add("failed");
    if (err.status === 0 || err.status >= 500) {
      // Not delivered, or we don't know: the same client_id makes a retry safe.
      entry.state = "waiting";
      messages.setStatus(entry.element, "Not sent yet: it will be sent when the connection is back.");
      announce("Your message is not sent yet. It will be sent when the connection is back.");
    } else {
      entry.state = "failed";
      messages.setStatus(entry.element, `Not sent: ${err.message}.`);
      announce(`Your message was not sent: ${err.message}. Use Retry to try again.`);
    }
  }
}

// Send again what waits for the connection (not what the server refused: that has Retry).
export function flush() {
  for (const [clientId, entry] of outbox) {
    if (entry.state === "waiting") send(clientId);
  }
}

function autosize() {
  input.style.height = "auto";
  input.style.height = `${Math.min(input.scrollHeight, MAX_COMPOSER_PX)}px`;
}

// Show one's post at once, pending, in the outbox; return its client_id.
function addPending(body, attachments, replyTo) {
  const clientId = newClientId();
  const element = messages.newMessageElement({
    id: null,
    author: me,
    body,
    created: new Date().toISOString(),
    reply_to: replyTo ? { ...replyTo, excerpt: replyTo.excerpt.slice(0, 100) } : null,
  });
  element.classList.add("pending");
  element.querySelector(".retry").addEventListener("click", () => {
    const entry = outbox.get(clientId);
    if (!entry) return;
    entry.state = "waiting";
    send(clientId);
  });
  outbox.set(clientId, { body, attachments, replyTo, element, state: "waiting" });
  messages.appendPending(element);
  scrollToBottom();
  return clientId;
}

// The composer's controls on or off (muted, locked, archived, access lost).
export function enable(enabled) {
  if (!composer) return;
  for (const control of composer.elements) control.disabled = !enabled;
}

export function focus() {
  if (input) input.focus();
}

// The next post answers this message (the Reply button); null: it answers none.
export function replyTo(message) {
  if (!composer || !replyBar) return;
  replying = message;
  replyBar.hidden = !message;
  if (message) {
    replyBar.querySelector(".reply-author").textContent = message.author;
    replyBar.querySelector(".reply-excerpt").textContent = message.excerpt.replace(/\s+/g, " ").slice(0, 100);
    focus();
  }
}

// canSend: whether the stream is open (the periodic retry waits for it).
export function start({ canSend }) {
  messages.claimPendingWith(claim);
  // Something the network did not deliver is retried every few seconds too, in case no
  // "online" or reconnect event comes (the stream can stay up while a POST fails).
  setInterval(() => { if (canSend()) flush(); }, RETRY_EVERY_MS);
  window.addEventListener("beforeunload", (event) => {
    if (outbox.size) event.preventDefault(); // unsent messages: ask before leaving
  });
  if (!composer) return;
  // Without JavaScript the form posts itself and the server redirects back to the page.
  composer.addEventListener("submit", (event) => {
    event.preventDefault();
    const body = input.value.trim();
    if (uploads.uploading()) {
      announce(uploads.stillUploadingText);
      return;
    }
    const attachments = uploads.readyIds();
    if (!body && !attachments.length) return;
    // Opened at an older message: one's post goes at the present, so go there first.
    if (!showingLatest()) reload().catch((err) => console.warn("could not load the present", err));
    const clientId = addPending(body, attachments, replying);
    replyTo(null);
    input.value = "";
    uploads.clear();
    autosize();
    send(clientId);
  });
  // With files ready the text may be empty.
  uploads.start({ changed: () => { input.required = !uploads.readyIds().length; } });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      composer.requestSubmit();
    }
  });
  input.addEventListener("input", autosize);
  if (replyBar) {
    replyBar.querySelector(".cancel").addEventListener("click", () => { replyTo(null); focus(); });
    input.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && replying) { event.preventDefault(); replyTo(null); }
    });
  }
}
