// What one does to a message already sent: reply to it, react to it (the picker, or a click
// on a reaction's chip to add or take back one's own), edit and delete one's own, report
// someone else's, and, as a moderator, pin, remove or restore one. The buttons are in every
// message (templates/rooms/_message.html); the page's classes and CSS show the ones that apply.
import { ApiError, requestJson } from "../api.js";
import * as messages from "./messages.js";
import * as outbox from "./outbox.js";
import { maxLength, messagesUrl } from "./page.js";

const list = document.getElementById("messages");
const editTemplate = document.getElementById("edit-template");
const picker = document.getElementById("emoji-picker");
let pickerFor = null; // the message element the picker is open for

// Add or take back one's reaction; the answer (the message as it is now) is shown at once.
async function react(element, emoji, present) {
  const url = `${messagesUrl}${element.dataset.id}/reactions/`;
  try {
    messages.upsert(await requestJson(present ? "POST" : "DELETE", url, { emoji }));
  } catch (err) {
    messages.setStatus(element, `Could not react: ${err.message}.`);
  }
}

function openPicker(element, button) {
  pickerFor = element;
  picker.hidden = false;
  const box = button.getBoundingClientRect();
  picker.style.top = `${Math.max(8, box.top - picker.offsetHeight - 6)}px`;
  picker.style.left = `${Math.max(8, Math.min(box.left, window.innerWidth - picker.offsetWidth - 8))}px`;
  picker.querySelector("button").focus();
}

function closePicker(refocus) {
  if (picker.hidden) return;
  picker.hidden = true;
  const element = pickerFor;
  pickerFor = null;
  if (refocus && element) element.querySelector(".react")?.focus();
}

async function onClick(event) {
  const button = event.target.closest("button");
  const element = event.target.closest(".message");
  if (!button || !element || !element.dataset.id) return;
  const url = `${messagesUrl}${element.dataset.id}/`;
  if (button.classList.contains("more")) {
    const actions = button.closest(".actions");
    const open = !actions.classList.contains("open");
    actions.classList.toggle("open", open);
    button.setAttribute("aria-expanded", String(open));
    if (open) actions.querySelector(".more-actions button:not([hidden])")?.focus();
    return;
  }
  if (button.closest(".more-actions")) {
    const actions = button.closest(".actions");
    actions.classList.remove("open");
    actions.querySelector(".more").setAttribute("aria-expanded", "false");
  }
  if (button.classList.contains("reaction")) {
    react(element, button.dataset.emoji, button.getAttribute("aria-pressed") !== "true");
  } else if (button.classList.contains("react")) {
    if (pickerFor === element) closePicker(false);
    else openPicker(element, button);
  } else if (button.classList.contains("reply")) {
    outbox.replyTo({
      id: Number(element.dataset.id),
      author: element.dataset.author,
      excerpt: messages.sourceOf(element),
    });
  } else if (button.classList.contains("pin") || button.classList.contains("unpin")) {
    const pin = button.classList.contains("pin");
    try {
      messages.upsert(await requestJson(pin ? "POST" : "DELETE", `${url}pin/`, {}));
    } catch (err) {
      messages.setStatus(element, `Could not ${pin ? "pin" : "unpin"}: ${err.message}.`);
    }
  } else if (button.classList.contains("delete")) {
    if (!window.confirm("Delete this message?")) return;
    try {
      const message = await requestJson("DELETE", url);
      messages.upsert(message);
      messages.markDeleted(message.id);
      outbox.focus();
    } catch (err) {
      messages.setStatus(element, `Could not delete: ${err.message}.`);
    }
  } else if (button.classList.contains("edit")) {
    startEdit(element, url);
  } else if (button.classList.contains("remove")) {
    const reason = window.prompt("Remove this message for everyone. Reason (for the moderation log):");
    if (reason === null) return;
    try {
      await requestJson("POST", `${url}remove/`, { reason });
      messages.markRemoved(Number(element.dataset.id));
    } catch (err) {
      messages.setStatus(element, `Could not remove: ${err.message}.`);
    }
  } else if (button.classList.contains("restore")) {
    try {
      messages.upsert(await requestJson("POST", `${url}restore/`, {}));
    } catch (err) {
      messages.setStatus(element, `Could not restore: ${err.message}.`);
    }
  } else if (button.classList.contains("report")) {
    const reason = window.prompt("Report this message to the moderators. What is wrong with it?");
    if (!reason) return;
    try {
      await requestJson("POST", `${url}report/`, { reason });
      messages.setStatus(element, "Reported. Thank you: the moderators will look at it.");
    } catch (err) {
      messages.setStatus(element, `Could not report: ${err.message}.`);
    }
  }
}

// The editor (<template id="edit-template">) in place of the message's text: Enter saves,
// Shift+Enter is a new line, Escape leaves; the focus goes back to the Edit button.
function startEdit(element, url) {
  if (element.querySelector("form.edit-form")) return;
  const body = element.querySelector(".body");
  const form = editTemplate.content.firstElementChild.cloneNode(true);
  const label = form.querySelector("label");
  const area = form.querySelector("textarea");
  const save = form.querySelector("button[type=submit]");
  label.htmlFor = `edit-${element.dataset.id}`;
  area.id = label.htmlFor;
  area.value = messages.sourceOf(element);
  area.maxLength = maxLength;
  area.rows = Math.min(8, area.value.split("\n").length + 1);
  body.hidden = true;
  element.classList.add("editing");
  body.after(form);
  area.focus();
  area.setSelectionRange(area.value.length, area.value.length);
  const close = () => {
    messages.closeEditor(element);
    element.querySelector(".edit").focus();
  };
  form.querySelector("button.cancel").addEventListener("click", close);
  area.addEventListener("keydown", (event) => {
    if (event.key === "Escape") { event.preventDefault(); close(); }
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    save.disabled = true;
    try {
      messages.upsert(await requestJson("PATCH", url, { body: area.value }));
      messages.setStatus(element, "");
      close();
    } catch (err) {
      save.disabled = false;
      messages.setStatus(element, err instanceof ApiError ? `Could not save: ${err.message}.` : "Could not save.");
    }
  });
}

export function start() {
  list.addEventListener("click", onClick);
  // A quote jumps to the message it quotes when that is on screen; otherwise its link
  // opens the room around it.
  list.addEventListener("click", (event) => {
    const quote = event.target.closest(".reply-quote");
    if (!quote) return;
    const original = messages.element(Number(quote.dataset.replyTo));
    if (!original) return;
    event.preventDefault();
    original.scrollIntoView({ block: "center" });
    original.classList.add("found");
    setTimeout(() => original.classList.remove("found"), 2000);
    original.querySelector(".react")?.focus({ preventScroll: true });
  });
  if (!picker) return;
  picker.addEventListener("click", (event) => {
    const choice = event.target.closest("button[data-emoji]");
    if (!choice || !pickerFor) return;
    const element = pickerFor;
    const chip = element.querySelector(`.reaction[data-emoji="${CSS.escape(choice.dataset.emoji)}"]`);
    const mine = chip && chip.getAttribute("aria-pressed") === "true";
    closePicker(true);
    react(element, choice.dataset.emoji, !mine);
  });
  picker.addEventListener("keydown", (event) => {
    if (event.key === "Escape") { event.preventDefault(); closePicker(true); }
  });
  document.addEventListener("click", (event) => {
    if (!picker.hidden && !picker.contains(event.target) && !event.target.closest(".react")) closePicker(false);
  });
}
