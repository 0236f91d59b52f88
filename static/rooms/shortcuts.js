// Keyboard shortcuts of every page: "/" goes to the search box in the header.
const search = document.getElementById("header-search-input");

function typingSomewhere(target) {
  return target instanceof HTMLElement &&
    (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName));
}

if (search) {
  document.addEventListener("keydown", (event) => {
    if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey) return;
    if (typingSomewhere(event.target)) return;
    event.preventDefault();
    search.focus();
    search.select();
  });
}
