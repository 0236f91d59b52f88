// The room's pinned messages, listed in its header: the page renders the list, pin and
// unpin events (and a pinned message deleted or removed) change it. Each entry opens the
// room at its message.
const pins = document.getElementById("pins");
const EXCERPT_LENGTH = 100;

function excerpt(text) {
  const line = text.split(/\s+/).filter(Boolean).join(" ");
  return line.length <= EXCERPT_LENGTH ? line : `${line.slice(0, EXCERPT_LENGTH - 1).trimEnd()}…`;
}

// Show `message` (its data, as events carry it) in the list if it is pinned, else not.
export function update(message) {
  if (!pins || !message.id) return;
  const list = pins.querySelector(".pins-list");
  let item = list.querySelector(`li[data-id="${message.id}"]`);
  const pinned = Boolean(message.pinned) && !message.deleted && !message.removed;
  if (!pinned) {
    if (item) item.remove();
  } else {
    if (!item) {
      item = document.createElement("li");
      item.dataset.id = String(message.id);
      const link = document.createElement("a");
      const author = document.createElement("span");
      author.className = "reply-author";
      const words = document.createElement("span");
      words.className = "reply-excerpt";
      link.append(author, " ", words);
      item.append(link);
      list.prepend(item);
    }
    const link = item.querySelector("a");
    link.href = `?around=${message.id}`;
    link.querySelector(".reply-author").textContent = message.author;
    link.querySelector(".reply-excerpt").textContent = excerpt(message.body || "");
  }
  const count = list.children.length;
  pins.querySelector(".pins-count").textContent = String(count);
  pins.hidden = count === 0;
}
