// `@` in the composer suggests the room's members (GET /rooms/<slug>/members/, read once,
// when first needed) and @room: a listbox under the caret's word, as the ARIA combobox
// pattern has it. Arrow keys move through it, Enter or Tab picks, Escape closes; a click
// picks too. Without it (or without JavaScript) one types the name.
import { requestJson } from "../api.js";
import { me, slug } from "./page.js";

const MAX_SUGGESTIONS = 8;
const WORD_BEFORE_CARET = /(?:^|[^\p{L}\p{N}_@.+-])@([\p{L}\p{N}_.+-]{0,150})$/u;

let members = null; // usernames, once read
let loading = null;
let list = null;
let input = null;
let choices = [];
let active = -1;
let counter = 0;

function loadMembers() {
  if (members || loading) return loading;
  loading = requestJson("GET", `/rooms/${slug}/members/`)
    .then((answer) => {
      members = answer.members.map((member) => member.username).filter((name) => name !== me);
    })
    .catch(() => {
      members = null;
    })
    .finally(() => {
      loading = null;
    });
  return loading;
}

function wordAtCaret() {
  const before = input.value.slice(0, input.selectionStart);
  const match = before.match(WORD_BEFORE_CARET);
  return match ? { prefix: match[1], start: before.length - match[1].length - 1 } : null;
}

function close() {
  choices = [];
  active = -1;
  list.hidden = true;
  list.replaceChildren();
  input.setAttribute("aria-expanded", "false");
  input.removeAttribute("aria-activedescendant");
}

function setActive(index) {
  active = index;
  for (const [i, item] of [...list.children].entries()) item.setAttribute("aria-selected", String(i === index));
  const item = list.children[index];
  if (item) {
    input.setAttribute("aria-activedescendant", item.id);
    item.scrollIntoView({ block: "nearest" });
  }
}

function suggest() {
  const word = wordAtCaret();
  if (!word) return close();
  if (!members) {
    loadMembers()?.then(() => {
      if (members) suggest();
    });
    return;
  }
  const prefix = word.prefix.toLowerCase();
  const names = [...members, "room"].filter((name) => name.toLowerCase().startsWith(prefix));
  choices = names.slice(0, MAX_SUGGESTIONS);
  if (!choices.length) return close();
  list.replaceChildren(
    ...choices.map((name, index) => {
      const item = document.createElement("li");
      item.id = `mention-option-${++counter}`;
      item.setAttribute("role", "option");
      item.textContent = name === "room" ? "@room (everyone here)" : `@${name}`;
      item.addEventListener("mousedown", (event) => {
        event.preventDefault(); // keep the focus in the composer
        pick(index);
      });
      return item;
    }),
  );
  list.hidden = false;
  input.setAttribute("aria-expanded", "true");
  setActive(0);
}

function pick(index) {
  const word = wordAtCaret();
  const name = choices[index];
  if (!word || !name) return close();
  const caret = input.selectionStart;
  const inserted = `@${name} `;
  input.value = input.value.slice(0, word.start) + inserted + input.value.slice(caret);
  const at = word.start + inserted.length;
  input.setSelectionRange(at, at);
  input.dispatchEvent(new Event("input", { bubbles: true }));
  close();
}

export function start() {
  const form = document.getElementById("composer");
  input = document.getElementById("composer-input");
  if (!form || !input) return;
  list = document.createElement("ul");
  list.id = "mention-suggestions";
  list.className = "mention-suggestions";
  list.setAttribute("role", "listbox");
  list.setAttribute("aria-label", "People to mention");
  list.hidden = true;
  form.append(list);
  input.setAttribute("role", "combobox");
  input.setAttribute("aria-autocomplete", "list");
  input.setAttribute("aria-controls", list.id);
  input.setAttribute("aria-expanded", "false");
  input.addEventListener("input", (event) => {
    if (event.isTrusted || !list.hidden) suggest();
  });
  input.addEventListener("blur", close);
  // Before the composer's own keys (Enter sends): the capture phase on its form.
  form.addEventListener(
    "keydown",
    (event) => {
      if (event.target !== input || list.hidden || !choices.length) return;
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        const step = event.key === "ArrowDown" ? 1 : -1;
        setActive((active + step + choices.length) % choices.length);
      } else if ((event.key === "Enter" && !event.shiftKey) || event.key === "Tab") {
        pick(active < 0 ? 0 : active);
      } else if (event.key === "Escape") {
        close();
      } else {
        return;
      }
      event.preventDefault();
      event.stopImmediatePropagation();
    },
    true,
  );
}
