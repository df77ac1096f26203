/* HọcSố on a weak link (every page, defer). Texts: data-msg-* of #net-banner, in the page's
   language. No inline script: the CSP allows scripts from 'self' only.
   - Banner #net-banner (polite live region, empty when all is well): online/offline events and
     every request failing on the network (navigator.onLine lies on captive or dead links; then
     a tiny request every 15 s). Page scripts tell it "hocso:net" {online} and "hocso:queue"
     {queued, sent, failed} (player.js) as CustomEvents on document.
   - <form method="post">: sent with XMLHttpRequest. A network failure keeps the page and its
     values, says so by the button. After a redirect the browser goes to the final address (with
     the flash messages the followed request consumed, via sessionStorage); another answer
     replaces the body (its scripts run again; Back reloads the form page). Text fields are saved
     to sessionStorage while typing (not passwords, hidden fields or files) and restored until a
     submission succeeds. data-net="off" opts out; a form whose own script calls preventDefault
     (studio.js, player.js) is left to it. A chosen file adds a <progress> and, on failure, a
     Retry that resends the same FormData. Each submission carries an Idempotency-Key header,
     the same when it is sent again unchanged (Retry, or the button after a failure), so the
     server answers a copy whose first answer was lost with that answer (decision 12); editing
     the form, another button or an answer from the server starts a new key.
   - a[data-net-export]: fetched as a blob so a failure can offer Retry; an error page, the
     sign-in page or a file over 50 MB goes to the browser instead. */
