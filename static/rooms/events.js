// A room's event stream (GET /rooms/<slug>/events/), for the pages that follow one.
//
// Each event goes to its handler once and in id order: the stream starts from the id the
// page was rendered at (data-last-event-id), and an id at or below the last one applied (a
// replay overlapping what the page already had) is ignored. `reset` (the server does not
// know our id) carries the id to go on from; `revoked` (access lost) ends the stream.
// Needs django_eventstream's reconnecting-eventsource.js, loaded before as a classic script.

const MAX_RETRY_MS = 5000;

// handlers: {event type: function(data)}. Listen to every type that has an id, even one
// the page ignores: the position the stream resumes from moves only past those listened to.
// ephemeral: {event type: function(data)} for the events without an id (typing, presence).
export function followRoom(
  url, lastEventId, handlers, { onOpen, onError, onReset, onRevoked, ephemeral = {} } = {},
) {
  let applied = Number(lastEventId) || 0;
  const source = new ReconnectingEventSource(url, {
    lastEventId: String(applied),
    max_retry_time: MAX_RETRY_MS,
  });
  if (onOpen) source.onopen = onOpen;
  if (onError) source.onerror = onError;
  for (const [type, handler] of Object.entries(handlers)) {
    source.addEventListener(type, (event) => {
      const id = Number(event.lastEventId);
      if (id && id <= applied) return; // already applied
      if (id) applied = id;
      handler(JSON.parse(event.data));
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
    if (onReset) onReset(data);
  });
  source.addEventListener("revoked", () => {
    source.close();
    if (onRevoked) onRevoked();
  });
  return source;
}

export function ignore() {}
