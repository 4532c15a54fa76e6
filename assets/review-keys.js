/* Review queue keyboard shortcuts: a key clicks the matching button of the Review tab (when it is shown).
   Dash has no keydown events; a plain listener that clicks buttons keeps the app's strict CSP (no inline
   script). Keys typed into inputs, text areas and dropdowns are left alone. */
(function () {
  "use strict";
  var BUTTONS = {
    a: "review-accept-gold",
    p: "review-accept-all",
    s: "review-save",
    n: "review-next",
    ArrowRight: "review-next",
    b: "review-prev",
    ArrowLeft: "review-prev",
    t: ".review-take", // after another reviewer's save refused ours (pattern-matched ids: found by class)
    o: ".review-overwrite"
  };
  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey || event.repeat) {
      return;
    }
    var target = event.target;
    if (target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName))) {
      return;
    }
    var id = BUTTONS[event.key];
    var button = id && (id.charAt(0) === "." ? document.querySelector(id) : document.getElementById(id));
    if (!button || button.disabled) {
      return;
    }
    event.preventDefault();
    button.click();
  });
})();
