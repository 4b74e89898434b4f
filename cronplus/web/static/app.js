/* cronplus web: the one script. Every page works without it.

   On the page of a running run (`#run[data-follow="1"]`) it follows the shown
   attempt: it asks the raw log for the bytes after those shown (`?offset=`, the
   server's `X-Next-Offset` saying where to go on) and `/api/runs/ID` for the status,
   once a second, until the run is over. Output is added as text (never as HTML), and
   `pre#log` keeps the last 1,000 lines as the server shows them. */
"use strict";

(function () {
  var POLL_MS = 1000;
  var TAIL_LINES = 1000;
  var WORDS = { no_run: "no run", not_yet_due: "not yet due" };

  var run = document.getElementById("run");
  if (!run || run.getAttribute("data-follow") !== "1") return;
  var log = document.getElementById("log");
  var raw = document.getElementById("log-raw");
  var offset = log ? Number(log.getAttribute("data-offset")) || 0 : 0;
  var shown = Number(run.getAttribute("data-attempts")) || 0;

  function get(url) {
    return fetch(url, { cache: "no-store", credentials: "same-origin" }).then(function (r) {
      if (!r.ok) throw new Error(url + ": " + r.status);
      return r;
    });
  }

  function keepTail(text) {
    /* The last TAIL_LINES lines: a final newline ends the last line. */
    var end = text.length - (text.charAt(text.length - 1) === "\n" ? 1 : 0);
    var pos = end;
    for (var i = 0; i < TAIL_LINES; i++) {
      pos = text.lastIndexOf("\n", pos - 1);
      if (pos < 0) return text;
    }
    return text.slice(pos + 1);
  }

  function readLog() {
    if (!log || !raw) return Promise.resolve();
    return get(raw.getAttribute("href") + "?offset=" + offset).then(function (r) {
      var next = Number(r.headers.get("X-Next-Offset"));
      return r.text().then(function (text) {
        if (text) {
          var atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 4;
          log.textContent = keepTail(log.textContent + text);
          if (atBottom) log.scrollTop = log.scrollHeight;
        }
        if (!isNaN(next)) offset = next;
      });
    });
  }

  function word(data) {
    var w = WORDS[data.status] || data.status.replace(/_/g, " ");
    if (data.orphaned) return w + " (its process is gone)";
    return data.late ? w + " (late)" : w;
  }

  function localTime(isoText) {
    /* An ISO time in the job's zone, as the page writes it: "2026-12-05 03:00:01". */
    return isoText ? isoText.slice(0, 19).replace("T", " ") : "-";
  }

  function showStatus(data) {
    run.setAttribute("data-status", data.status);
    var badge = document.querySelector("#run-status .status");
    if (badge) {
      badge.setAttribute("data-status", data.status);
      var g = badge.querySelector(".glyph");
      if (g) g.className = "glyph g-" + data.status;
      var w = badge.querySelector(".word");
      if (w) w.textContent = word(data);
    }
    var a = data.attempt_details[shown - 1];
    var row = document.querySelector('#attempts tr[data-attempt="' + shown + '"]');
    if (a && row) {
      row.setAttribute("data-exit-code", a.exit_code === null ? "" : String(a.exit_code));
      if (a.signal) row.setAttribute("data-signal", a.signal);
      setText(row, ".exit", a.exit_code === null ? "-" : String(a.exit_code));
      setText(row, ".signal", a.signal || "-");
      setText(row, ".finished", localTime(a.finished_at));
    }
  }

  function setText(row, selector, text) {
    var cell = row.querySelector(selector);
    if (cell) cell.textContent = text;
  }

  function final(status) {
    return status !== "queued" && status !== "running";
  }

  function poll() {
    readLog()
      .then(function () {
        return get(run.getAttribute("data-api"));
      })
      .then(function (r) {
        return r.json();
      })
      .then(function (data) {
        if (data.attempts !== shown) {
          /* A retry began (or the first attempt): its page shows its own log. */
          window.location.reload();
          return;
        }
        if (final(data.status) && !log) {
          /* Over before its log could be shown here: the page shows it now. */
          window.location.reload();
          return;
        }
        if (final(data.status)) {
          /* The last bytes were written before the status: read them once more. */
          return readLog().then(function () {
            showStatus(data);
            run.setAttribute("data-follow", "done");
          });
        }
        showStatus(data);
        window.setTimeout(poll, POLL_MS);
      })
      .catch(function () {
        window.setTimeout(poll, POLL_MS * 3);
      });
  }

  window.setTimeout(poll, POLL_MS);
})();
