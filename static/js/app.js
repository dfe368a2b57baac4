// Copy buttons: <button data-copy-target="ID"> copies the text of element ID.
document.addEventListener("click", async (event) => {
  const button = event.target.closest("[data-copy-target]");
  if (!button) return;
  const source = document.getElementById(button.dataset.copyTarget);
  if (!source) return;
  const text = source.value !== undefined ? source.value : source.textContent;
  const status = document.getElementById(button.dataset.copyStatus || "") || button;
  try {
    await navigator.clipboard.writeText(text);
    status.textContent = "Copied to the clipboard.";
  } catch (err) {
    // Clipboard API refused (e.g. not a secure context): select the text so Ctrl+C works.
    if (source.select) { source.focus(); source.select(); }
    status.textContent = "Selected: press Ctrl+C (⌘C) to copy.";
  }
});

// <... data-autofocus>: focus it when the page opens (each product-wizard step is a new page:
// keyboard and screen-reader focus go to its heading). An attribute, not an inline script (CSP).
document.addEventListener("DOMContentLoaded", () => {
  const target = document.querySelector("[data-autofocus]");
  if (target) target.focus();
});
