// The room page's settings, read once from its data attributes, and its live region.

export const room = document.getElementById("room");
export const me = room.dataset.username;
export const messagesUrl = room.dataset.messagesUrl;
export const eventsUrl = room.dataset.eventsUrl;
export const lastEventId = Number(room.dataset.lastEventId) || 0;
export const maxLength = Number(room.dataset.maxLength);
export const siteModerator = room.dataset.siteModerator === "true";
// The message the page opened at (?around=<id>, a search result), or null.
export const around = Number(room.dataset.around) || null;
export const slug = room.dataset.slug;
// A member's read position; empty for a reader who is not a member.
export const isMember = room.dataset.lastRead !== "";
export const lastRead = Number(room.dataset.lastRead) || 0;
export const readUrl = room.dataset.readUrl;

const announcer = document.getElementById("announcer");

// Replace the text so that screen readers read each announcement once.
export function announce(text) {
  announcer.textContent = text;
}
