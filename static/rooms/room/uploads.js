// Files for the next post: picked with the Attach button, pasted from the clipboard or
// dropped on the page. Each uploads at once (POST .../uploads/) with a progress bar and a
// Cancel button; one the server refuses says why and is left out. The composer sends the
// ids of those that are ready with its text (outbox.js).
import { csrfToken } from "../api.js";
import { fromTemplate } from "../templates.js";
import { announce, room } from "./page.js";

const attach = document.getElementById("attach"); // absent for a reader who is not a member
const picker = document.getElementById("attach-input");
const list = document.getElementById("composer-files");
const dropHint = document.getElementById("drop-hint");
const input = document.getElementById("composer-input");
const template = fromTemplate(document.getElementById("pending-file-template"));
const files = new Set(); // {element, request, state: uploading, ready or refused, id}
let onChange = () => {};

export function readyIds() {
  return [...files].filter((file) => file.state === "ready").map((file) => file.id);
}

export function uploading() {
  return [...files].some((file) => file.state === "uploading");
}

export const stillUploadingText = template.texts.stillUploading;

function forget(file) {
  if (file.request && file.state === "uploading") file.request.abort();
  file.element.remove();
  files.delete(file);
  list.hidden = files.size === 0;
  onChange();
}

// The files are sent: the list starts again empty.
export function clear() {
  for (const file of [...files]) forget(file);
}

function settle(file, state, text) {
  file.state = state;
  file.element.classList.remove("uploading");
  file.element.classList.add(state);
  file.element.querySelector("progress").hidden = true;
  file.element.querySelector(".file-state").textContent = text;
  onChange();
}

function add(blob) {
  const file = { element: template.clone(), request: null, state: "uploading", id: null };
  const name = blob.name || template.texts.pasted;
  file.element.classList.add("uploading");
  file.element.querySelector(".file-name").textContent = name;
  file.element.querySelector(".file-state").textContent = template.texts.uploading;
  file.element.querySelector(".cancel").addEventListener("click", () => forget(file));
  files.add(file);
  list.append(file.element);
  list.hidden = false;
  const max = Number(picker.dataset.maxFiles);
  if (files.size > max) {
    settle(file, "refused", `${template.texts.refused}: ${template.texts.tooMany}`);
    return;
  }
  if (blob.size > Number(picker.dataset.maxBytes)) {
    settle(file, "refused", `${template.texts.refused}: ${template.texts.tooBig}`);
    return;
  }
  // XMLHttpRequest, not fetch: only it reports the upload's progress.
  const request = (file.request = new XMLHttpRequest());
  const form = new FormData();
  form.append("file", blob, name);
  request.open("POST", picker.dataset.uploadUrl);
  request.setRequestHeader("X-CSRFToken", csrfToken());
  request.setRequestHeader("Accept", "application/json");
  request.setRequestHeader("X-Requested-With", "XMLHttpRequest");
  request.responseType = "json";
  request.upload.addEventListener("progress", (event) => {
    if (event.lengthComputable) {
      file.element.querySelector("progress").value = Math.round((100 * event.loaded) / event.total);
    }
  });
  request.addEventListener("load", () => {
    const answer = request.response || {};
    if (request.status === 201) {
      file.id = answer.id;
      settle(file, "ready", template.texts.ready);
    } else {
      const why = answer.error || `HTTP ${request.status}`;
      settle(file, "refused", `${template.texts.refused}: ${why}`);
      announce(`${name}: ${template.texts.refused}: ${why}`);
    }
  });
  request.addEventListener("error", () => {
    settle(file, "refused", `${template.texts.refused}: ${template.texts.networkError}`);
  });
  request.send(form);
  onChange();
}

function addAll(blobs) {
  for (const blob of blobs) add(blob);
}

// changed: called whenever the list changes (the composer's required text follows it).
export function start({ changed }) {
  if (!attach) return;
  onChange = changed;
  attach.hidden = false;
  picker.addEventListener("change", () => {
    addAll(picker.files);
    picker.value = "";
  });
  input.addEventListener("paste", (event) => {
    const pasted = [...(event.clipboardData?.files || [])];
    if (!pasted.length) return; // text pastes as text
    event.preventDefault();
    addAll(pasted);
  });
  // Dropped anywhere on the room: files attach, and the browser does not open them.
  let depth = 0;
  const carriesFiles = (event) => [...(event.dataTransfer?.types || [])].includes("Files");
  room.addEventListener("dragenter", (event) => {
    if (!carriesFiles(event)) return;
    depth += 1;
    dropHint.hidden = false;
  });
  room.addEventListener("dragleave", () => {
    depth = Math.max(0, depth - 1);
    if (!depth) dropHint.hidden = true;
  });
  room.addEventListener("dragover", (event) => {
    if (carriesFiles(event)) event.preventDefault();
  });
  room.addEventListener("drop", (event) => {
    if (!carriesFiles(event)) return;
    event.preventDefault();
    depth = 0;
    dropHint.hidden = true;
    addAll(event.dataTransfer.files);
  });
}
