// The user stream (GET /events/): one connection carrying every room the user is in, their
// DMs and their own events (joined, left, read), ids the site-wide positions.
//
// Used by the shared worker (live-worker.js), which relays it to every tab of the browser,
// and by a tab of its own where there is no SharedWorker (live.js). It keeps the last
// RING_SIZE events so that a tab that connects later gets what happened since its page was
// rendered, or is told to reload its state when they reach back no further.
//
// Messages it sends (to one listener, or to all): {type: "state", state} (connecting, live,
// reconnecting, closed); {type: "event", id, event, data}; {type: "resync", after} (reload
// your state: everything after `after` follows); {type: "revoked"} (logged out: the end);
// {type: "ephemeral", event, data} (typing, presence: no id, live tabs only).

// Events without an id (rooms/presence.py): they never move the position we resume from,
// never go in the ring (a tab that connects later has no use for old ones) and are handed
// on as they come. An EventSource gives an id-less event the last id it saw: not theirs.
const EPHEMERAL_TYPES = ["typing", "presence"];

const RING_SIZE = 1000;
const FIRST_RETRY_MS = 1000;
const MAX_RETRY_MS = 15000;

// Every type with an id the user stream sends. An EventSource hands a named event only to
// its listeners, and the position we resume from moves only past those we hear.
const EVENT_TYPES = [
  "message", "message_edited", "message_deleted", "message_removed", "message_restored",
  "member_joined", "member_left", "member_role_changed", "user_muted", "user_unmuted",
  "user_banned", "user_unbanned", "room_updated", "custom",
  "message_quote_updated", "reaction_added", "reaction_removed", "message_pinned",
  "message_unpinned",
  "room_joined", "room_left", "read",
];

export class UserStream {
  // send(message): to every listener.
  constructor(url, send) {
    this.url = url;
    this.send = send;
    this.source = null;
    this.state = "connecting";
    this.lastId = null; // the last position received
    this.covered = null; // every event after this position is in the ring (or yet to come)
    this.ring = [];
    this.retryMs = FIRST_RETRY_MS;
    this.retryTimer = null;
  }

  get running() {
    return this.source !== null || this.retryTimer !== null;
  }

  // Stream from `position` (the page's rendered position): nothing after it is missed.
  start(position) {
    this.lastId = position;
    this.covered = position;
    this.ring = [];
    this.open();
  }

  stop() {
    if (this.source) this.source.close();
    this.source = null;
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.ring = [];
  }

  // What a tab rendered at `position` needs: the events after it, or to reload its state
  // first when the ring does not reach back that far.
  catchUp(position, send) {
    send({ type: "state", state: this.state });
    if (this.covered === null || position < this.covered) {
      send({ type: "resync", after: this.covered ?? position });
      for (const event of this.ring) send(event);
    } else {
      for (const event of this.ring) if (event.id > position) send(event);
    }
  }

  setState(state) {
    if (this.state === state) return;
    this.state = state;
    this.send({ type: "state", state });
  }

  open() {
    this.retryTimer = null;
    const query = this.lastId === null ? "" : `?lastEventId=${encodeURIComponent(this.lastId)}`;
    const source = new EventSource(`${this.url}${query}`);
    this.source = source;
    // The server answers once the stream is live: open means nothing after it is missed.
    source.onopen = () => {
      this.retryMs = FIRST_RETRY_MS;
      this.setState("live");
    };
    source.onerror = () => {
      if (this.source !== source) return;
      this.setState("reconnecting");
      // CONNECTING: the browser retries by itself, with Last-Event-ID. CLOSED: it gave up
      // (an answer other than 200: 503, 429, ...): try again later, from our last id.
      if (source.readyState === EventSource.CLOSED) this.retryLater();
    };
    for (const type of EVENT_TYPES) {
      source.addEventListener(type, (event) => this.receive(type, event));
    }
    for (const type of EPHEMERAL_TYPES) {
      source.addEventListener(type, (event) => {
        this.send({ type: "ephemeral", event: type, data: JSON.parse(event.data) });
      });
    }
    source.addEventListener("reset", (event) => {
      // Our id means nothing to the server (a restored database, say): reload, then go on.
      const data = JSON.parse(event.data);
      const after = Number(data.last_event_id) || 0;
      this.lastId = after;
      this.covered = after;
      this.ring = [];
      this.send({ type: "resync", after });
    });
    source.addEventListener("revoked", () => {
      // Logged out, or the password changed: the stream ends for good.
      this.stop();
      this.setState("closed");
      this.send({ type: "revoked" });
    });
  }

  retryLater() {
    if (this.source) this.source.close();
    this.source = null;
    const delay = this.retryMs * (0.75 + Math.random() / 2);
    this.retryMs = Math.min(this.retryMs * 2, MAX_RETRY_MS);
    this.retryTimer = setTimeout(() => this.open(), delay);
  }

  receive(type, event) {
    const id = Number(event.lastEventId);
    // Ids only grow; the server sends each once, but never hand one on twice.
    if (this.lastId !== null && id <= this.lastId) return;
    this.lastId = id;
    const message = { type: "event", id, event: type, data: JSON.parse(event.data) };
    this.ring.push(message);
    if (this.ring.length > RING_SIZE) this.covered = this.ring.shift().id;
    this.send(message);
  }
}
