// The room's moderation page: settings, mutes and bans, moderators and members.
//
// Every change goes through the room's JSON endpoints (api.js), which answer errors with
// {"error"}: shown next to the form or list it came from. The lists follow the room's
// event stream (events.js), so a mute that runs out, or another moderator's change, shows
// at once. Their rows are clones of the server's partials, words included (templates.js).
import { requestJson } from "./api.js";
import { followRoom } from "./events.js";
import { fromTemplate } from "./templates.js";
import { localDateTime, showLocalTimes } from "./time.js";

const root = document.getElementById("moderation");
const roomUrl = root.dataset.roomUrl;
const statusLine = document.getElementById("moderation-status");
const restrictionList = document.getElementById("restrictions");
const noRestrictions = document.getElementById("no-restrictions");
const restrictionTemplate = fromTemplate(document.getElementById("restriction-template"));
const memberList = document.getElementById("members");
const memberTemplate = fromTemplate(document.getElementById("member-template"));
const memberNames = document.getElementById("member-names");

function say(text) {
  statusLine.textContent = text;
}

function showError(element, err) {
  element.textContent = err.status === 0
    ? "Could not reach the server: check the connection and try again."
    : `Not done: ${err.message}.`;
  element.hidden = false;
}

function clearError(element) {
  element.textContent = "";
  element.hidden = true;
}

// The lists are rebuilt after every change, made here or arriving live. Keyboard focus on
// one of their buttons goes to the same button of the same row, else to the list's heading.
const ACTIONS = ["lift", "toggle-moderator", "remove-member"];

function focusAgain(list, row, action, heading) {
  const same = [...list.children].find((item) =>
    item.dataset.username === row.username && item.dataset.kind === row.kind);
  const button = same && same.querySelector(`button.${action}`);
  if (button && !button.hidden) button.focus();
  else heading.focus();
}

function replaceKeepingFocus(list, elements, heading) {
  const active = document.activeElement;
  const item = active && list.contains(active) ? active.closest("li") : null;
  const action = item && ACTIONS.find((name) => active.classList.contains(name));
  list.replaceChildren(...elements);
  if (action) focusAgain(list, { ...item.dataset }, action, heading);
}

// Run a request from a form or button: no double submits, errors shown, never thrown.
async function act(button, errorElement, request) {
  clearError(errorElement);
  button.disabled = true;
  try {
    return await request();
  } catch (err) {
    showError(errorElement, err);
    return undefined;
  } finally {
    button.disabled = false;
  }
}

// Room settings

const settingsForm = document.getElementById("room-settings");
const settingsError = document.getElementById("settings-error");
const lockedBox = document.getElementById("settings-locked");
const archivedBox = document.getElementById("settings-archived");
const slowMode = document.getElementById("settings-slow-mode");
const settingsReason = document.getElementById("settings-reason");

function applySettings(data) {
  lockedBox.checked = Boolean(data.locked);
  archivedBox.checked = Boolean(data.archived);
  slowMode.value = String(data.slow_mode_seconds ?? 0);
}

settingsForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const button = settingsForm.querySelector("button[type=submit]");
  if (slowMode.validity.badInput) {
    showError(settingsError, { message: "slow mode must be a whole number of seconds" });
    slowMode.focus();
    return;
  }
  const data = await act(button, settingsError, () => requestJson("POST", `${roomUrl}settings/`, {
    locked: lockedBox.checked,
    archived: archivedBox.checked,
    slow_mode_seconds: slowMode.value.trim() === "" ? 0 : slowMode.value.trim(),
    reason: settingsReason.value,
  }));
  if (data === undefined) return;
  applySettings(data);
  settingsReason.value = "";
  const parts = [
    data.locked ? "locked" : "not locked",
    data.archived ? "archived" : "not archived",
    data.slow_mode_seconds ? `slow mode ${data.slow_mode_seconds} s` : "no slow mode",
  ];
  say(`Settings saved: ${parts.join(", ")}.`);
});

// Mutes and bans

// Fill in a text of a template's ("Lift the {kind} of {username}").
function fill(text, values) {
  return text.replace(/\{(\w+)\}/g, (whole, name) => values[name] ?? whole);
}

function restrictionElement(restriction) {
  const { texts } = restrictionTemplate;
  const element = restrictionTemplate.clone();
  element.dataset.username = restriction.username;
  element.dataset.kind = restriction.kind;
  element.querySelector(".username").textContent = restriction.username;
  element.querySelector(".kind").textContent = restriction.kind === "ban" ? texts.banned : texts.muted;
  const until = element.querySelector(".until");
  if (restriction.until) {
    const time = until.querySelector("time");
    time.setAttribute("datetime", restriction.until);
    time.textContent = localDateTime(restriction.until);
  } else {
    until.textContent = texts.untilLifted;
  }
  const reason = element.querySelector(".reason");
  if (restriction.reason) reason.querySelector(".text").textContent = restriction.reason;
  else reason.replaceChildren();
  const by = element.querySelector(".by");
  if (restriction.by) by.querySelector(".name").textContent = restriction.by;
  else by.replaceChildren();
  element.querySelector(".lift").setAttribute("aria-label", fill(texts.lift, restriction));
  return element;
}

async function refreshRestrictions() {
  try {
    const data = await requestJson("GET", `${roomUrl}restrictions/`);
    const heading = document.getElementById("restrictions-title");
    replaceKeepingFocus(restrictionList, data.restrictions.map(restrictionElement), heading);
    noRestrictions.hidden = data.restrictions.length > 0;
  } catch (err) {
    console.warn("could not reload the mutes and bans", err);
  }
}

