// Desktop notifications (the Notification API): off until the person turns them on with the
// sidebar's button, which is when the browser asks for permission; the choice is kept in
// this browser (localStorage). When on, a message that arrives while the tab is hidden
// shows one if the room's level says so (the room's own, or the person's default: "all"
// every message, "mentions" mentions and DMs; "mute" and "nothing" never). A click opens
// the message in its room. Several tabs show one: the message id is the notification's tag.

const STORAGE_KEY = "chat.desktopNotifications";
const MAX_BODY_CHARS = 200;

let options = null;

function supported() {
  return typeof window.Notification === "function";
}

function enabled() {
  return supported() && Notification.permission === "granted" && localStorage.getItem(STORAGE_KEY) === "on";
}

function showButtons() {
  const box = document.getElementById("desktop-notify");
  if (!box || !supported()) return;
  box.hidden = false;
  const on = enabled();
  document.getElementById("desktop-notify-on").hidden = on || Notification.permission === "denied";
  document.getElementById("desktop-notify-off").hidden = !on;
  document.getElementById("desktop-notify-blocked").hidden = Notification.permission !== "denied";
}

function levelOf(room) {
  return room.notify && room.notify !== "default" ? room.notify : options.defaultLevel;
}

// A stream event (from the user stream): show a notification if it calls for one.
export function consider({ event, data }, rooms) {
  if (!options || event !== "message" || !enabled()) return;
  if (document.visibilityState !== "hidden") return;
  const message = data.data;
  const room = rooms.get(data.room);
  if (!room || message.author === options.me || message.id <= room.latest) return;
  const level = levelOf(room);
  if (level === "mute" || level === "nothing") return;
  if (level !== "all" && !options.mentionsMe(room, message)) return;
  const body = (message.body || "").slice(0, MAX_BODY_CHARS);
  const title = room.kind === "dm" ? message.author : `${message.author} in ${room.name}`;
  const notification = new Notification(title, { body, tag: `message-${message.id}` });
  notification.addEventListener("click", () => {
    window.focus();
    notification.close();
    window.location.href = `${room.url}?around=${message.id}`;
  });
}

export function start(settings) {
  options = settings;
  if (!supported()) return;
  const on = document.getElementById("desktop-notify-on");
  const off = document.getElementById("desktop-notify-off");
  if (!on || !off) return;
  on.addEventListener("click", async () => {
    // Asked only now, after the person chose to: never on page load.
    const answer = await Notification.requestPermission();
    if (answer === "granted") localStorage.setItem(STORAGE_KEY, "on");
    showButtons();
  });
  off.addEventListener("click", () => {
    localStorage.setItem(STORAGE_KEY, "off");
    showButtons();
  });
  showButtons();
}
