// The room list and members pages: join, create a room, add a member.
import { requestJson } from "./api.js";

for (const button of document.querySelectorAll("[data-join]")) {
  button.addEventListener("click", async () => {
    const slug = button.dataset.join;
    button.disabled = true;
    try {
      await requestJson("POST", `/rooms/${encodeURIComponent(slug)}/join/`);
      window.location.href = `/rooms/${encodeURIComponent(slug)}/`;
    } catch (err) {
      button.disabled = false;
      button.textContent = `Join failed: ${err.message}`;
    }
  });
}

const createForm = document.getElementById("create-room");
if (createForm) {
  const name = document.getElementById("room-name");
  const slug = document.getElementById("room-slug");
  // The address follows the name until someone edits it (or typed before this ran).
  let slugEdited = slug.value !== "";
  const slugFromName = () => name.value.toLowerCase().normalize("NFKD")
    .replace(/[\u0300-\u036f]/g, "").replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "")
    .slice(0, 50).replace(/-+$/, "");
  const followName = () => { if (!slugEdited) slug.value = slugFromName(); };
  slug.addEventListener("input", () => { slugEdited = slug.value !== ""; });
  name.addEventListener("input", followName);
  followName();
  createForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    followName();
    const error = document.getElementById("create-error");
    error.hidden = true;
    try {
      const room = await requestJson("POST", "/rooms/", {
        name: name.value,
        slug: slug.value,
        private: document.getElementById("room-private").checked,
      });
      window.location.href = room.url;
    } catch (err) {
      error.textContent = err.message;
      error.hidden = false;
    }
  });
}

const memberForm = document.getElementById("add-member");
if (memberForm) {
  memberForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const error = document.getElementById("member-error");
    error.hidden = true;
    const button = memberForm.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      await requestJson("POST", memberForm.dataset.url, {
        username: document.getElementById("member-username").value,
      });
      window.location.reload();
    } catch (err) {
      button.disabled = false;
      error.textContent = err.message;
      error.hidden = false;
    }
  });
}

const leaveForm = document.getElementById("leave-room");
if (leaveForm) {
  leaveForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const error = document.getElementById("leave-error");
    error.hidden = true;
    try {
      await requestJson("POST", leaveForm.dataset.url);
      window.location.href = "/";
    } catch (err) {
      error.textContent = err.message;
      error.hidden = false;
    }
  });
}
