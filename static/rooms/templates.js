// Elements cloned from a <template> that the same partial renders as the server's own
// elements, so a live insert looks exactly like a rendered one.
//
// The words a script puts into such an element (a tombstone, "until lifted") are the
// partial's too: its empty variant, the one in the <template>, carries them on its root as
// data-text-* attributes (data-text-until-lifted is texts.untilLifted), which clones leave off.
export function fromTemplate(template) {
  const root = template.content.firstElementChild;
  const texts = {};
  const keys = Object.keys(root.dataset).filter((key) => /^text[A-Z]/.test(key));
  for (const key of keys) texts[key[4].toLowerCase() + key.slice(5)] = root.dataset[key];
  return {
    texts,
    clone() {
      const element = root.cloneNode(true);
      for (const key of keys) delete element.dataset[key];
      return element;
    },
  };
}
