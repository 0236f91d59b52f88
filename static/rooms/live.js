// This tab's side of the user stream: the shared worker's relay (live-worker.js), or, where
// there is no SharedWorker, a stream of the tab's own (user-stream.js). Either way every
// event reaches the listeners once, in position order, from the position the page was
// rendered at (its data-position).
//
// listen({event(message), state(state), resync(), revoked()}): any of them may be left out.
// event gets {id, event, data}; resync means "reload your state" (a reset, or events missed).
// ephemeral({event, data}): typing and presence, which have no id and no order.
import { UserStream } from "./user-stream.js";

const listeners = [];
let applied = 0; // the last position applied
let state = "connecting";

export function listen(listener) {
  listeners.push(listener);
}

export function connectionState() {
  return state;
}

function notify(name, value) {
  for (const listener of listeners) if (listener[name]) listener[name](value);
}

function receive(message) {
  if (message.type === "event") {
    if (message.id <= applied) return; // from before this page, or already applied
    applied = message.id;
    notify("event", message);
  } else if (message.type === "ephemeral") {
    notify("ephemeral", message);
  } else if (message.type === "state") {
    state = message.state;
    notify("state", state);
  } else if (message.type === "resync") {
    applied = message.after;
    notify("resync");
  } else if (message.type === "revoked") {
    state = "closed";
    notify("state", state);
    notify("revoked");
  }
}

function ownStream(url, position) {
  const stream = new UserStream(url, receive);
  stream.start(position);
}

// Connect once per page: `settings` holds the user, the rendered position, the stream's
// URL and the worker's.
export function connect({ user, position, url, workerUrl }) {
  applied = position;
  if (typeof SharedWorker !== "function") {
    ownStream(url, position);
    return;
  }
  let worker;
  try {
    worker = new SharedWorker(workerUrl, { type: "module", name: "chat-live" });
  } catch (err) {
    ownStream(url, position);
    return;
  }
  let heard = false;
  worker.onerror = () => {
    // The worker could not start (no module workers here, say): a stream of our own.
    if (!heard) ownStream(url, position);
  };
  worker.port.onmessage = ({ data }) => {
    heard = true;
    receive(data);
  };
  const hello = () => worker.port.postMessage({ type: "hello", user, position: applied, url });
  hello();
  window.addEventListener("pagehide", () => worker.port.postMessage({ type: "bye" }));
  // Back from the back/forward cache: the worker forgot this tab when it was hidden.
  window.addEventListener("pageshow", (event) => { if (event.persisted) hello(); });
}
