// The list of messages: render a message from its data, keep the list in id order, and
// group a run of messages by one author.
//
// Every message element is keyed by message id, so whatever path a message comes by (first
// render, older history, the live stream, a replay after reconnect, the answer to one's own
// post) it is shown once. Message text is set as text; its formatting is the HTML the server
// rendered and sanitized once (message.html, rooms/formatting.py), inserted as it is and
// never parsed here. The elements are clones of the server's partial
// (templates/rooms/_message.html), and so are the tombstones' words.
import { fromTemplate } from "../templates.js";
import { showMessageTime } from "../time.js";
import * as mentions from "./mentions.js";
import { me } from "./page.js";

const list = document.getElementById("messages");
const template = fromTemplate(document.getElementById("message-template"));
const attachmentTemplate = fromTemplate(document.getElementById("attachment-template"));
const byId = new Map(); // message id -> element
let oldest = null; // the smallest message id shown: the history shown is contiguous from it
let newest = null; // the largest
// client_id -> the element of one's own post still pending, taken off the outbox (or null).
let claimPending = () => null;

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

// "1.2 MB", as the server's filesizeformat writes it.
function formatSize(bytes) {
  const units = [["GB", 2 ** 30], ["MB", 2 ** 20], ["KB", 2 ** 10]];
  for (const [unit, size] of units) {
    if (bytes >= size) return `${(bytes / size).toFixed(1)}\u00a0${unit}`;
  }
  return `${bytes}\u00a0bytes`;
}

// A message's files: thumbnails that open full size, documents with a download link. Every
// name, size and type is set as text; links go to the site's own file URLs only.
function renderAttachments(element, attachments) {
  const list = element.querySelector(".attachments");
  list.replaceChildren();
  for (const file of attachments) {
    const item = attachmentTemplate.clone();
    const image = item.querySelector(".attachment-image");
    const link = item.querySelector(".attachment-file");
    if (file.image) {
      item.classList.add("is-image");
      link.remove();
      image.href = file.url;
      image.title = file.name;
      const img = image.querySelector("img");
      img.src = file.image.thumbnail_url;
      img.alt = file.name;
      img.width = file.image.width;
      img.height = file.image.height;
    } else {
      item.classList.add("is-file");
      image.remove();
      link.href = file.url;
      link.querySelector(".file-name").textContent = file.name;
      link.querySelector(".file-size").textContent = formatSize(file.size);
      link.querySelector(".file-type").textContent = file.content_type;
    }
    list.append(item);
  }
  list.hidden = attachments.length === 0;
}

// The one-line quote of the message this one answers, as that message is now.
function renderQuote(element, quote) {
  const link = element.querySelector(".reply-quote");
  link.hidden = !quote;
  if (!quote) {
    link.removeAttribute("href");
    link.dataset.replyTo = "";
    return;
  }
  link.href = `?around=${quote.id}`;
  link.dataset.replyTo = String(quote.id);
  link.querySelector(".reply-author").textContent = quote.author;
  let words = quote.excerpt;
  if (quote.deleted) words = "deleted";
  else if (quote.removed) words = "removed";
  link.querySelector(".reply-excerpt").textContent = words;
}

// Reactions as chips: emoji, count, who (in the title); pressed if one of them is me.
function renderReactions(element, reactions) {
  const row = element.querySelector(".reactions");
  row.replaceChildren();
  for (const reaction of reactions) {
    const chip = document.createElement("button");
    chip.type = "button";
    chip.className = "reaction";
    chip.dataset.emoji = reaction.emoji;
    chip.setAttribute("aria-pressed", String(reaction.users.includes(me)));
    chip.title = reaction.users.join(", ");
    const glyph = document.createElement("span");
    glyph.className = "reaction-emoji";
    glyph.textContent = reaction.emoji;
    const count = document.createElement("span");
    count.className = "reaction-count";
    count.textContent = String(reaction.count);
    chip.append(glyph, " ", count);
    row.append(chip);
  }
}

function applyMessage(element, message) {
  element.dataset.id = message.id ?? "";
  element.dataset.author = message.author;
  element.classList.toggle("mine", message.author === me);
  element.classList.toggle("deleted", Boolean(message.deleted));
  element.classList.toggle("removed", Boolean(message.removed) && !message.deleted);
  element.querySelector(".author").textContent = message.author;
  element.querySelector(".bot-badge").hidden = !message.bot;
  const time = element.querySelector(".time");
  time.setAttribute("datetime", message.created);
  showMessageTime(time);
  element.querySelector(".edited").hidden = !message.edited || Boolean(message.deleted);
  const body = element.querySelector(".body");
  renderAttachments(element, message.deleted || message.removed ? [] : message.attachments || []);
  if (message.deleted) {
    body.textContent = template.texts.deleted;
    closeEditor(element);
  } else if (message.removed) {
    body.textContent = template.texts.removed;
    closeEditor(element);
  } else if (message.html) {
    body.innerHTML = message.html; // sanitized by the server (rooms/formatting.py)
  } else {
    renderBody(body, message.body); // a message known only from before formatting existed
  }
  element.dataset.mentions = (message.mentions || []).join(" ");
  element.dataset.mentionsRoom = String(Boolean(message.mentions_room));
  if (!message.deleted && !message.removed) {
    mentions.highlight(body, message.mentions, message.mentions_room, me);
  }
  const tombstone = Boolean(message.deleted || message.removed);
  body.classList.toggle("formatted", Boolean(message.html) && !tombstone);
  body.dataset.source = tombstone ? "" : message.body || "";
  renderQuote(element, message.reply_to || null);
  renderReactions(element, tombstone ? [] : message.reactions || []);
  element.classList.toggle("pinned", Boolean(message.pinned) && !tombstone);
  element.querySelector(".pin-mark").hidden = !(message.pinned && !tombstone);
  pinnedChanged(message);
}

