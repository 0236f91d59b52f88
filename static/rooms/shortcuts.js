// Keyboard shortcuts of every page: "/" goes to the search box in the header (or to the
// search page where the header has no room for the box).
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
    if (search.offsetParent === null) {
      // The box is not shown (a narrow screen): the search page has one.
      window.location.assign(search.form.action);
      return;
    }
    search.focus();
    search.select();
  });
}
