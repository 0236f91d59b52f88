// The lobby: join a public room, create a room; the sidebar, live.
import { sendAsJson } from "./forms.js";
import * as sidebar from "./sidebar.js";

sidebar.start();

for (const form of document.querySelectorAll("form.join")) {
  const button = form.querySelector("[data-join]");
  sendAsJson(form, {
    done: (room) => { window.location.href = room.url; },
    failed: (err) => { button.textContent = `Join failed: ${err.message}`; },
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
  sendAsJson(createForm, {
    payload: () => {
      followName();
      return {
        name: name.value,
        slug: slug.value,
        private: document.getElementById("room-private").checked,
      };
    },
    done: (room) => { window.location.href = room.url; },
    error: document.getElementById("create-error"),
  });
}
