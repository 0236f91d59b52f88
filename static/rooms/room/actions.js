// What one does to a message already sent: edit and delete one's own, report someone
// else's, and, as a moderator, remove one or restore it. The buttons are in every message
// (templates/rooms/_message.html); the page's classes and CSS show the ones that apply.
import { ApiError, requestJson } from "../api.js";
import * as messages from "./messages.js";
import * as outbox from "./outbox.js";
import { maxLength, messagesUrl } from "./page.js";

const list = document.getElementById("messages");
const editTemplate = document.getElementById("edit-template");

async function onClick(event) {
  const button = event.target.closest("button");
  const element = event.target.closest(".message");
  if (!button || !element || !element.dataset.id) return;
  const url = `${messagesUrl}${element.dataset.id}/`;
  if (button.classList.contains("delete")) {
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
  area.value = body.textContent;
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
}
