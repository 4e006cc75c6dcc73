// Live progress of running sync runs: polls each run's small JSON endpoint every 2 seconds and reloads
// the page once the run has ended, so the summary and details show its final state.
(function () {
  "use strict";
  var INTERVAL = 2000;

  function show(box, data) {
    var bar = box.querySelector("progress");
    if (bar) {
      bar.max = Math.max(data.total, 1);
      bar.value = data.done;
    }
    box.querySelectorAll("[data-field]").forEach(function (field) {
      var value = data[field.getAttribute("data-field")];
      if (value !== undefined) field.textContent = value;
    });
  }

  function watch(box) {
    var url = box.getAttribute("data-progress-url");
    function poll() {
      fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (response) {
          if (!response.ok) throw new Error("progress answered " + response.status);
          return response.json();
        })
        .then(function (data) {
          show(box, data);
          if (data.finished) {
            window.location.reload();
          } else {
            window.setTimeout(poll, INTERVAL);
          }
        })
        .catch(function () {
          // A dropped request is retried on the next tick; the page stays usable meanwhile.
          window.setTimeout(poll, INTERVAL * 2);
        });
    }
    window.setTimeout(poll, INTERVAL);
  }

  document.querySelectorAll("[data-progress-url]").forEach(watch);
})();