const restrictForm = document.getElementById("restrict");
const restrictError = document.getElementById("restrict-error");
const restrictUser = document.getElementById("restrict-username");
const restrictMinutes = document.getElementById("restrict-minutes");
const restrictReason = document.getElementById("restrict-reason");

restrictForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const button = restrictForm.querySelector("button[type=submit]");
  const kind = restrictForm.querySelector("input[name=kind]:checked").value;
  const username = restrictUser.value.trim();
  if (!username) {
    showError(restrictError, { message: "enter the username of the person to " + kind });
    restrictUser.focus();
    return;
  }
  if (restrictMinutes.validity.badInput) {
    showError(restrictError, { message: "minutes must be a whole number" });
    restrictMinutes.focus();
    return;
  }
  const payload = { username, reason: restrictReason.value };
  const minutes = restrictMinutes.value.trim();
  if (minutes !== "") payload.minutes = minutes;
  const data = await act(button, restrictError, () => requestJson("POST", `${roomUrl}${kind}/`, payload));
  if (data === undefined) return;
  const done = kind === "ban" ? "banned" : "muted";
  say(`${data.username} is ${done} ${data.until ? `until ${localDateTime(data.until)}` : "until lifted"}.`);
  restrictForm.reset();
  restrictUser.focus();
  await refreshRestrictions();
});

const restrictionsError = document.getElementById("restrictions-error");

restrictionList.addEventListener("click", async (event) => {
  const button = event.target.closest("button.lift");
  if (!button) return;
  const item = button.closest(".restriction");
  const { username, kind } = item.dataset;
  const data = await act(button, restrictionsError, () => requestJson("POST", `${roomUrl}un${kind}/`, { username }));
  if (data === undefined) return;
  say(`The ${kind} of ${username} is lifted.`);
  await refreshRestrictions();
  // Its row is gone: the focus goes to the list's heading.
  focusAgain(restrictionList, { username, kind }, "lift", document.getElementById("restrictions-title"));
});

// Members and moderators

function memberElement(member) {
  const element = memberTemplate.clone();
  element.dataset.username = member.username;
  element.dataset.role = member.role;
  element.querySelector(".username").textContent = member.username;
  const role = element.querySelector(".role");
  role.textContent = member.role;
  role.hidden = member.role === "member";
  const toggle = element.querySelector(".toggle-moderator");
  if (toggle) {
    toggle.hidden = member.role === "owner";
    const { texts } = memberTemplate;
    toggle.textContent = member.role === "moderator" ? texts.removeModerator : texts.makeModerator;
  }
  const remove = element.querySelector(".remove-member");
  if (remove) remove.hidden = member.role === "owner";
  labelMemberButtons(element);
  return element;
}

// Buttons say whom they act on (a screen reader may list them out of their rows), after
// their visible text.
function labelMemberButtons(element) {
  for (const button of element.querySelectorAll("button")) {
    button.setAttribute("aria-label", `${button.textContent.trim()}: ${element.dataset.username}`);
  }
}

async function refreshMembers() {
  try {
    const data = await requestJson("GET", `${roomUrl}members/`);
    const heading = document.getElementById("members-title");
    replaceKeepingFocus(memberList, data.members.map(memberElement), heading);
    memberNames.replaceChildren(...data.members.map((member) => {
      const option = document.createElement("option");
      option.value = member.username;
      return option;
    }));
  } catch (err) {
    console.warn("could not reload the members", err);
  }
}

const membersError = document.getElementById("members-error");

memberList.addEventListener("click", async (event) => {
  const button = event.target.closest("button");
  if (!button) return;
  const item = button.closest(".member");
  const { username, role } = item.dataset;
  if (button.classList.contains("toggle-moderator")) {
    const moderator = role !== "moderator";
    const data = await act(button, membersError, () => requestJson("POST", `${roomUrl}moderators/`, { username, moderator }));
    if (data === undefined) return;
    say(moderator ? `${username} is now a moderator of this room.` : `${username} is no longer a moderator.`);
    await refreshMembers();
    focusAgain(memberList, { username }, "toggle-moderator", document.getElementById("members-title"));
  } else if (button.classList.contains("remove-member")) {
    if (!window.confirm(`Remove ${username} from this room?`)) return;
    const url = `${roomUrl}members/${encodeURIComponent(username)}/`;
    const data = await act(button, membersError, () => requestJson("DELETE", url));
    if (data === undefined) return;
    say(`${username} was removed from the room.`);
    await refreshMembers();
    document.getElementById("members-title").focus();
  }
});

// Live: the room's events keep the lists current.

function live() {
  followRoom(root.dataset.eventsUrl, root.dataset.lastEventId, {
    user_muted: refreshRestrictions,
    user_unmuted: refreshRestrictions,
    user_banned: refreshRestrictions,
    user_unbanned: refreshRestrictions,
    member_joined: refreshMembers,
    member_left: refreshMembers,
    member_role_changed: refreshMembers,
    room_updated: applySettings,
  }, {
    onReset: () => { refreshRestrictions(); refreshMembers(); },
    onRevoked: () => say("You no longer have access to this room."),
  });
}

for (const element of memberList.children) labelMemberButtons(element);
showLocalTimes(root);
live();
