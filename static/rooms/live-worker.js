// The shared worker: ONE user stream per browser, relayed to every tab of the site that
// is open in it (a browser opens at most 6 connections to a site over HTTP/1.1, so a
// stream per tab would leave the 7th tab hanging). Loaded as a module SharedWorker by
// live.js.
//
// A tab says {type: "hello", user, position, url} (its rendered position: the first tab's
// is where the stream starts, so that nothing between render and connect is lost) and
// {type: "bye"} when it goes. It gets what user-stream.js sends.
import { UserStream } from "./user-stream.js";

const ports = new Set();
let user = null;
let stream = null;

function broadcast(message) {
  for (const port of ports) port.postMessage(message);
}

function hello(port, data) {
  if (data.user !== user) {
    // Another person logged in in this browser: nothing of the last one's may reach them.
    if (stream) stream.stop();
    for (const other of ports) other.postMessage({ type: "state", state: "closed" });
    ports.clear();
    stream = null;
    user = data.user;
  }
  ports.add(port);
  if (!stream) stream = new UserStream(data.url, broadcast);
  if (!stream.running) {
    stream.state = "connecting";
    stream.start(data.position);
  }
  stream.catchUp(data.position, (message) => port.postMessage(message));
}

self.onconnect = (event) => {
  const port = event.ports[0];
  port.onmessage = ({ data }) => {
    if (data.type === "hello") hello(port, data);
    else if (data.type === "bye") ports.delete(port);
  };
};
