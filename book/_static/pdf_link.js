// A link to the printed edition (`make pdf` copies it to learning-depth.pdf at the root of the
// HTML build) in the footer of every page. Not in the printed page itself.
(function () {
  "use strict";
  function add() {
    const footer = document.querySelector(".bd-footer-content__inner") || document.querySelector("footer");
    if (!footer || document.querySelector(".book-pdf-link")) return;
    const root = document.documentElement.dataset.content_root || "";
    const p = document.createElement("p");
    p.className = "book-pdf-link d-print-none";
    const a = document.createElement("a");
    a.href = root + "learning-depth.pdf";
    a.textContent = "The whole book as one PDF (A4, for reading offline or printing)";
    p.appendChild(a);
    footer.prepend(p);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", add);
  else add();
})();
