// The capture window on our origin. The page the bookmarklet ran on opened it and hands over
// the section HTML and metadata by postMessage; this window saves with the session and CSRF
// token, which the visited page never sees. What arrives is captured, hostile data: it is
// checked for shape and size and only ever put into form values and JSON, never into HTML.
(function () {
  "use strict";
  const STASH = "llmp-capture";
  const MAX_SECTION = 10 * 1024 * 1024;
  const MAX_TEXT = 1024 * 1024;
  const MAX_META_KEYS = 50;

  const root = document.getElementById("capture");
  if (!root) return;
  const pageUrl = root.dataset.pageUrl || "";
  const result = document.getElementById("capture-result");
  const sectionStatus = document.getElementById("capture-section");
  let pageOrigin = null;
  try {
    const parsed = new URL(pageUrl);
    if (parsed.protocol === "http:" || parsed.protocol === "https:") pageOrigin = parsed.origin;
  } catch (e) { /* no usable address: nothing to hand over */ }

  const captured = {
    page_url: pageUrl, page_title: root.dataset.pageTitle || "", highlighted_text: root.dataset.selection || "",
    page_section_html: "", page_metadata: {},
  };

  function isString(value, max) { return typeof value === "string" && value.length <= max; }

  // The payload the bookmarklet sends; anything else (another window, another shape) is ignored.
  function validPayload(data) {
    if (!data || typeof data !== "object" || data.type !== "llmp-capture") return false;
    if (!isString(data.page_url, 2000) || data.page_url !== pageUrl) return false;
    if (!isString(data.page_title, 500) || !isString(data.highlighted_text, MAX_TEXT)) return false;
    if (!isString(data.page_section_html, MAX_SECTION)) return false;
    const meta = data.page_metadata;
    if (!meta || typeof meta !== "object" || Array.isArray(meta)) return false;
    const keys = Object.keys(meta);
    if (keys.length > MAX_META_KEYS) return false;
    return keys.every((k) => isString(k, 200) && isString(meta[k], 1000));
  }

  function accept(data) {
    const meta = {};
    Object.keys(data.page_metadata).forEach((k) => { meta[k] = data.page_metadata[k]; });
    captured.page_title = data.page_title;
    captured.highlighted_text = data.highlighted_text;
    captured.page_section_html = data.page_section_html;
    captured.page_metadata = meta;
    sectionStatus.textContent = "The page sent its section (" + data.page_section_html.length.toLocaleString() + " characters).";
    const highlight = document.getElementById("capture-highlight");
    if (highlight) highlight.value = data.highlighted_text;
    document.getElementById("capture-title").textContent = data.page_title || "(untitled page)";
  }

  function stash() {
    try {
      sessionStorage.setItem(STASH, JSON.stringify(captured));
    } catch (e) {
      sectionStatus.textContent = "The section is too large to keep while you log in: log in first, then capture again.";
    }
  }

  function restore() {
    let data = null;
    try { data = JSON.parse(sessionStorage.getItem(STASH) || "null"); } catch (e) { data = null; }
    if (!data) return false;
    data.type = "llmp-capture";
    if (!validPayload(data)) return false;
    accept(data);
    return true;
  }

  const authenticated = root.dataset.authenticated === "1";
  window.addEventListener("message", (event) => {
    if (!window.opener || event.source !== window.opener || event.origin !== pageOrigin) return;
    if (!validPayload(event.data)) return;
    accept(event.data);
    if (!authenticated) stash();
  });

  if (!restore() && window.opener && pageOrigin) {
    // Only the page whose address we were given may answer; "ready" carries nothing.
    window.opener.postMessage({ type: "llmp-capture-ready" }, pageOrigin);
  } else if (!window.opener && !captured.page_section_html) {
    sectionStatus.textContent = "No section was handed over: the address, title and selection are saved.";
  }

  const form = document.getElementById("capture-form");
  if (!form) return;
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    result.textContent = "Saving…";
    const body = Object.assign({}, captured, { body: document.getElementById("capture-body").value });
    fetch(root.dataset.api, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": form.querySelector("[name=csrfmiddlewaretoken]").value },
      body: JSON.stringify(body),
    }).then((response) => response.json().then((json) => ({ response, json })))
      .then(({ response, json }) => {
        if (response.status === 401) {
          window.location.href = root.dataset.loginUrl;
          return;
        }
        if (!response.ok) throw new Error(json.detail || ("HTTP " + response.status));
        sessionStorage.removeItem(STASH);
        result.textContent = "Note saved. ";
        const link = document.createElement("a");
        link.href = json.url;
        link.target = "_blank";
        link.rel = "noopener";
        link.textContent = "Open it";
        result.appendChild(link);
        result.dataset.noteId = String(json.id);
      })
      .catch((error) => {
        result.textContent = "The note was not saved: " + error.message;
        button.disabled = false;
      });
  });
})();
