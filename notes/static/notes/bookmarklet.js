// Builds the capture bookmarklet with the API token the user pastes. The token stays in the
// browser: it is written into the bookmarklet's link, never sent to our server by this page.
(function () {
  const source = function () {
    const TOKEN = "__TOKEN__";
    const ENDPOINT = "__ORIGIN__/api/notes/";
    const selection = window.getSelection();
    const highlighted = String(selection || "");
    let section = "";
    if (selection && selection.rangeCount) {
      let node = selection.getRangeAt(0).commonAncestorContainer;
      if (node.nodeType !== 1) node = node.parentElement;
      section = (node.closest("section, article, main") || node).outerHTML;
    }
    const meta = {};
    document.querySelectorAll("meta[name], meta[property]").forEach((el) => {
      const key = el.getAttribute("name") || el.getAttribute("property");
      if (key && el.content && Object.keys(meta).length < 50) meta[key] = el.content.slice(0, 1000);
    });
    const body = window.prompt("Your note on this page:", "");
    if (body === null) return;
    fetch(ENDPOINT, {
      method: "POST",
      headers: { Authorization: "Bearer " + TOKEN, "Content-Type": "application/json" },
      body: JSON.stringify({
        page_url: location.href, page_title: document.title, page_metadata: meta,
        page_section_html: section, highlighted_text: highlighted, body: body,
      }),
    }).then((r) => (r.ok ? r.json() : Promise.reject(new Error("HTTP " + r.status))))
      .then(() => window.alert("Note saved."))
      .catch((e) => window.alert("The note was not saved (" + e.message + "). Check the token, or the page may block it."));
  };

  function build(token) {
    const code = "(" + source.toString() + ")()";
    return "javascript:" + encodeURIComponent(
      code.replace("__TOKEN__", token.replace(/[^A-Za-z0-9_\-]/g, "")).replace("__ORIGIN__", location.origin)
    );
  }

  document.addEventListener("input", (event) => {
    if (event.target.id !== "bookmarklet-token") return;
    const link = document.getElementById("bookmarklet-link");
    const token = event.target.value.trim();
    if (token.startsWith("llmp_")) {
      link.href = build(token);
      link.hidden = false;
      document.getElementById("bookmarklet-status").textContent = "Drag the link to your bookmarks bar.";
    } else {
      link.hidden = true;
      document.getElementById("bookmarklet-status").textContent = token ? "API tokens start with llmp_." : "";
    }
  });
})();
