// The seed article's design, re-created with Express for the benchmark: one SSE
// broadcaster in memory, no persistence, no accounts, no replay. Its only concession to
// the benchmark is a set of streams per room slug (the article has one global set), so
// that the benchmark's scenarios, which post to one room while streams follow another,
// measure the same deliveries on every server.
//
//     node bench/express/server.js --port 8002
//
// GET /rooms/<slug>/events/ opens a stream; POST /rooms/<slug>/messages/ with JSON
// {"body": ...} numbers the message and writes one frame to every stream of the room.
"use strict";

const express = require("express");

const port = Number(process.argv[process.argv.indexOf("--port") + 1] || 8002);
const app = express();
app.use(express.json());

const rooms = new Map(); // slug -> Set of open responses
const seqs = new Map(); // slug -> last message number

app.get("/rooms/:slug/events/", (req, res) => {
  res.writeHead(200, {
    "Content-Type": "text/event-stream; charset=utf-8",
    "Cache-Control": "no-cache",
    Connection: "keep-alive",
  });
  res.write("retry: 2000\n\n");
  const slug = req.params.slug;
  if (!rooms.has(slug)) rooms.set(slug, new Set());
  const streams = rooms.get(slug);
  streams.add(res);
  req.on("close", () => streams.delete(res));
});

app.post("/rooms/:slug/messages/", (req, res) => {
  const slug = req.params.slug;
  const seq = (seqs.get(slug) || 0) + 1;
  seqs.set(slug, seq);
  const body = req.body && typeof req.body.body === "string" ? req.body.body : "";
  const data = JSON.stringify({ id: seq, room: slug, author: "express", body });
  const frame = `event: message\nid: ${seq}\ndata: ${data}\n\n`;
  for (const stream of rooms.get(slug) || []) stream.write(frame);
  res.status(201).type("application/json").send(data);
});

app.use((req, res) => res.status(404).json({ error: "not found" }));

// The same listen backlog as every server the benchmark starts (bench/servers.py BACKLOG).
const server = app.listen(port, "127.0.0.1", 4096);
server.keepAliveTimeout = 65000;
server.headersTimeout = 66000;
