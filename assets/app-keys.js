/* Ctrl+Enter (Cmd+Enter on a Mac) in Probing's text clicks Probe. Dash has no keydown events; a plain
   listener that clicks the button keeps the app's strict CSP (no inline script). */
(function () {
  "use strict";
  var SUBMITS = {"probing-text": "probing-run"};
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Enter" || !(event.ctrlKey || event.metaKey) || event.repeat) {
      return;
    }
    var id = event.target && SUBMITS[event.target.id];
    var button = id && document.getElementById(id);
    if (!button || button.disabled) {
      return;
    }
    event.preventDefault();
    button.click();
  });
})();
