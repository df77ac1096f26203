/* HọcSố quiz: save answers as the learner chooses them and count down the time limit.

   Progressive enhancement of the plain quiz form (#quiz-form): without this script the form
   still posts every answer to /attempts/{id}/submit-form. With it, each change is saved at once
   with PATCH /attempts/{id}/answers (JSON, X-CSRF-Token header), so nothing is lost if the page
   is closed; the countdown (#quiz-timer, from the server's seconds left) warns at one minute
   and sends the form when it reaches zero. The server's clock decides: late answers are not
   accepted whatever this script does.

   Texts come from the form's data-msg-* attributes (rendered in the page's language). No
   inline script: the CSP allows scripts from 'self' only. */
(function () {
  "use strict";

  var form = document.getElementById("quiz-form");
  if (!form) {
    return;
  }
  var attemptId = form.getAttribute("data-attempt");
  var csrf = form.getAttribute("data-csrf") || "";
  var status = document.getElementById("quiz-save-status");
  var submitButton = document.getElementById("quiz-submit");
  var submitted = false;

  function msg(name) {
    return form.getAttribute("data-msg-" + name) || "";
  }

  function setStatus(name) {
    if (status) {
      status.textContent = msg(name);
      status.setAttribute("data-state", name);
    }
  }

  // --- Saving answers -----------------------------------------------------------------------

  var pending = {}; // question id -> answer not yet accepted by the server
  var timerId = null;
  var sending = false;
  var RETRY_MS = 15000;

  function answerOf(box) {
    if (box.getAttribute("data-kind") === "short") {
      var input = box.querySelector("input[type=text]");
      return input ? input.value : "";
    }
    var ids = [];
    var checked = box.querySelectorAll("input:checked");
    for (var i = 0; i < checked.length; i++) {
      ids.push(parseInt(checked[i].value, 10));
    }
    return ids;
  }

  function schedule(delay) {
    if (timerId !== null) {
      window.clearTimeout(timerId);
    }
    timerId = window.setTimeout(save, delay);
  }

  function save() {
    timerId = null;
    if (submitted || !window.fetch) {
      return;
    }
    if (sending) {
      schedule(500);
      return;
    }
    var batch = pending;
    var keys = Object.keys(batch);
    if (!keys.length) {
      return;
    }
    pending = {};
    sending = true;
    setStatus("saving");
    window
      .fetch("/attempts/" + encodeURIComponent(attemptId) + "/answers", {
        method: "PATCH",
        headers: {
          "Content-Type": "application/json",
          Accept: "application/json",
          "X-CSRF-Token": csrf
        },
        body: JSON.stringify({ answers: batch }),
        credentials: "same-origin",
        redirect: "error"
      })
      .then(
        function (response) {
          sending = false;
          if (response.ok) {
            setStatus("saved");
          } else if (response.status === 429 || response.status >= 500) {
            restore(batch);
            setStatus("offline");
            schedule(RETRY_MS);
          } else {
            // Refused (time over, already submitted): the form submission still carries them.
            setStatus("refused");
          }
        },
        function () {
          sending = false;
          restore(batch);
          setStatus("offline");
          schedule(RETRY_MS);
        }
      );
  }

  // Put back answers that were not saved, unless the learner changed them meanwhile.
  function restore(batch) {
    for (var id in batch) {
      if (
        Object.prototype.hasOwnProperty.call(batch, id) &&
        !Object.prototype.hasOwnProperty.call(pending, id)
      ) {
        pending[id] = batch[id];
      }
    }
  }

  function questionOf(target) {
    return target && target.closest ? target.closest("[data-question]") : null;
  }

  form.addEventListener("change", function (event) {
    var box = questionOf(event.target);
    if (box) {
      pending[box.getAttribute("data-question")] = answerOf(box);
      schedule(150);
    }
  });
  form.addEventListener("input", function (event) {
    var box = questionOf(event.target);
    if (box && box.getAttribute("data-kind") === "short") {
      pending[box.getAttribute("data-question")] = answerOf(box);
      schedule(1500); // typing: wait for a pause
    }
  });
  window.addEventListener("online", function () {
    if (Object.keys(pending).length) {
      schedule(0);
    }
  });

  form.addEventListener("submit", function (event) {
    if (submitted) {
      event.preventDefault(); // one submission only (a double tap would be a 409)
      return;
    }
    submitted = true;
    if (submitButton) {
      submitButton.disabled = true;
    }
    setStatus("sending");
  });

  // --- Countdown ----------------------------------------------------------------------------

  var timer = document.getElementById("quiz-timer");
  var timerValue = document.getElementById("quiz-timer-value");
  var timerAlert = document.getElementById("quiz-timer-alert");
  if (timer && timerValue) {
    var left = parseInt(timer.getAttribute("data-seconds-left"), 10);
    if (!isNaN(left)) {
      var end = Date.now() + left * 1000;
      var warned = left <= 0; // resumed with less than a minute left: warn at once
      var pad = function (n) {
        return (n < 10 ? "0" : "") + n;
      };
      var show = function (s) {
        var h = Math.floor(s / 3600);
        var m = Math.floor((s % 3600) / 60);
        var sec = s % 60;
        timerValue.textContent = h > 0 ? h + ":" + pad(m) + ":" + pad(sec) : m + ":" + pad(sec);
      };
      var tick = function () {
        var s = Math.max(0, Math.round((end - Date.now()) / 1000));
        show(s);
        if (s <= 60 && !warned) {
          warned = true;
          timer.classList.add("quiz-timer-warning");
          if (timerAlert) {
            timerAlert.textContent = msg("warning");
          }
        }
        if (s <= 0) {
          window.clearInterval(interval);
          timer.classList.add("quiz-timer-warning");
          if (timerAlert) {
            timerAlert.textContent = msg("timeup");
          }
          if (!submitted) {
            submitted = true;
            if (submitButton) {
              submitButton.disabled = true;
            }
            form.submit(); // no submit event: the guard above is not needed
          }
        }
      };
      var interval = window.setInterval(tick, 1000);
      tick();
    }
  }
})();
