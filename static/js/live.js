// Live generation: <div data-live-url="…"> opens a server-sent-events stream and appends each
// chunk to its [data-live-text] element as it arrives. The element's polling ancestor
// (hx-trigger="every 1s") keeps its place as the fallback: while the stream is open its poll
// requests are skipped, and once the stream ends (or fails) the next poll shows what was stored.
// A <form data-live-stop> inside posts the Stop (a plain form without script).
(function () {
  "use strict";

  function csrfToken() {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }

  function poller(el) {
    return el.closest("[hx-get]") || el;
  }

  function start(el) {
    if (el.dataset.liveStarted || !window.EventSource) return;
    el.dataset.liveStarted = "1";
    el.hidden = false;  // shown only where the script runs (without it, the page's own button works)
    document.querySelectorAll("[data-live-hide]").forEach(function (other) { other.hidden = true; });
    const out = el.querySelector("[data-live-text]");
    const status = el.querySelector("[data-live-status]");
    const owner = poller(el);
    owner.dataset.liveActive = "1";
    const source = new EventSource(el.dataset.liveUrl);
    el.liveSource = source;

    function finish(message) {
      source.close();
      delete owner.dataset.liveActive;
      if (status && message) status.textContent = message;
      // Show the stored result now rather than at the next poll tick.
      if (el.hasAttribute("data-live-reload")) {
        window.location.reload();
      } else if (window.htmx && owner.getAttribute("hx-get")) {
        window.htmx.ajax("GET", owner.getAttribute("hx-get"), { target: owner, swap: "outerHTML" });
      }
    }

    source.addEventListener("chunk", function (event) {
      const data = JSON.parse(event.data);
      if (!window.liveFirstChunkAt) window.liveFirstChunkAt = Date.now();
      out.hidden = false;
      out.textContent += data.t;
      if (status) status.textContent = "Writing…";
    });
    source.addEventListener("reset", function () {
      out.textContent = "";
      if (status) status.textContent = "The answer did not fit; asking again…";
    });
    source.addEventListener("error", function (event) {
      if (event.data) {  // an "error" event from the server (not a connection error)
        const data = JSON.parse(event.data);
        if (status) status.textContent = data.message || "The generation failed.";
        return;
      }
      // The connection failed: polling takes over.
      source.close();
      delete owner.dataset.liveActive;
    });
    source.addEventListener("cancelled", function () {
      if (status) status.textContent = "Stopped.";
    });
    source.addEventListener("end", function () {
      finish("");
    });
  }

  function startAll(root) {
    (root || document).querySelectorAll("[data-live-url]").forEach(start);
  }

  // Skip the fallback poll of an element whose stream is open.
  document.addEventListener("htmx:beforeRequest", function (event) {
    const elt = event.detail && event.detail.elt;
    if (elt && elt.dataset && elt.dataset.liveActive === "1") event.preventDefault();
  });

  document.addEventListener("submit", function (event) {
    const form = event.target.closest("form[data-live-stop]");
    if (!form) return;
    event.preventDefault();
    const button = form.querySelector("button");
    if (button) button.disabled = true;
    fetch(form.action, {
      method: "POST", headers: { "X-CSRFToken": csrfToken(), "HX-Request": "true" }, credentials: "same-origin",
    }).then(function () {
      const live = form.closest("[data-live-url]");
      const status = live && live.querySelector("[data-live-status]");
      if (status) status.textContent = "Stopping…";
    });
  });

  document.addEventListener("DOMContentLoaded", function () {
    // Forms whose next page can stream say so to the server (without script it runs as before).
    if (window.EventSource) document.querySelectorAll("input[data-live-capable]").forEach(function (i) { i.value = "1"; });
    startAll(document);
  });
  document.addEventListener("htmx:load", function (event) { startAll(event.target); });
})();
