// Mentions in a message: `@name` of the people its JSON's `mentions` lists (and `@room` when
// `mentions_room`) is wrapped in <mark class="mention">, "mention mention-me" for one's own.
//
// It works on the body as rendered, whatever rendered it: it walks the body's text nodes
// (never inside <code> or <pre>) and splits them around each mention; the text itself is
// never parsed as markup. The names match as the server matched them: without regard to
// case, a name's trailing punctuation aside (rooms/models/mentions.py).

const TOKEN = /(?<![\p{L}\p{N}_@.+-])@([\p{L}\p{N}_.+-]{1,150})/gu;
const SKIPPED = "code, pre, mark";

function mentionAt(token, names, room) {
  const lower = token.toLowerCase();
  const candidates = [lower, lower.replace(/[.+-]+$/, "")];
  for (const name of candidates) {
    if (name === "room" && room) return name;
    if (names.has(name)) return name;
  }
  return null;
}

// Mark the mentions in `body` (the message's .body element). `mentions` are usernames,
// `room` whether @room applied, `me` the viewer's username.
export function highlight(body, mentions, room, me) {
  const names = new Set((mentions || []).map((name) => name.toLowerCase()));
  if (!names.size && !room) return;
  const mine = (me || "").toLowerCase();
  const walker = document.createTreeWalker(body, NodeFilter.SHOW_TEXT, {
    acceptNode: (node) =>
      node.parentElement && node.parentElement.closest(SKIPPED) ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT,
  });
  const nodes = [];
  for (let node = walker.nextNode(); node; node = walker.nextNode()) nodes.push(node);
  for (const node of nodes) {
    const text = node.nodeValue;
    if (!text.includes("@")) continue;
    const parts = [];
    let last = 0;
    for (const match of text.matchAll(TOKEN)) {
      const name = mentionAt(match[1], names, room);
      if (!name) continue;
      const end = match.index + 1 + name.length;
      parts.push(document.createTextNode(text.slice(last, match.index)));
      const mark = document.createElement("mark");
      mark.className = name === mine || name === "room" ? "mention mention-me" : "mention";
      mark.textContent = text.slice(match.index, end);
      parts.push(mark);
      last = end;
    }
    if (!parts.length) continue;
    parts.push(document.createTextNode(text.slice(last)));
    node.replaceWith(...parts);
  }
}

// The mentions a rendered message element carries (data-mentions, data-mentions-room).
export function fromElement(element) {
  const names = (element.dataset.mentions || "").split(" ").filter(Boolean);
  return { names, room: element.dataset.mentionsRoom === "true" };
}
