/* HọcSố studio: upload a new version with a progress bar and a retry button.
   Progressive enhancement of the plain upload form (#upload-form): without this script the
   form still posts (the CSRF token is in its action URL) and the server redirects back.
   Every text shown comes from the form's data-msg-* attributes, rendered in the page's
   language. The page-wide banner (net.js, which leaves this form to this script) hears of a
   lost or working connection through a "hocso:net" {online} CustomEvent on document.
   An upload carries an Idempotency-Key (from net.js), the same on Retry and on a new click until
   the form changes, so a copy whose answer was lost is not stored twice (decision 12).
   No inline script: the CSP allows scripts from 'self' only. */
(function () {
  "use strict";

  var form = document.getElementById("upload-form");
  if (!form || !window.XMLHttpRequest || !window.FormData) {
    return;
  }
  var fileInput = form.querySelector('input[type="file"]');
  var submit = document.getElementById("upload-submit");
  var retry = document.getElementById("upload-retry");
  var box = document.getElementById("upload-progress-box");
  var bar = document.getElementById("upload-progress");
  var percentText = document.getElementById("upload-percent");
  var status = document.getElementById("upload-status");
  var lastData = null; // the FormData of the last attempt: Retry resends the same file
  var key = null; // this submission's Idempotency-Key, until the form changes or is answered
  var sending = false;
  var lastAnnounced = -1;

  function msg(name) {
    return form.getAttribute("data-msg-" + name) || "";
  }

  function setStatus(text, isError) {
    status.textContent = text;
    status.classList.toggle("upload-status-error", Boolean(isError));
  }

  function setPercent(value) {
    var pct = Math.max(0, Math.min(100, Math.floor(value)));
    bar.value = pct;
    bar.textContent = pct + "%";
    percentText.textContent = pct + "%";
    // Announce every 10 % (not every progress event) so screen readers are not flooded.
    var step = Math.floor(pct / 10) * 10;
    if (step !== lastAnnounced) {
      lastAnnounced = step;
      setStatus(msg("progress").replace("{percent}", String(pct)), false);
    }
  }

  function tell(online) {
    if (typeof window.CustomEvent === "function") {
      document.dispatchEvent(new window.CustomEvent("hocso:net", { detail: { online: online } }));
    }
  }

  function finish() {
    sending = false;
    submit.disabled = false;
    form.removeAttribute("aria-busy");
  }

  function fail(text) {
    finish();
    setStatus(text || msg("failed"), true);
    retry.hidden = false;
    retry.focus();
  }

  function errorDetail(xhr) {
    try {
      var body = JSON.parse(xhr.responseText);
      if (body && typeof body.detail === "string" && body.detail) {
        return body.detail;
      }
    } catch (e) {
      /* not JSON: fall back to the generic message */
    }
    return "";
  }

  function send(data) {
    if (sending) {
      return;
    }
    sending = true;
    lastData = data;
    lastAnnounced = -1;
    submit.disabled = true;
    retry.hidden = true;
    form.setAttribute("aria-busy", "true");
    box.hidden = false;
    setPercent(0);

    var xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.setRequestHeader("X-CSRF-Token", form.getAttribute("data-csrf") || "");
    xhr.setRequestHeader("Accept", "application/json");
    if (key) {
      xhr.setRequestHeader("Idempotency-Key", key);
    }
    xhr.upload.onprogress = function (event) {
      if (event.lengthComputable && event.total > 0) {
        setPercent((event.loaded / event.total) * 100);
      }
    };
    xhr.onload = function () {
      tell(true);
      if (xhr.status === 201) {
        var url = null;
        try {
          url = JSON.parse(xhr.responseText).url;
        } catch (e) {
          url = null;
        }
        setPercent(100);
        setStatus(msg("done"), false);
        // Only a path on this site (never another origin).
        if (typeof url === "string" && url.charAt(0) === "/" && url.charAt(1) !== "/") {
          window.location.assign(url);
        } else {
          window.location.reload();
        }
        return;
      }
      if (!(xhr.status === 409 && xhr.getResponseHeader("Retry-After")) && xhr.status < 502) {
        key = null; // answered: sending again is a new upload (unless the first is in progress)
      }
      fail(errorDetail(xhr));
    };
    xhr.onerror = function () {
      tell(false);
      fail(msg("network"));
    };
    xhr.onabort = function () {
      fail(msg("aborted"));
    };
    xhr.ontimeout = function () {
      fail(msg("network"));
    };
    xhr.send(data);
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (!fileInput || !fileInput.files || fileInput.files.length === 0) {
      setStatus(msg("choose"), true);
      if (fileInput) {
        fileInput.focus();
      }
      return;
    }
    if (!key && window.hocsoNet && window.hocsoNet.newKey) {
      key = window.hocsoNet.newKey();
    }
    send(new FormData(form));
  });

  function changed() {
    key = null;
  }
  form.addEventListener("input", changed);
  form.addEventListener("change", changed);

  retry.addEventListener("click", function () {
    if (lastData) {
      send(lastData);
    }
  });
})();
