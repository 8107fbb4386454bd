// engage-bridge console: the Live page's stream (Server-Sent Events), its
// Pause/Resume, and "select all" on the dead letters. No inline script:
// the Content-Security-Policy allows scripts from the console only.
(function () {
  "use strict";

  function selectAll() {
    var all = document.getElementById("select-all");
    if (!all || all.dataset.bound) return;
    all.dataset.bound = "1";
    all.addEventListener("change", function () {
      document.querySelectorAll('input[type=checkbox][name=id]').forEach(function (box) {
        box.checked = all.checked;
      });
    });
  }

  var source = null;
  function live() {
    var panel = document.getElementById("live");
    if (!panel) {
      if (source) { source.close(); source = null; }
      return;
    }
    if (panel.dataset.bound) return;
    panel.dataset.bound = "1";
    panel.hidden = false;
    var rows = document.getElementById("live-rows");
    var status = document.getElementById("live-status");
    var skipped = document.getElementById("live-skipped");
    var pause = document.getElementById("live-pause");
    var resume = document.getElementById("live-resume");
    var paused = false, held = 0, notShown = 0, first = true;

    function cell(tr, text) {
      var td = document.createElement("td");
      td.textContent = text == null ? "" : String(text);
      tr.appendChild(td);
    }
    function show() {
      var parts = [];
      if (notShown) parts.push(notShown + " not shown");
      if (held) parts.push(held + " arrived while paused");
      skipped.textContent = parts.join(" · ");
    }
    pause.addEventListener("click", function () {
      paused = true; pause.hidden = true; resume.hidden = false; status.textContent = "Paused";
    });
    resume.addEventListener("click", function () {
      paused = false; pause.hidden = false; resume.hidden = true; status.textContent = "Live"; held = 0; show();
    });

    if (source) source.close();
    source = new EventSource(panel.dataset.source);
    source.addEventListener("open", function () { if (!paused) status.textContent = "Live"; });
    source.addEventListener("error", function () { status.textContent = "Reconnecting…"; });
    source.addEventListener("row", function (message) {
      if (paused) { held += 1; show(); return; }
      if (first) { rows.textContent = ""; first = false; }
      var e = JSON.parse(message.data);
      var tr = document.createElement("tr");
      cell(tr, e.time.replace("T", " ").slice(0, 19));
      cell(tr, e.code && e.code !== e.event ? e.event + " (" + e.code + ")" : e.event);
      cell(tr, e.uid);
      cell(tr, e.source);
      cell(tr, (e.streams || []).join(", ") || "none");
      rows.insertBefore(tr, rows.firstChild);
      while (rows.children.length > 200) rows.removeChild(rows.lastChild);
    });
    source.addEventListener("skipped", function (message) {
      notShown += parseInt(message.data, 10) || 0; show();
    });
  }

  function init() { selectAll(); live(); }
  document.addEventListener("DOMContentLoaded", init);
  // htmx swaps the body on boosted navigation: bind again.
  document.addEventListener("htmx:afterSettle", init);
})();
