// Progressive enhancement of the record review page: select text in the record and press
// "Redact selection" to fill the redaction form with the text and where it is (its start
// and end in the record's text). Without this file the reviewer types or pastes the text.
for (const form of document.querySelectorAll("form[data-redact-form]")) {
  const source = document.querySelector(
    `[data-redact-source="${form.dataset.redactForm}"]`);
  const button = form.querySelector("[data-redact-selection]");
  const help = form.querySelector("[data-redact-help]");
  const text = form.querySelector("[data-redact-text]");
  const start = form.querySelector("[data-redact-start]");
  const end = form.querySelector("[data-redact-end]");
  if (!source || !button || !text || !start || !end) continue;

  // The offset of a point (node, offset) in the record's text, counted in characters of
  // the text as shown (the element holds one text node, but be safe with several).
  const offsetOf = (node, offset) => {
    const range = document.createRange();
    range.selectNodeContents(source);
    range.setEnd(node, offset);
    return range.toString().length;
  };

  const selection = () => {
    const sel = window.getSelection();
    if (!sel || sel.rangeCount === 0 || sel.isCollapsed) return null;
    const range = sel.getRangeAt(0);
    if (!source.contains(range.startContainer) || !source.contains(range.endContainer)) {
      return null;
    }
    const from = offsetOf(range.startContainer, range.startOffset);
    const to = offsetOf(range.endContainer, range.endOffset);
    return to > from ? { from, to, text: source.textContent.slice(from, to) } : null;
  };

  // The last selection made in the record: pressing the button may move the focus.
  let last = null;
  document.addEventListener("selectionchange", () => {
    const found = selection();
    if (found) last = found;
  });

  button.addEventListener("click", () => {
    const found = selection() || last;
    if (!found) {
      text.focus();
      return;
    }
    text.value = found.text;
    start.value = String(found.from);
    end.value = String(found.to);
    form.querySelector("select[name=reason]")?.focus();
  });

  // Typing in the box makes it a typed redaction again: the selection no longer applies.
  text.addEventListener("input", () => {
    start.value = "";
    end.value = "";
  });

  button.hidden = false;
  if (help) help.hidden = false;
}
