// Forms that work without JavaScript (an action, a method and named fields: the server
// answers a browser's own post with a redirect) and, with it, are sent as JSON by fetch, so
// that nothing reloads that need not.
import { requestJson } from "./api.js";

// On submit, POST payload() as JSON to the form's action; done(answer) when it worked.
// Otherwise the error element (role=alert) says describe(err), or failed(err) is called.
// The submit button is off while the request runs and after it worked (a page follows).
export function sendAsJson(form, { payload = () => undefined, done, error, describe, failed }) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = event.submitter || form.querySelector("button[type=submit]");
    if (error) showError(error, "");
    button.disabled = true;
    let answer;
    try {
      answer = await requestJson("POST", form.action, payload());
    } catch (err) {
      button.disabled = false;
      if (error) showError(error, describe ? describe(err) : err.message);
      if (failed) failed(err);
      return;
    }
    done(answer);
  });
}

export function showError(element, text) {
  element.textContent = text;
  element.hidden = !text;
}
