// A room's event stream (GET /rooms/<slug>/events/), for the pages that follow one.
//
// Each event goes to its handler once and in id order: the stream starts from the id the
// page was rendered at (data-last-event-id), and an id at or below the last one applied (a
// replay overlapping what the page already had) is ignored. `reset` (the server does not
// know our id) carries the id to go on from; `revoked` (access lost) ends the stream.
// onReset may return a promise of the id the page was reloaded at (the history's
// last_event_id): the events that come meanwhile wait for it, then those after that id are
// applied, in order. Applied at once, a stale page read before them would undo them.
// Needs django_eventstream's reconnecting-eventsource.js, loaded before as a classic script.

const MAX_RETRY_MS = 5000;

// handlers: {event type: function(data)}. Listen to every type that has an id, even one
// the page ignores: the position the stream resumes from moves only past those listened to.
// ephemeral: {event type: function(data)} for the events without an id (typing, presence).
export function followRoom(
  url, lastEventId, handlers, { onOpen, onError, onReset, onRevoked, ephemeral = {} } = {},
) {
  let applied = Number(lastEventId) || 0;
  let held = null; // [handler, id, data] that came while the page reloads after a reset
  const apply = (handler, id, data) => {
    if (id && id <= applied) return; // already applied
    if (id) applied = id;
    handler(JSON.parse(data));
  };
  const source = new ReconnectingEventSource(url, {
    lastEventId: String(applied),
    max_retry_time: MAX_RETRY_MS,
  });
  if (onOpen) source.onopen = onOpen;
  if (onError) source.onerror = onError;
  for (const [type, handler] of Object.entries(handlers)) {
    source.addEventListener(type, (event) => {
      const id = Number(event.lastEventId);
      if (held) held.push([handler, id, event.data]);
      else apply(handler, id, event.data);
    });
  }
  for (const [type, handler] of Object.entries(ephemeral)) {
    source.addEventListener(type, (event) => {
      // It carries the last id the connection saw, none before the first durable event:
      // ReconnectingEventSource takes that for the id to resume from, so put ours back.
      if (!event.lastEventId) source._lastEventId = String(applied);
      handler(JSON.parse(event.data));
    });
  }
  source.addEventListener("reset", (event) => {
    const data = JSON.parse(event.data);
    applied = Number(data.last_event_id) || 0;
    if (!onReset || held) return;
    held = [];
    Promise.resolve(onReset(data))
      .catch(() => 0)
      .then((reloadedAt) => {
        if (Number(reloadedAt) > applied) applied = Number(reloadedAt);
        const waiting = held;
        held = null;
        for (const [handler, id, body] of waiting) apply(handler, id, body);
      });
  });
  source.addEventListener("revoked", () => {
    source.close();
    if (onRevoked) onRevoked();
  });
  return source;
}

export function ignore() {}
