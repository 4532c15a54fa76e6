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
    m: "review-model-error"
  };
  // Keys that click the first button of a class (pattern-matched ids have no fixed id).
  var FIRST_OF_CLASS = { f: "review-apply-finding", t: "review-take", o: "review-overwrite" };
  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey || event.repeat) {
      return;
    }
    var target = event.target;
    if (target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName))) {
      return;
    }
    var id = BUTTONS[event.key];
    var button = id ? document.getElementById(id) : null;
    if (!button && FIRST_OF_CLASS[event.key]) {
      button = document.querySelector("#review-root ." + FIRST_OF_CLASS[event.key]);
    }
    if (!button || button.disabled) {
      return;
    }
    event.preventDefault();
    button.click();
  });
})();
