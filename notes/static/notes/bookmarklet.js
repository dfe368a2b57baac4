// Builds the capture bookmarklet. It carries no credential: run in the visited page (whose own
// scripts can watch everything it does), it opens our capture window and hands it the page's
// address, title, selection, metadata and section. Saving happens in that window, on our origin,
// with the session (notes/capture-popup.js).
(function () {
  const source = function () {
    const ORIGIN = "__ORIGIN__";
    const selection = window.getSelection();
    const highlighted = String(selection || "").slice(0, 1000000);
    let section = "";
    if (selection && selection.rangeCount) {
      let node = selection.getRangeAt(0).commonAncestorContainer;
      if (node.nodeType !== 1) node = node.parentElement;
      section = (node.closest("section, article, main") || node).outerHTML;
    }
    const meta = {};
    document.querySelectorAll("meta[name], meta[property]").forEach((el) => {
      const key = (el.getAttribute("name") || el.getAttribute("property")).slice(0, 200);
      if (key && el.content && Object.keys(meta).length < 50) meta[key] = el.content.slice(0, 1000);
    });
    const url = location.href.slice(0, 2000);
    const title = document.title.slice(0, 500);
    const query = "?url=" + encodeURIComponent(url) + "&title=" + encodeURIComponent(title) +
      "&selection=" + encodeURIComponent(highlighted.slice(0, 1500));
    const popup = window.open(ORIGIN + "/notes/capture/popup/" + query, "notes-capture", "popup,width=560,height=680");
    if (!popup) {
      window.alert("Allow pop-up windows for this site to save notes from it.");
      return;
    }
    const payload = {
      type: "llmp-capture", page_url: url, page_title: title, page_metadata: meta,
      page_section_html: section, highlighted_text: highlighted,
    };
    const onMessage = (event) => {
      if (event.source !== popup || event.origin !== ORIGIN || !event.data || event.data.type !== "llmp-capture-ready") return;
      popup.postMessage(payload, ORIGIN);
    };
    window.addEventListener("message", onMessage);
    setTimeout(() => window.removeEventListener("message", onMessage), 30 * 60 * 1000);
  };

  function build() {
    return "javascript:" + encodeURIComponent("(" + source.toString().replace("__ORIGIN__", location.origin) + ")()");
  }

  // The javascript: link is written when the user opens the bookmarklet section (as the token
  // used to be typed there), so the notes page as loaded holds no javascript: URL.
  document.addEventListener("toggle", (event) => {
    if (!event.target.classList || !event.target.classList.contains("bookmarklet") || !event.target.open) return;
    const link = document.getElementById("bookmarklet-link");
    if (link) {
      link.href = build();
      link.hidden = false;
    }
  }, true);
})();
