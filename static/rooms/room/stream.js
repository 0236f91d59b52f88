// The room's live events: the connection state in the header (live, reconnecting, offline,
// no access), and what each event does to the page, applied once and in seq order.
//
// A member's page takes them from the user stream (../live.js: one stream per browser for
// every room, shared by the tabs), picking this room's; a reader who is not a member follows
// the room's own stream (../events.js), as the user stream carries member rooms only.
import { followRoom, ignore } from "../events.js";
import * as live from "../live.js";
import * as history from "./history.js";
import * as messages from "./messages.js";
import * as pins from "./pins.js";
import { announce, eventsUrl, isMember, lastEventId, me, room, slug } from "./page.js";
import * as posting from "./posting.js";
import * as presence from "./presence.js";
import * as reading from "./reading.js";

// A first connect that has not opened by then (the server is down as the page loads)
// shows as reconnecting: the event source reports errors only once it has been open.
const FIRST_CONNECT_MS = 5000;

const conn = document.getElementById("conn");
const label = conn.querySelector(".conn-label");
// The words for each state are the page's: data-label-* on #conn, the first one its text.
const LABELS = {
  connecting: label.textContent,
  live: conn.dataset.labelLive,
  reconnecting: conn.dataset.labelReconnecting,
  offline: conn.dataset.labelOffline,
  closed: conn.dataset.labelClosed,
};

// What each event of the room does on this page, by event type.
const HANDLERS = {
  message(message) {
    presence.messageFrom(message.author); // done typing it
    if (!history.showingLatest() && !messages.has(message.id)) {
      history.newerArrived(); // it comes with the newer pages, in its place
      return;
    }
    const wasAtBottom = history.atBottom();
    const { isNew } = messages.upsert(message);
    const fromOthers = message.author !== me;
    if (isNew && fromOthers) announce(`${message.author}: ${message.body}`);
    history.afterInsert(wasAtBottom, isNew && fromOthers);
    reading.markSoon();
  },
  message_edited(message) {
    // Only messages on screen: an edit to an older one must not open a gap in the history.
    if (messages.has(message.id)) messages.upsert(message);
  },
  message_deleted: (data) => { messages.markDeleted(data.id); pins.update(data); },
  message_removed: (data) => { messages.markRemoved(data.id); pins.update(data); },
  message_restored: (message) => { messages.upsert(message); pins.update(message); },
  // The message as it is now, after a change that leaves its text alone: what a reply
  // quotes changed, a reaction, a pin. Only messages on screen, as for edits.
  message_quote_updated: updateShown,
  reaction_added: updateShown,
  reaction_removed: updateShown,
  message_pinned: (message) => { updateShown(message); pins.update(message); },
  message_unpinned: (message) => { updateShown(message); pins.update(message); },
  user_muted: posting.muted,
  user_unmuted: posting.unmuted,
  room_updated: posting.roomUpdated,
  member_role_changed: posting.roleChanged,
  // Nothing to show for these here (yet).
  user_banned: ignore,
  user_unbanned: ignore,
  member_joined: ignore,
  member_left: ignore,
};

// The events without an id (typing, presence): shown as they come, never replayed.
const EPHEMERAL = {
  typing: presence.typing,
  presence: presence.presence,
};
function updateShown(message) {
  if (messages.has(message.id)) messages.upsert(message);
}

let source = null; // the room's own stream, for a reader who is not a member

function setConnection(state) {
  if (conn.dataset.state === "closed") return;
  conn.dataset.state = state;
  label.textContent = LABELS[state];
  room.classList.toggle("disconnected", state !== "live");
}

function lostConnection() {
  setConnection(navigator.onLine ? "reconnecting" : "offline");
}

export function isOpen() {
  if (isMember) return live.connectionState() === "live";
  return source !== null && source.readyState === 1;
}

function reloadHistory() {
  return history.reload().catch((err) => {
    console.warn("could not reload history", err);
    return 0;
  });
}

function revoked() {
  setConnection("offline");
  conn.dataset.state = "closed";
  label.textContent = LABELS.closed;
  announce("You no longer have access to this room.");
  posting.revoke();
}

// This room's events out of the user stream, each once and in seq order from the seq the
// page was rendered at. A hole in the seqs (events the stream could not give this tab) or a
// resync (a reset, or a tab that came after the shared stream's memory) reloads the
// history, as a reset of the room's stream does. The events that come while it reloads
// wait for it: applied at once, a page read before them would undo them (a deleted message
// shown again); after it, those past the history's seq are applied, in order.
function followShared(onBack) {
  let applied = lastEventId;
  let reloading = false;
  let held = [];
  const reload = async () => {
    if (reloading) return;
    reloading = true;
    const seq = await reloadHistory();
    // The history is the room as of `seq` (even behind what we had applied: a room
    // restored from a backup is another room's past). 0: it could not be read.
    if (seq) applied = seq;
    reloading = false;
    const waiting = held;
    held = [];
    // After a failed reload they are applied as they are: the next hole tries again.
    for (const message of waiting) receive(message, seq > 0);
  };
  const receive = (message, mayReload = true) => {
    const { seq } = message.data;
    if (typeof seq !== "number") return;
    if (reloading) {
      held.push(message);
      return;
    }
    if (seq <= applied) return;
    if (seq > applied + 1 && mayReload) {
      held.push(message);
      reload();
      return;
    }
    applied = seq;
    const handler = HANDLERS[message.event];
    if (handler) handler(message.data.data);
  };
  live.listen({
    event: (message) => {
      if (message.data.room !== slug) return;
      if (message.event === "room_left") {
        revoked(); // left in another tab, removed, or banned
        return;
      }
      receive(message);
    },
    ephemeral: ({ event, data }) => {
      if (data.room === slug && EPHEMERAL[event]) EPHEMERAL[event](data);
    },
    state: (state) => {
      if (state === "live") {
        setConnection("live");
        onBack();
      } else if (state === "reconnecting") lostConnection();
      else if (state === "closed") revoked();
    },
    resync: reload,
  });
}

function followOwn(onBack) {
  source = followRoom(eventsUrl, lastEventId, HANDLERS, {
    onOpen: () => {
      setConnection("live");
      onBack();
    },
    onError: lostConnection,
    onReset: reloadHistory,
    onRevoked: revoked,
    ephemeral: EPHEMERAL,
  });
}

// Connect from the id the page was rendered at. onBack: called when the stream opens and
// when the browser is back online, the moments to send what is waiting.
export function connect({ onBack }) {
  if (isMember) followShared(onBack);
  else followOwn(onBack);
  setTimeout(() => {
    if (conn.dataset.state === "connecting") lostConnection();
  }, FIRST_CONNECT_MS);
  window.addEventListener("offline", () => setConnection("offline"));
  window.addEventListener("online", () => {
    // The stream may have stayed open through a short loss; if not, it is reconnecting.
    setConnection(isOpen() ? "live" : "reconnecting");
    onBack();
  });
}
