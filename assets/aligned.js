/* Aligned rows (Samples by loss, Random samples, Data checks, Find duplicates): draws each
   `[data-aligned]` element from its JSON (explainer/app/components/aligned.py) as word blocks that wrap
   into lines. As Dash components the cells of a page cost the renderer seconds of main thread; as
   plain DOM nodes, milliseconds. Every text is set with textContent: dataset text stays text. */
(function () {
  "use strict";
  var drawn = new WeakMap(); // element -> the JSON it shows

  function cell(text, className, title) {
    var node = document.createElement("div");
    node.className = className ? "aligned-cell " + className : "aligned-cell";
    node.textContent = text;
    if (title) {
      node.title = title;
    }
    return node;
  }

  function draw(element) {
    var raw = element.getAttribute("data-aligned");
    if (raw === null || drawn.get(element) === raw) {
      return;
    }
    drawn.set(element, raw);
    var data;
    try {
      data = JSON.parse(raw);
    } catch (error) {
      element.textContent = "(could not read the aligned rows)";
      return;
    }
    var headers = data.headers || [];
    var fragment = document.createDocumentFragment();
    var head = document.createElement("div");
    head.className = "aligned-block aligned-head";
    headers.forEach(function (name) {
      head.appendChild(cell(name, ""));
    });
    fragment.appendChild(head);
    (data.blocks || []).forEach(function (block) {
      var node = document.createElement("div");
      node.className = "aligned-block";
      node.appendChild(cell(block[0], "aligned-word " + (block[1] || ""), headers[0]));
      var columns = document.createElement("div");
      columns.className = "aligned-columns";
      (block[2] || []).forEach(function (cells) {
        var column = document.createElement("div");
        column.className = "aligned-column";
        cells.forEach(function (item, row) {
          column.appendChild(cell(item[0], item[1], headers[row + 1]));
        });
        columns.appendChild(column);
      });
      node.appendChild(columns);
      fragment.appendChild(node);
    });
    element.replaceChildren(fragment);
  }

  function drawWithin(node) {
    if (node.nodeType !== 1) {
      return;
    }
    if (node.hasAttribute("data-aligned")) {
      draw(node);
    }
    if (node.firstElementChild) {
      node.querySelectorAll("[data-aligned]").forEach(draw);
    }
  }

  new MutationObserver(function (mutations) {
    mutations.forEach(function (mutation) {
      if (mutation.type === "attributes") {
        draw(mutation.target);
      } else if (!(mutation.target.closest && mutation.target.closest("[data-aligned]"))) {
        mutation.addedNodes.forEach(drawWithin);
      }
    });
  }).observe(document.documentElement, {
    childList: true,
    subtree: true,
    attributes: true,
    attributeFilter: ["data-aligned"]
  });
  document.addEventListener("DOMContentLoaded", function () {
    drawWithin(document.body);
  });
})();
