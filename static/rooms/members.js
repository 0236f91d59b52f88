// The members page: the owner adds someone; a member leaves.
import { sendAsJson } from "./forms.js";

const addForm = document.getElementById("add-member");
if (addForm) {
  sendAsJson(addForm, {
    payload: () => ({ username: document.getElementById("member-username").value }),
    done: () => window.location.reload(),
    error: document.getElementById("member-error"),
  });
}

const leaveForm = document.getElementById("leave-room");
if (leaveForm) {
  sendAsJson(leaveForm, {
    done: () => { window.location.href = "/"; },
    error: document.getElementById("leave-error"),
  });
}
