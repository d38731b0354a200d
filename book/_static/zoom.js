// Figures drawn wider than the text column can be enlarged: an image shown at less than
// ZOOM_BELOW of its own width gets a zoom cursor and opens, on click or Enter, full size in
// an overlay that scrolls (Escape, a click or Enter closes it).
(function () {
  "use strict";
  const ZOOM_BELOW = 0.9;

  function open(img) {
    const overlay = document.createElement("div");
    overlay.className = "book-zoom-overlay";
    overlay.setAttribute("role", "dialog");
    overlay.setAttribute("aria-label", (img.alt || "figure") + " (enlarged; Escape closes)");
    overlay.tabIndex = -1;
    const big = img.cloneNode();
    big.removeAttribute("width");
    big.removeAttribute("height");
    big.className = "book-zoom-image";
    overlay.appendChild(big);
    const close = () => { overlay.remove(); document.removeEventListener("keydown", onKey); img.focus(); };
    const onKey = e => { if (e.key === "Escape" || e.key === "Enter") { e.preventDefault(); close(); } };
    overlay.addEventListener("click", close);
    document.addEventListener("keydown", onKey);
    document.body.appendChild(overlay);
    overlay.focus();
  }

  function mark(img) {
    if (!img.naturalWidth || img.dataset.bookZoom) return;
    if (img.getBoundingClientRect().width >= ZOOM_BELOW * img.naturalWidth) return;
    img.dataset.bookZoom = "1";
    img.classList.add("book-zoomable");
    img.tabIndex = 0;
    img.setAttribute("role", "button");
    img.title = "Click to enlarge";
    img.addEventListener("click", () => open(img));
    img.addEventListener("keydown", e => { if (e.key === "Enter") { e.preventDefault(); open(img); } });
  }

  function all() {
    document.querySelectorAll(".cell_output img, figure img").forEach(img => {
      if (img.complete) mark(img); else img.addEventListener("load", () => mark(img), {once: true});
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", all);
  else all();
  window.addEventListener("resize", all);
})();
