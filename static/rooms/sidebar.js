// The sidebar (templates/rooms/_sidebar.html): the person's rooms and DMs from GET /rooms/,
// bold with a count where something is unread, the open room marked, kept live from the
// user stream; the total unread in the tab's title; a drawer on phones; "New message".
//
// Counts start from GET /rooms/ and move with the stream's events. The answer and the
// stream overlap (the stream starts at the page's rendered position, the answer is read
// later), so a message counts only if it is newer than the room's `latest` known, and
// events that arrive while the answer is on its way are applied after it.
//
// Mentions: each room's `mentions` (unread messages that name the person, or @room; in a DM
// every unread message) shows as its own count, moved by the stream's messages (their
// `mentions`); a muted room (notify "mute") is never bold and its unread are not counted in
// the title. A mention or a DM that arrives while the tab is hidden may show a desktop
// notification (notify.js).
import { requestJson } from "./api.js";
import { sendAsJson } from "./forms.js";
import * as live from "./live.js";
import * as notify from "./notify.js";

const MAX_SHOWN_UNREAD = 999; // the server counts up to 1000: more shows as "999+"
const REFETCH_AFTER_MS = 300;
const RETRY_FETCH_MS = 5000;

const sidebar = document.getElementById("sidebar");
const toggle = document.getElementById("sidebar-toggle");
const toggleCount = document.getElementById("sidebar-toggle-count");
const itemTemplate = document.getElementById("sidebar-item");
const lists = {
  room: { list: document.getElementById("sidebar-rooms"), empty: document.getElementById("sidebar-rooms-empty") },
  dm: { list: document.getElementById("sidebar-dms"), empty: document.getElementById("sidebar-dms-empty") },
};
const me = sidebar.dataset.username;
const current = sidebar.dataset.current;
const baseTitle = document.title;

const rooms = new Map(); // slug -> {slug, name, url, kind, unread, lastRead, latest}
const items = new Map(); // slug -> its <li>
let fetching = false;
let fetchAgain = false;
let queue = null; // events that came while GET /rooms/ was on its way
let refetchTimer = null;
let loaded = false;
// Whether the room `slug` is open in this tab and being read (the room page says).
let reading = () => false;

export function whileReading(isReading) {
  reading = isReading;
}

function nameOf(room) {
  if (room.kind !== "dm") return room.name;
  const others = (room.members || []).filter((name) => name !== me);
  return others.length ? others.join(", ") : me;
}

function entry(room) {
  return {
    slug: room.slug,
    name: nameOf(room),
    url: room.url,
    kind: room.kind === "dm" ? "dm" : "room",
    unread: Number(room.unread) || 0,
    lastRead: Number(room.last_read) || 0,
    latest: Number(room.latest) || 0,
    mentions: Number(room.mentions) || 0,
    notify: room.notify || "default",
  };
}

// Whether a message (its JSON) tells the person about it: a DM's, one that names them, @room.
export function mentionsMe(room, message) {
  if (message.author === me) return false;
  if (room.kind === "dm") return true;
  if (message.mentions_room) return true;
  const mine = me.toLowerCase();
  return (message.mentions || []).some((name) => name.toLowerCase() === mine);
}

// Read the list again; what the stream says meanwhile is applied after the answer.
function refresh() {
  if (fetching) {
    fetchAgain = true;
    return;
  }
  fetching = true;
  queue = [];
  requestJson("GET", sidebar.dataset.roomsUrl)
    .then((answer) => {
      rooms.clear();
      for (const room of answer.rooms) if (room.member) rooms.set(room.slug, entry(room));
      loaded = true;
    })
    .catch((err) => {
      console.warn("could not load the rooms", err);
      setTimeout(refresh, RETRY_FETCH_MS);
    })
    .finally(() => {
      const events = queue;
      queue = null;
      fetching = false;
      for (const message of events) apply(message);
      render();
      if (fetchAgain) {
        fetchAgain = false;
        refresh();
      }
    });
}

function refreshSoon() {
  clearTimeout(refetchTimer);
  refetchTimer = setTimeout(refresh, REFETCH_AFTER_MS);
}

function apply({ event, data }) {
  if (event === "room_joined") {
    refresh(); // the room as the list shows it, with its counts
    return;
  }
  if (event === "room_left") {
    rooms.delete(data.room);
    return;
  }
  const room = rooms.get(data.room);
  if (!room) return;
  if (event === "read") {
    if (data.notify) room.notify = data.notify;
    if (data.latest >= room.latest) {
      room.lastRead = data.last_read;
      room.unread = data.unread;
      room.latest = data.latest;
      if (data.mentions !== undefined) room.mentions = data.mentions;
    } else {
      // A read from before what we know (or raced by a post): ask the server.
      room.lastRead = Math.max(room.lastRead, data.last_read);
      refreshSoon();
    }
    return;
  }
  const inner = data.data;
  if (event === "message") {
    if (inner.id <= room.latest) return; // counted already
    room.latest = inner.id;
    if (inner.author !== me && !reading(room.slug)) {
      room.unread += 1;
      if (mentionsMe(room, inner)) room.mentions += 1;
    }
  } else if (event === "message_edited") {
    // An edit may add or withdraw a mention of an earlier message: ask the server again.
    if (inner.author !== me) refreshSoon();
  } else if (event === "message_deleted" || event === "message_removed" || event === "message_restored") {
    // Whether it was counted depends on who wrote it and when it was read, which these
    // events do not say: ask the server again when it may have been unread.
    if (inner.id > room.lastRead) refreshSoon();
  } else if (event === "room_updated" && room.kind === "room" && inner.name) {
    room.name = inner.name;
  }
}

