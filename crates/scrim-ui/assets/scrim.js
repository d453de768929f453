// Scrim's only script besides htmx. No inline handlers exist (the Content-Security-Policy
// forbids them), so behaviour hangs off data attributes here.
(function () {
  "use strict";
  // A select or checkbox with data-autosubmit submits its form when changed (time ranges).
  document.addEventListener("change", function (e) {
    var t = e.target;
    if (t && t.matches && t.matches("[data-autosubmit]") && t.form) {
      t.form.requestSubmit();
    }
  });
  // A button with data-copy copies the text of the element it names (a new API key).
  document.addEventListener("click", function (e) {
    var b = e.target && e.target.closest ? e.target.closest("[data-copy]") : null;
    if (!b) return;
    var source = document.getElementById(b.getAttribute("data-copy"));
    if (source && navigator.clipboard) {
      navigator.clipboard.writeText(source.textContent.trim()).then(function () {
        b.textContent = "Copied";
      });
    }
  });
  // "/" focuses the page's search box, as in most consoles; Escape leaves it.
  document.addEventListener("keydown", function (e) {
    var typing = /^(INPUT|TEXTAREA|SELECT)$/.test((e.target && e.target.tagName) || "");
    if (e.key === "/" && !typing && !e.ctrlKey && !e.metaKey && !e.altKey) {
      var box = document.querySelector("[data-search]");
      if (box) {
        e.preventDefault();
        box.focus();
      }
    } else if (e.key === "Escape" && typing && e.target.blur) {
      e.target.blur();
    }
  });
})();
