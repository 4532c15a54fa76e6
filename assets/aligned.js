/* Aligned example tables (explainer/app/components/aligned.py): Dash sends each table as one element
   whose data-aligned attribute holds its rows as JSON, [[header, [[text, class, colSpan], ...]], ...];
   this builds the <table> with textContent, so dataset text is never read as HTML. Thousands of Dash
   components per page (one per cell) kept the browser's main thread busy for a minute on a loaded
   machine; plain DOM nodes built once take milliseconds. */
(function () {
  "use strict";
  var ATTRIBUTE = "data-aligned";

  function build(holder) {
    var source = holder.getAttribute(ATTRIBUTE);
    if (source === null || holder.alignedSource === source) {
      return;
    }
    holder.alignedSource = source;
    var rows;
    try {
      rows = JSON.parse(source);
    } catch (error) {
      holder.textContent = "This example could not be shown.";
      return;
    }
    var table = document.createElement("table");
    table.className = holder.getAttribute("data-table-class") || "";
    var body = document.createElement("tbody");
    rows.forEach(function (row) {
      var line = document.createElement("tr");
      line.className = "aligned-" + row[0];
      var header = document.createElement("th");
      header.className = "text-muted small";
      header.textContent = row[0];
      line.appendChild(header);
      row[1].forEach(function (cell) {
        var td = document.createElement("td");
        td.textContent = cell[0];
        if (cell[1]) {
          td.className = cell[1];
        }
        if (cell[2]) {
          td.colSpan = cell[2];
        }
        line.appendChild(td);
      });
      body.appendChild(line);
    });
    table.appendChild(body);
    holder.replaceChildren(table);
  }

  function buildWithin(node) {
    if (node.nodeType !== 1) {
      return;
    }
    if (node.hasAttribute(ATTRIBUTE)) {
      build(node);
    }
    node.querySelectorAll("[" + ATTRIBUTE + "]").forEach(build);
  }

  function start() {
    buildWithin(document.body);
    new MutationObserver(function (mutations) {
      mutations.forEach(function (mutation) {
        if (mutation.type === "attributes") {
          build(mutation.target);
        } else {
          mutation.addedNodes.forEach(buildWithin);
        }
      });
    }).observe(document.body, { childList: true, subtree: true, attributes: true, attributeFilter: [ATTRIBUTE] });
  }

  if (document.body) {
    start();
  } else {
    document.addEventListener("DOMContentLoaded", start);
  }
})();