function shownCount(count) {
  return count > MAX_SHOWN_UNREAD ? `${MAX_SHOWN_UNREAD}+` : String(count);
}

function itemFor(room) {
  let item = items.get(room.slug);
  if (!item) {
    item = itemTemplate.content.firstElementChild.cloneNode(true);
    items.set(room.slug, item);
  }
  const link = item.querySelector("a");
  link.href = room.url;
  link.dataset.slug = room.slug;
  link.dataset.latest = String(room.latest);
  const muted = room.notify === "mute";
  link.classList.toggle("unread", room.unread > 0 && !muted);
  link.classList.toggle("muted", muted);
  if (room.slug === current) link.setAttribute("aria-current", "page");
  else link.removeAttribute("aria-current");
  item.querySelector(".sidebar-name").textContent = room.name;
  const count = item.querySelector(".unread-count");
  count.hidden = room.unread === 0 || muted;
  count.querySelector(".unread-number").textContent = shownCount(room.unread);
  const mentions = item.querySelector(".mention-count");
  mentions.hidden = room.mentions === 0;
  mentions.querySelector(".mention-number").textContent = shownCount(room.mentions);
  return item;
}

function render() {
  if (!loaded) return;
  for (const [slug, item] of items) {
    if (!rooms.has(slug)) {
      item.remove();
      items.delete(slug);
    }
  }
  const sorted = [...rooms.values()].sort((a, b) => a.name.localeCompare(b.name));
  for (const [kind, { list, empty }] of Object.entries(lists)) {
    const wanted = sorted.filter((room) => room.kind === kind).map(itemFor);
    // Move only what is out of place: moving an element takes the focus off it.
    wanted.forEach((item, index) => {
      if (list.children[index] !== item) list.insertBefore(item, list.children[index] || null);
    });
    empty.hidden = wanted.length > 0;
  }
  const total = sorted.reduce((sum, room) => sum + (room.notify === "mute" ? 0 : room.unread), 0);
  document.title = total ? `(${shownCount(total)}) ${baseTitle}` : baseTitle;
  toggleCount.textContent = shownCount(total);
  toggleCount.hidden = total === 0;
}

// The drawer on phones: the toggle opens it; Escape, a click outside, the focus leaving it or
// the toggle close it.
function setOpen(open) {
  sidebar.classList.toggle("open", open);
  toggle.setAttribute("aria-expanded", String(open));
  if (open) (sidebar.querySelector("a, input") || sidebar).focus();
}

function startDrawer() {
  toggle.addEventListener("click", () => setOpen(!sidebar.classList.contains("open")));
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && sidebar.classList.contains("open")) {
      setOpen(false);
      toggle.focus();
    }
  });
  sidebar.addEventListener("focusout", (event) => {
    // Tabbing out of the open drawer closes it (it would cover what has the focus).
    const next = event.relatedTarget;
    if (sidebar.classList.contains("open") && next && !sidebar.contains(next) && next !== toggle) setOpen(false);
  });
  document.addEventListener("click", (event) => {
    if (!sidebar.classList.contains("open")) return;
    if (!sidebar.contains(event.target) && !toggle.contains(event.target)) setOpen(false);
  });
}

function startNewConversation() {
  const form = document.getElementById("new-dm");
  const input = document.getElementById("new-dm-usernames");
  sendAsJson(form, {
    payload: () => ({ usernames: input.value.split(",").map((name) => name.trim()).filter(Boolean) }),
    done: (room) => { window.location.href = room.url; },
    error: document.getElementById("new-dm-error"),
  });
}

// Fill the sidebar and open the page's user stream (live.js); call once per page, after
// the page's own listeners are in (they must not miss the first events).
export function start() {
  startDrawer();
  startNewConversation();
  notify.start({ me, mentionsMe, defaultLevel: sidebar.dataset.notifyDefault || "mentions" });
  live.listen({
    event: (message) => {
      notify.consider(message, rooms);
      if (queue) queue.push(message);
      else {
        apply(message);
        render();
      }
    },
    resync: refresh,
  });
  refresh();
  live.connect({
    user: me,
    position: Number(sidebar.dataset.position) || 0,
    url: sidebar.dataset.eventsUrl,
    workerUrl: sidebar.dataset.workerUrl,
  });
}
