/* Target rows of the negotiation forms: add a row, clear a row, total the points. No dependencies. */
(function () {
  "use strict";
  var box = document.getElementById("target-rows");
  if (!box) { return; }
  var expected = parseFloat(box.getAttribute("data-expected") || "0");
  var total = document.getElementById("points-total");

  function rows() { return box.querySelectorAll("fieldset.target-row"); }

  function recount() {
    var sum = 0;
    box.querySelectorAll("input[name$='-points']").forEach(function (input) {
      var value = parseFloat(input.value);
      if (!isNaN(value)) { sum += Math.round(value * 100); }
    });
    if (total) {
      total.textContent = (sum / 100).toFixed(2);
      total.className = Math.abs(sum - Math.round(expected * 100)) === 0 ? "ok" : "off";
    }
  }

  function clear(row) {
    row.querySelectorAll("input, textarea, select").forEach(function (el) {
      if (el.tagName === "SELECT") { el.selectedIndex = 0; } else { el.value = ""; }
    });
    row.querySelectorAll(".errors").forEach(function (el) { el.remove(); });
    row.querySelectorAll(".has-error").forEach(function (el) { el.classList.remove("has-error"); });
  }

  function addRow() {
    var all = rows();
    var last = all[all.length - 1];
    var next = all.length;
    var copy = last.cloneNode(true);
    var pattern = /^items-\d+-/;
    copy.querySelectorAll("[name], [id], label[for]").forEach(function (el) {
      ["name", "id", "for"].forEach(function (attr) {
        var value = el.getAttribute(attr);
        if (value && pattern.test(value)) { el.setAttribute(attr, value.replace(pattern, "items-" + next + "-")); }
      });
    });
    copy.setAttribute("data-index", String(next));
    copy.querySelector(".row-no").textContent = String(next + 1);
    clear(copy);
    last.parentNode.insertBefore(copy, last.nextSibling);
    wire(copy);
    var first = copy.querySelector("input[name$='-name']");
    if (first) { first.focus(); }
  }

  function wire(row) {
    var button = row.querySelector(".js-clear-row");
    if (button) {
      button.hidden = false;
      button.addEventListener("click", function () { clear(row); recount(); });
    }
  }

  rows().forEach(wire);
  var add = box.querySelector(".js-add-row");
  if (add) {
    add.hidden = false;
    add.addEventListener("click", addRow);
  }
  box.addEventListener("input", function (event) {
    if (event.target.name && /-points$/.test(event.target.name)) { recount(); }
  });
  recount();
}());
