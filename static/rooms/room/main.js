// The room page: the history, live events, the composer and the connection state.
//
// One module per job, wired here:
//   page.js      the page's settings (its data attributes) and its live region
//   messages.js  render a message, keep the list in id order, group runs by one author
//   history.js   older pages as one scrolls up (newer ones too when opened at a message),
//                the scroll position, reload after a reset
//   stream.js    the event source, the connection state, what each event does
//   posting.js   what keeps the viewer from posting: the notice, the composer on or off
//   outbox.js    the composer; one's posts sent with a client_id, pending, failed, retried
//   uploads.js   files for the next post: attach, paste, drop, each uploaded with progress
//   actions.js   reply, react, edit, delete, report; moderators pin, remove and restore
//   pins.js      the pinned messages listed in the header
//   reading.js   the "New messages" line, the read position moved as one reads
//   presence.js  "… is typing", who is here now; the page reports it shows the room
// Joining (for a reader who is not a member) is the shared form helper's; the sidebar
// (../sidebar.js) opens the user stream that a member's page takes its events from.
import { sendAsJson } from "../forms.js";
import * as sidebar from "../sidebar.js";
import * as actions from "./actions.js";
import * as history from "./history.js";
import * as mentionInput from "./mention-input.js";
import * as messages from "./messages.js";
import * as outbox from "./outbox.js";
import * as pins from "./pins.js";
import { around, slug } from "./page.js";
import * as posting from "./posting.js";
import * as presence from "./presence.js";
import * as reading from "./reading.js";
import * as stream from "./stream.js";

messages.onPinnedChange(pins.update); // an edit of a pinned message changes its entry
messages.adoptRendered();
history.start({ onJump: outbox.focus });
stream.connect({ onBack: outbox.flush });
outbox.start({ canSend: stream.isOpen });
actions.start();
sidebar.whileReading((room) => room === slug && reading.isReading());
sidebar.start();

// A reader of a public room joins it: the page reloads with the composer.
const joinForm = document.getElementById("join-form");
if (joinForm) {
  sendAsJson(joinForm, {
    done: () => window.location.reload(),
    error: document.getElementById("join-error"),
    describe: (err) => `Could not join: ${err.message}`,
  });
}

// The room's notification level: saved as soon as it is chosen (the button is for no script).
const notifyForm = document.getElementById("notify-level");
if (notifyForm) {
  const select = notifyForm.querySelector("select");
  notifyForm.querySelector("button").hidden = true;
  sendAsJson(notifyForm, {
    payload: () => ({ level: select.value }),
    done: () => { notifyForm.querySelector("button").disabled = false; },
    error: document.getElementById("notify-level-error"),
  });
  select.addEventListener("change", () => notifyForm.requestSubmit());
}

mentionInput.start();
posting.start();
presence.start();
reading.start(); // the "New messages" line goes in before the history opens
if (around) history.openAt(around);
else history.openAtBottom();
if (window.matchMedia("(hover: hover) and (pointer: fine)").matches) outbox.focus();
