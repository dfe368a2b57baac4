// The in-browser generation mode: Chrome's Prompt API (LanguageModel) runs the artifact's
// prompt on the user's machine, the answer streams into the card, and is posted back like a
// pasted answer (the server logs it as provider "browser", cost 0, with the model name below).
// Where the API is missing or its model is not downloaded, the card keeps its fallback (other
// modes) visible, and the mode's radio button on the form says why it cannot be used.
(function () {
  "use strict";

  function api() {
    return typeof self !== "undefined" && "LanguageModel" in self ? self.LanguageModel : null;
  }

  const REASONS = {
    missing: "This browser has no built-in model (Chrome's Prompt API): choose another mode.",
    unavailable: "This browser's built-in model cannot run on this device: choose another mode.",
    downloadable: "This browser's built-in model is not downloaded yet: choose another mode for now.",
    downloading: "This browser is still downloading its built-in model: choose another mode for now.",
  };

  async function availability() {
    const lm = api();
    if (!lm) return "missing";
    try {
      return await lm.availability();
    } catch (err) {
      return "unavailable";
    }
  }

  function modelName() {
    const match = navigator.userAgent.match(/Chrom(?:e|ium)\/(\d+)/);
    return "gemini-nano (Chrome " + (match ? match[1] : "?") + ")";
  }

  function csrfToken() {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }

  async function run(panel) {
    if (panel.dataset.browserStarted) return;
    panel.dataset.browserStarted = "1";
    const status = panel.querySelector("[data-browser-status]");
    const out = panel.querySelector("[data-browser-text]");
    const fallback = panel.querySelector("[data-browser-fallback]");
    const state = await availability();
    if (state !== "available") {
      status.textContent = REASONS[state] || REASONS.unavailable;
      fallback.hidden = false;
      return;
    }
    fallback.hidden = true;
    const prompt = JSON.parse(panel.dataset.prompt);
    let session;
    let text = "";
    try {
      status.textContent = "Your browser's model is writing…";
      session = await api().create({ initialPrompts: prompt.system ? [{ role: "system", content: prompt.system }] : [] });
      const stream = session.promptStreaming(prompt.prompt);
      out.hidden = false;
      for await (const chunk of stream) {
        if (panel.dataset.browserStopped) break;
        if (!window.liveFirstChunkAt) window.liveFirstChunkAt = Date.now();
        text += chunk;
        out.textContent = text;
      }
    } catch (err) {
      status.textContent = "Your browser's model failed: " + (err && err.message ? err.message : err) + ". Choose another mode.";
      fallback.hidden = false;
      return;
    } finally {
      if (session && session.destroy) session.destroy();
    }
    if (panel.dataset.browserStopped) return;
    status.textContent = "Saving the answer…";
    const body = new FormData();
    body.append("answer", text);
    body.append("model_name", modelName());
    const response = await fetch(panel.dataset.answerUrl, {
      method: "POST", body: body, credentials: "same-origin",
      headers: { "X-CSRFToken": csrfToken(), "HX-Request": "true" },
    });
    const card = document.getElementById(panel.dataset.card);
    if (card) {
      card.outerHTML = await response.text();
      const fresh = document.getElementById(panel.dataset.card);
      if (fresh && window.htmx) window.htmx.process(fresh);
    }
  }

  // Stop: the prompt stops streaming and nothing is posted.
  document.addEventListener("submit", function (event) {
    const form = event.target.closest("form[data-browser-stop]");
    if (!form) return;
    const panel = form.closest("[data-browser-run]");
    if (panel) panel.dataset.browserStopped = "1";
  }, true);

  async function markModeOption(root) {
    const note = (root || document).querySelector("[data-browser-note]");
    if (!note) return;
    const radio = document.querySelector('input[name="generation_mode"][value="browser"]');
    const state = await availability();
    if (state === "available") {
      note.textContent = "Runs on this computer with your browser's built-in model: no cost, nothing sent to a provider.";
    } else {
      note.textContent = REASONS[state] || REASONS.unavailable;
      if (radio) {
        radio.disabled = true;
        if (radio.checked) {
          radio.checked = false;
          const first = document.querySelector('input[name="generation_mode"]:not([disabled])');
          if (first) first.checked = true;
        }
      }
    }
    note.hidden = false;
  }

  function scan(root) {
    (root || document).querySelectorAll("[data-browser-run]").forEach(run);
    markModeOption(root);
  }

  document.addEventListener("DOMContentLoaded", function () { scan(document); });
  document.addEventListener("htmx:load", function (event) { scan(event.target); });
})();