(function () {
  "use strict";

  if (window.hocsoNet || !window.XMLHttpRequest || !window.FormData || !window.JSON) {
    return;
  }
  // studio.js takes its upload's Idempotency-Key from here.
  window.hocsoNet = { newKey: newKey };

  var DRAFT = "hocso-draft:";
  var FLASH = "hocso-flash";
  var PROBE_MS = 15000;
  var MAX_BLOB = 50 * 1024 * 1024;
  var SKIP = /^(password|hidden|file|submit|button|reset|image)$/;
  var each = function (list, fn) {
    Array.prototype.forEach.call(list, fn);
  };

  // --- Texts and storage --------------------------------------------------------------------

  function msg(name, n) {
    var banner = document.getElementById("net-banner");
    if (n !== undefined) {
      name += n === 1 ? "-one" : "-other";
    }
    var text = (banner && banner.getAttribute("data-msg-" + name)) || "";
    return n === undefined ? text : text.replace("{n}", String(n));
  }

  var store = (function () {
    try {
      var s = window.sessionStorage;
      s.setItem("hocso-probe", "1");
      s.removeItem("hocso-probe");
      return s;
    } catch (e) {
      return null; // privacy mode: no drafts, the rest works
    }
  })();

  function get(key) {
    try {
      return JSON.parse((store && store.getItem(key)) || "null");
    } catch (e) {
      return null;
    }
  }

  function put(key, value) {
    try {
      if (value) {
        store.setItem(key, JSON.stringify(value));
      } else {
        store.removeItem(key);
      }
    } catch (e) {
      /* no storage or quota: nothing kept, nothing lost from the page itself */
    }
  }

  // Text set on an element the next moment, so a live region just created is announced.
  function say(el, text) {
    window.setTimeout(function () {
      el.textContent = text;
    }, 50);
  }

  // --- Banner -------------------------------------------------------------------------------

  var offline = false;
  var line = { conn: "", connState: "", queue: "", queueState: "" };
  var timers = {};
  var probe = null;

  function render() {
    var banner = document.getElementById("net-banner");
    if (banner) {
      var text = [line.conn, line.queue].filter(Boolean).join(" ");
      if (banner.textContent !== text) {
        banner.textContent = text;
      }
      banner.setAttribute("data-state", text ? line.conn ? line.connState : line.queueState : "");
    }
  }

  // Clears a line of the banner after a while (or cancels that when called without fn).
  function later(name, fn, ms) {
    window.clearTimeout(timers[name]);
    timers[name] = fn
      ? window.setTimeout(function () {
          timers[name] = null;
          fn();
        }, ms)
      : null;
  }

  function setOffline(value) {
    if (value === offline) {
      return;
    }
    offline = value;
    line.conn = msg(value ? "offline" : "online");
    line.connState = value ? "offline" : "online";
    if (value) {
      later("conn"); // stays until the connection is back
    } else {
      later("conn", function () {
        line.conn = "";
        render();
      }, 8000);
    }
    window.clearInterval(probe);
    probe = value ? window.setInterval(check, PROBE_MS) : null;
    render();
  }

  // Failed requests put the banner up; this says when the server can be reached again.
  function check() {
    if (navigator.onLine === false) {
      return; // the "online" event will come
    }
    var xhr = new XMLHttpRequest();
    xhr.open("HEAD", "/static/favicon.svg?online=" + Date.now());
    xhr.onload = function () {
      setOffline(false);
    };
    xhr.send();
  }

  window.addEventListener("offline", function () {
    setOffline(true);
  });
  window.addEventListener("online", function () {
    setOffline(false);
  });
  document.addEventListener("hocso:net", function (event) {
    if (event.detail) {
      setOffline(!event.detail.online);
    }
  });
  document.addEventListener("hocso:queue", function (event) {
    var d = event.detail || {};
    if (d.sent > 0) {
      line.queue = msg("sent", d.sent);
      line.queueState = "online";
      later("queue", function () {
        line.queue = "";
        render();
      }, 10000);
    } else if (d.queued > 0 && d.failed) {
      line.queue = msg("queued", d.queued);
      line.queueState = "offline";
      later("queue");
    } else if (!d.queued) {
      line.queue = timers.queue ? line.queue : "";
    }
    render();
  });

  // --- Drafts -------------------------------------------------------------------------------

  function isPost(form) {
    return (
      form &&
      form.nodeName === "FORM" &&
      (form.getAttribute("method") || "").toLowerCase() === "post" &&
      form.getAttribute("data-net") !== "off"
    );
  }

  function pathOf(url) {
    return (url || "").split(/[?#]/)[0];
  }

  function draftKey(form) {
    var action = pathOf(form.getAttribute("action"));
    var same = 0;
    for (var i = 0; i < document.forms.length && document.forms[i] !== form; i++) {
      same += pathOf(document.forms[i].getAttribute("action")) === action ? 1 : 0;
    }
    return DRAFT + location.pathname + "|" + (form.id || action + "|" + same);
  }

  // Calls fn(element, key) for every field worth keeping; the key survives a new rendering.
  function fields(form, fn) {
    var seen = {};
    each(form.elements, function (el) {
      if (
        el.name &&
        !SKIP.test(el.type) &&
        /^(INPUT|TEXTAREA|SELECT)$/.test(el.nodeName) &&
        el.getAttribute("data-net-draft") !== "off"
      ) {
        seen[el.name] = (seen[el.name] || 0) + 1;
        fn(el, el.name + "#" + seen[el.name]);
      }
    });
  }

  // [value now, value the page was rendered with]
  function read(el) {
    if (el.type === "checkbox" || el.type === "radio") {
      return [el.checked, el.defaultChecked];
    }
    if (el.nodeName === "SELECT") {
      var now = [];
      var initial = [];
      each(el.options, function (o) {
        if (o.selected) {
          now.push(o.value);
        }
        if (o.defaultSelected) {
          initial.push(o.value);
        }
      });
      if (!initial.length && !el.multiple && el.options.length) {
        initial.push(el.options[0].value); // what a select without "selected" shows
      }
      return [now.join("\n"), initial.join("\n")];
    }
    return [el.value, el.defaultValue];
  }

  function write(el, value) {
    if (el.type === "checkbox" || el.type === "radio") {
      el.checked = value;
    } else if (el.nodeName === "SELECT") {
      var chosen = String(value).split("\n");
      each(el.options, function (o) {
        o.selected = chosen.indexOf(o.value) >= 0;
      });
    } else {
      el.value = value;
    }
  }

  function saveDraft(form) {
    var values = null;
    fields(form, function (el, key) {
      var v = read(el);
      if (v[0] !== v[1]) {
        values = values || {};
        values[key] = v;
      }
    });
    put(draftKey(form), values);
  }

  // Only where the page still shows what it showed when the draft was typed: a field the
  // server has changed since, or the browser has already restored, is left alone.
  function restoreDraft(form) {
    var values = get(draftKey(form));
    var restored = false;
    if (values) {
      fields(form, function (el, key) {
        var saved = values[key];
        var v = read(el);
        if (saved && saved[1] === v[1] && v[0] === v[1] && saved[0] !== v[0]) {
          write(el, saved[0]);
          restored = true;
        }
      });
    }
    if (restored) {
      var note = document.createElement("p");
      note.className = "net-note";
      note.setAttribute("role", "status");
      form.insertBefore(note, form.firstChild);
      say(note, msg("restored"));
    }
  }

  function onEdit(event) {
    var form = event.target && event.target.form;
    if (isPost(form)) {
      form.hocsoKey = null; // changed values: a new submission
      saveDraft(form);
    }
  }
  document.addEventListener("input", onEdit);
  document.addEventListener("change", onEdit);

  // --- Sending forms ------------------------------------------------------------------------

  // A UUID for the Idempotency-Key header. randomUUID needs a secure context (HTTPS or
  // localhost): a school server on plain HTTP gets one from getRandomValues.
  function newKey() {
    var c = window.crypto;
    if (c && c.randomUUID) {
      return c.randomUUID();
    }
    var b = new Uint8Array(16);
    if (c && c.getRandomValues) {
      c.getRandomValues(b);
    } else {
      for (var i = 0; i < 16; i++) {
        b[i] = Math.floor(Math.random() * 256);
      }
    }
    b[6] = (b[6] & 0x0f) | 0x40; // version 4
    b[8] = (b[8] & 0x3f) | 0x80; // variant 10
    var hex = Array.prototype.map
      .call(b, function (x) {
        return (x + 256).toString(16).slice(1);
      })
      .join("");
    return hex.replace(/^(.{8})(.{4})(.{4})(.{4})/, "$1-$2-$3-$4-");
  }

  // The same key for the same submission (form, address, button) until the form is edited or
  // the server answers.
  function keyFor(form, url, submitter) {
    var button = submitter && submitter.name ? submitter.name + "=" + submitter.value : "";
    var what = url + "\n" + button;
    if (!form.hocsoKey || form.hocsoKeyFor !== what) {
      form.hocsoKey = newKey();
      form.hocsoKeyFor = what;
    }
    return form.hocsoKey;
  }

  function busy(form, on) {
    if (on) {
      form.setAttribute("aria-busy", "true");
    } else {
      form.removeAttribute("aria-busy");
    }
    each(form.querySelectorAll("button, input[type=submit]"), function (b) {
      if (on && !b.disabled) {
        b.disabled = true;
        b.setAttribute("data-net-busy", "");
      } else if (!on && b.hasAttribute("data-net-busy")) {
        b.disabled = false;
        b.removeAttribute("data-net-busy");
      }
    });
  }

  // Where messages and the Retry button go: after the button row (or the lone button).
  function after(form) {
    var actions = form.querySelector(".form-actions");
    var buttons = form.querySelectorAll("button[type=submit], button:not([type]), input[type=submit]");
    return actions || buttons[buttons.length - 1] || form.lastChild;
  }

  function clearError(form) {
    each(form.querySelectorAll(".net-error, .net-note"), function (el) {
      el.parentNode.removeChild(el);
    });
  }

  function fail(form, req, text) {
    busy(form, false);
    clearError(form);
    var p = document.createElement("p");
    p.className = "net-error";
    p.setAttribute("role", "alert");
    p.textContent = text;
    var anchor = after(form);
    anchor.parentNode.insertBefore(p, anchor.nextSibling);
    var box = req.upload && form.querySelector(".net-upload");
    var retry = box && form.querySelector(".net-retry");
    if (box) {
      box.lastChild.textContent = ""; // the progress bar stays: it shows how far it got
    }
    if (retry) {
      retry.hidden = false;
      retry.focus();
    } else if (req.submitter && req.submitter.focus) {
      req.submitter.focus();
    }
  }

  function uploadUi(form) {
    var box = form.querySelector(".net-upload");
    if (box) {
      return box;
    }
    var id = "net-progress-" + Math.random().toString(36).slice(2);
    box = document.createElement("div");
    box.className = "net-upload";
    box.hidden = true;
    var label = document.createElement("label");
    label.htmlFor = id;
    label.textContent = msg("upload-label");
    var bar = document.createElement("progress");
    bar.id = id;
    bar.max = 100;
    bar.value = 0;
    var status = document.createElement("p");
    status.className = "net-status";
    status.setAttribute("role", "status");
    box.appendChild(label);
    box.appendChild(bar);
    box.appendChild(status);
    var anchor = after(form);
    anchor.parentNode.insertBefore(box, anchor);
    var retry = document.createElement("button");
    retry.type = "button";
    retry.className = "btn btn-secondary net-retry";
    retry.textContent = msg("retry");
    retry.hidden = true;
    retry.addEventListener("click", function () {
      if (form.hocsoLast) {
        send(form, form.hocsoLast);
      }
    });
    var place = form.querySelector(".form-actions") || anchor.parentNode;
    place.appendChild(retry);
    return box;
  }

  function progress(box, percent, text) {
    var bar = box.querySelector("progress");
    var pct = Math.max(0, Math.min(100, Math.floor(percent)));
    var step = Math.floor(pct / 10);
    bar.value = pct;
    bar.textContent = pct + "%";
    bar.setAttribute("aria-valuetext", pct + "%");
    // Every 10 % (not every progress event), so screen readers are not flooded.
    if (text || step !== box.hocsoStep) {
      box.hocsoStep = step;
      box.lastChild.textContent = text || msg("uploading").replace("{percent}", String(pct));
    }
  }

  function send(form, req) {
    if (form.getAttribute("aria-busy") === "true") {
      return;
    }
    form.hocsoLast = req;
    clearError(form);
    busy(form, true);
    var box = req.upload ? uploadUi(form) : null;
    var xhr = new XMLHttpRequest();
    xhr.open("POST", req.url);
    xhr.setRequestHeader("Accept", "text/html,application/xhtml+xml");
    if (req.key) {
      xhr.setRequestHeader("Idempotency-Key", req.key);
    }
    if (box) {
      box.hidden = false;
      box.hocsoStep = -1;
      form.querySelector(".net-retry").hidden = true;
      progress(box, 0);
      xhr.upload.onprogress = function (event) {
        if (event.lengthComputable && event.total > 0) {
          progress(box, (event.loaded / event.total) * 100);
        }
      };
      xhr.upload.onload = function () {
        progress(box, 100, msg("uploaded"));
      };
    }
    xhr.onload = function () {
      answered(form, req, xhr);
    };
    xhr.onerror = xhr.ontimeout = function () {
      setOffline(true);
      fail(form, req, msg(box ? "upload-failed" : "failed"));
    };
    xhr.onabort = function () {
      fail(form, req, msg(box ? "upload-failed" : "failed")); // the page is being left
    };
    xhr.send(req.body);
  }

  function answered(form, req, xhr) {
    setOffline(false); // the server answered
    var status = xhr.status;
    var url = xhr.responseURL || req.url;
    var html = /^text\/html/i.test(xhr.getResponseHeader("Content-Type") || "");
    // 409 with Retry-After: the first copy of this submission is still being processed.
    var pending = status === 409 && xhr.getResponseHeader("Retry-After");
    if (status === 502 || status === 503 || status === 504 || pending || !html) {
      // Overloaded, or not known to be done: keep the page, and the key for the next try.
      fail(form, req, msg(status >= 500 || pending ? "busy" : "failed"));
      return;
    }
    form.hocsoKey = null; // answered: sending again is a new submission
    var doc = new DOMParser().parseFromString(xhr.responseText, "text/html");
    // Sent, unless it ended on the sign-in page or with an error message: the draft has served.
    if (status < 400 && new URL(url).pathname !== "/login" && !doc.querySelector(".flash-error")) {
      put(draftKey(form), null);
    }
    if (url !== req.url && status < 400) {
      carryFlashes(doc, url);
      location.assign(url);
    } else {
      replacePage(doc);
    }
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (pathOf(form.getAttribute("action")) === "/logout") {
      forgetDrafts(); // a shared computer: the next person must not find them
    }
    var submitter = event.submitter || null;
    var attr = function (name) {
      return (submitter && submitter.getAttribute("form" + name)) || form.getAttribute(name) || "";
    };
    if (event.defaultPrevented && isPost(form)) {
      put(draftKey(form), null); // its own script sends it: a stale draft must not come back
      return;
    }
    if (
      !isPost(form) ||
      (submitter && submitter.hasAttribute("formmethod") && attr("method").toLowerCase() !== "post") ||
      (attr("target") && attr("target") !== "_self")
    ) {
      return;
    }
    event.preventDefault();
    if (form.getAttribute("aria-busy") === "true") {
      return; // a second tap while sending
    }
    var data;
    try {
      data = new FormData(form, submitter);
    } catch (e) {
      data = new FormData(form);
      if (submitter && submitter.name) {
        data.append(submitter.name, submitter.value);
      }
    }
    var files = false;
    each(form.querySelectorAll("input[type=file]"), function (input) {
      files = files || Boolean(input.files && input.files.length);
    });
    var multipart = attr("enctype").toLowerCase() === "multipart/form-data";
    var url = submitter && submitter.hasAttribute("formaction") ? submitter.formAction : form.action;
    url = new URL(url, location.href).href.split("#")[0];
    saveDraft(form);
    send(form, {
      url: url,
      key: keyFor(form, url, submitter),
      body: multipart || !window.URLSearchParams ? data : new URLSearchParams(data),
      upload: files && multipart,
      submitter: submitter
    });
  });

  function forgetDrafts() {
    if (store) {
      for (var i = store.length - 1; i >= 0; i--) {
        var key = store.key(i);
        if (key && key.indexOf(DRAFT) === 0) {
          put(key, null);
        }
      }
    }
  }

  // --- Showing the answer -------------------------------------------------------------------

  // The request that followed the redirect has shown (and so cleared) the flash messages.
  function carryFlashes(doc, url) {
    var box = doc.querySelector(".flashes");
    if (box && box.children.length) {
      put(FLASH, { url: url, html: box.innerHTML });
    }
  }

  function showCarriedFlashes() {
    var saved = get(FLASH);
    put(FLASH, null);
    var box = document.querySelector(".flashes");
    if (saved && box && !box.children.length && saved.url === location.href.split("#")[0]) {
      box.innerHTML = saved.html; // our own server's markup, escaped when it was rendered
    }
  }

  function replacePage(doc) {
    document.title = doc.title;
    document.documentElement.lang = doc.documentElement.lang || document.documentElement.lang;
    try {
      // Back from the answer must show the form page again, not this document.
      history.replaceState({ hocsoNet: "before" }, "", location.href);
      history.pushState({ hocsoNet: "after" }, "", location.href);
    } catch (e) {
      /* history unavailable (sandboxed): the page is still shown */
    }
    var body = document.adoptNode(doc.body);
    document.documentElement.replaceChild(body, document.body);
    // Scripts from DOMParser do not run: the page's own scripts are inserted again.
    each(body.querySelectorAll("script[src]"), function (old) {
      var script = document.createElement("script");
      script.src = old.src;
      script.async = false;
      old.parentNode.replaceChild(script, old);
    });
    window.scrollTo(0, 0);
    start();
    var main = document.getElementById("main");
    if (main) {
      main.focus();
    }
  }

  window.addEventListener("popstate", function (event) {
    if (event.state && event.state.hocsoNet === "before") {
      location.reload();
    }
  });

  // --- Exports ------------------------------------------------------------------------------

  function exportUi(link) {
    var holder = link.parentNode;
    var status = holder.querySelector(".net-export-status");
    if (!status) {
      status = document.createElement("span");
      status.className = "net-export-status";
      status.setAttribute("role", "status");
      var retry = document.createElement("button");
      retry.type = "button";
      retry.className = "btn btn-secondary net-retry";
      retry.textContent = msg("retry");
      retry.hidden = true;
      retry.addEventListener("click", function () {
        if (holder.hocsoLink) {
          download(holder.hocsoLink);
        }
      });
      holder.appendChild(status);
      holder.appendChild(retry);
    }
    return status;
  }

  function filename(response, link) {
    var cd = response.headers.get("Content-Disposition") || "";
    var m = /filename\*=UTF-8''([^;]+)/i.exec(cd);
    if (m) {
      try {
        return decodeURIComponent(m[1]);
      } catch (e) {
        /* fall through */
      }
    }
    m = /filename="([^"]+)"/i.exec(cd);
    return m ? m[1] : link.pathname.split("/").pop() || "download";
  }

  function download(link) {
    var status = exportUi(link);
    var retry = status.nextSibling;
    var holder = link.parentNode;
    if (holder.getAttribute("aria-busy") === "true") {
      return;
    }
    holder.hocsoLink = link;
    holder.setAttribute("aria-busy", "true");
    retry.hidden = true;
    say(status, msg("preparing"));
    var done = function () {
      holder.removeAttribute("aria-busy");
    };
    var ctl = window.AbortController ? new AbortController() : null;
    window
      .fetch(link.href, { credentials: "same-origin", signal: ctl ? ctl.signal : undefined })
      .then(function (response) {
        setOffline(false);
        var type = response.headers.get("Content-Type") || "";
        var size = Number(response.headers.get("Content-Length") || 0);
        if (!response.ok || /^text\/html/i.test(type) || size > MAX_BLOB) {
          // An error page, the sign-in page or a very large file: the browser's own way.
          if (ctl) {
            ctl.abort();
          }
          done();
          status.textContent = "";
          location.assign(link.href);
          return null;
        }
        return response.blob().then(function (blob) {
          var url = URL.createObjectURL(blob);
          var a = document.createElement("a");
          a.href = url;
          a.download = filename(response, link);
          a.hidden = true;
          document.body.appendChild(a);
          a.click();
          a.parentNode.removeChild(a);
          window.setTimeout(function () {
            URL.revokeObjectURL(url);
          }, 60000);
          done();
          say(status, msg("ready"));
        });
      })
      .catch(function () {
        done();
        setOffline(true);
        say(status, msg("export-failed"));
        retry.hidden = false;
      });
  }

  document.addEventListener("click", function (event) {
    var link = event.target.closest ? event.target.closest("a[data-net-export]") : null;
    if (
      link &&
      !event.defaultPrevented &&
      event.button === 0 &&
      !(event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) &&
      window.fetch &&
      window.URL &&
      URL.createObjectURL
    ) {
      event.preventDefault();
      download(link);
    }
  });

  // --- Start (and again after a page was replaced in place) ---------------------------------

  function start() {
    render();
    showCarriedFlashes();
    each(document.forms, function (form) {
      if (isPost(form)) {
        restoreDraft(form);
      }
    });
  }

  if (navigator.onLine === false) {
    setOffline(true);
  }
  start();
})();
