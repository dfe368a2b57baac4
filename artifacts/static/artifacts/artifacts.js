// Artifacts: the copy/paste dialog, flashcards and quizzes. No inline handlers: event delegation.
(function () {
  document.addEventListener("click", (event) => {
    const opener = event.target.closest("[data-open-dialog]");
    if (opener) {
      const dialog = document.getElementById(opener.dataset.openDialog);
      if (dialog && !dialog.open) dialog.showModal();
      return;
    }
    const closer = event.target.closest("[data-close-dialog]");
    if (closer) {
      const dialog = closer.closest("dialog");
      if (dialog) dialog.close();
      return;
    }
    const reveal = event.target.closest("[data-reveal-all]");
    if (reveal) {
      const cards = reveal.closest("[data-flashcards]").querySelectorAll("details");
      const open = !Array.from(cards).every((d) => d.open);
      cards.forEach((d) => { d.open = open; });
      reveal.textContent = open ? "Hide all answers" : "Reveal all answers";
      return;
    }
    const check = event.target.closest("[data-check-quiz]");
    if (check) {
      const quiz = check.closest("[data-quiz]");
      let right = 0;
      const questions = quiz.querySelectorAll("fieldset[data-answer]");
      questions.forEach((fieldset) => {
        const answer = fieldset.dataset.answer;
        const chosen = fieldset.querySelector("input[type=radio]:checked");
        const feedback = fieldset.querySelector(".quiz-feedback");
        const explanation = fieldset.querySelector(".quiz-explanation");
        const correctLabel = fieldset.querySelector(`input[value="${answer}"]`)?.parentElement;
        feedback.hidden = false;
        if (chosen && chosen.value === answer) {
          right += 1;
          feedback.textContent = "Correct.";
          feedback.className = "quiz-feedback correct";
        } else {
          feedback.textContent = (chosen ? "Not quite. " : "No answer chosen. ") +
            "The answer is: " + (correctLabel ? correctLabel.textContent.trim() : "");
          feedback.className = "quiz-feedback wrong";
        }
        if (explanation) explanation.hidden = false;
      });
      quiz.querySelector(".quiz-score").textContent = `${right} of ${questions.length} correct.`;
    }
  });
  document.addEventListener("submit", (event) => {
    if (event.target.matches("[data-quiz]")) event.preventDefault();
  });
  // Mermaid draws <pre class="mermaid"> blocks when the library is installed in static/vendor.
  function drawDiagrams() {
    if (window.mermaid) {
      // Diagrams are model output steered by captured pages (issue 19): strict security level
      // (no click handlers, labels sanitised), labels drawn as SVG text rather than HTML, and no
      // tag that loads anything. The Content-Security-Policy (img-src 'self' data:) is the backstop.
      window.mermaid.initialize({
        startOnLoad: false,
        securityLevel: "strict",
        htmlLabels: false,
        flowchart: { htmlLabels: false },
        dompurifyConfig: {
          FORBID_TAGS: ["img", "image", "picture", "source", "video", "audio", "iframe", "object", "embed", "link", "a", "use"],
          FORBID_ATTR: ["src", "srcset", "href", "xlink:href", "background", "poster"],
        },
      });
      window.mermaid.run({ querySelector: "pre.mermaid:not([data-processed])" });
    }
  }
  document.addEventListener("DOMContentLoaded", drawDiagrams);
  document.addEventListener("htmx:afterSettle", drawDiagrams);
})();