// Who wants to know when a message is pinned or unpinned (the header's list).
let pinnedChanged = () => {};
export function onPinnedChange(callback) {
  pinnedChanged = callback;
}

export function newMessageElement(message) {
  const element = template.clone();
  applyMessage(element, message);
  return element;
}

// The text its author wrote (for editing, replying): not the rendered HTML's text.
export function sourceOf(element) {
  return element.querySelector(".body").dataset.source || "";
}

// A line under the message: "Sending…", why it failed, "Reported."; empty hides it.
export function setStatus(element, text) {
  const status = element.querySelector(".status");
  status.textContent = text || "";
  status.hidden = !text;
}

// The outbox hands over the element of a pending post when its message arrives.
export function claimPendingWith(claim) {
  claimPending = claim;
}

export function has(id) {
  return byId.has(id);
}

export function oldestId() {
  return oldest;
}

export function newestId() {
  return newest;
}

export function element(id) {
  return byId.get(id) ?? null;
}

// Insert or update a message from the server; keep the list in id order.
export function upsert(message) {
  let element = byId.get(message.id);
  if (!element && message.client_id) element = claimPending(message.client_id);
  const isNew = !element;
  if (element) applyMessage(element, message);
  else element = newMessageElement(message);
  byId.set(message.id, element);
  placeInOrder(element, message.id);
  if (oldest === null || message.id < oldest) oldest = message.id;
  if (newest === null || message.id > newest) newest = message.id;
  return { element, isNew };
}

// Put `marker` (the "New messages" line) before the first message after id `afterId` that
// someone else wrote; return whether there was one.
export function placeMarker(marker, afterId) {
  for (const element of list.querySelectorAll(".message")) {
    const id = Number(element.dataset.id);
    if (id > afterId && element.dataset.author !== me) {
      element.before(marker);
      regroup(element);
      return true;
    }
  }
  return false;
}

// One's own post, before the server has it: at the end, without an id.
export function appendPending(element) {
  list.append(element);
  regroup(element);
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
  // Not a message: the "New messages" line (reading.js).
  if (!element || element.parentNode !== list || !element.classList.contains("message")) return;
  let previous = element.previousElementSibling;
  if (previous && !previous.classList.contains("message")) previous = null; // a fresh start
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

function regroupAll() {
  for (const element of list.children) regroup(element);
}

function showTombstone(element, cls, text) {
  element.classList.add(cls);
  element.classList.remove("pinned");
  element.querySelector(".pin-mark").hidden = true;
  element.querySelector(".reactions").replaceChildren();
  element.querySelector(".body").classList.remove("formatted");
  element.querySelector(".body").dataset.source = "";
  element.querySelector(".body").textContent = text;
  element.querySelector(".body").hidden = false;
  element.querySelector(".edited").hidden = true;
  renderAttachments(element, []);
  closeEditor(element);
}

export function markRemoved(id) {
  const element = byId.get(id);
  if (!element || element.classList.contains("deleted")) return;
  showTombstone(element, "removed", template.texts.removed);
}

export function markDeleted(id) {
  const element = byId.get(id);
  if (!element) return;
  showTombstone(element, "deleted", template.texts.deleted);
}

// Leave the message's editor (actions.js opens it), as when the message becomes a tombstone.
export function closeEditor(element) {
  const form = element.querySelector("form.edit-form");
  if (!form) return;
  form.remove();
  element.querySelector(".body").hidden = false;
  element.classList.remove("editing");
}

// After a reset: drop what a fresh page of history (`keep`, up to id `newest`) no longer
// vouches for, and keep what arrived live after it was read.
export function dropAllBut(keep, newest) {
  for (const [id, element] of byId) {
    if (!keep.has(id) && id <= newest) {
      element.remove();
      byId.delete(id);
    }
  }
  regroupAll();
  oldest = null;
  newest = null;
  for (const id of byId.keys()) {
    if (oldest === null || id < oldest) oldest = id;
    if (newest === null || id > newest) newest = id;
  }
}

// The messages the server rendered: keyed, their times local, their links clickable.
export function adoptRendered() {
  for (const element of list.querySelectorAll(".message")) {
    const id = Number(element.dataset.id);
    byId.set(id, element);
    if (oldest === null || id < oldest) oldest = id;
    if (newest === null || id > newest) newest = id;
    showMessageTime(element.querySelector(".time"));
    const body = element.querySelector(".body");
    const tombstone = element.classList.contains("deleted") || element.classList.contains("removed");
    // Formatted bodies are the server's HTML already; only text from before gets its links.
    if (!tombstone && !body.classList.contains("formatted")) renderBody(body, body.textContent);
    if (!tombstone) {
      const { names, room } = mentions.fromElement(element);
      mentions.highlight(body, names, room, me);
    }
  }
  regroupAll();
}
