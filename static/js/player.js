/* HọcSố lesson player: resume where the learner stopped, report progress, survive offline.

   The page (#lesson-player, rendered by app/lms/pages.py) carries data-lesson, data-user,
   data-csrf and, for enrolled learners, data-track. A <video>/<audio> with data-lesson and
   data-resume is sought to the saved position once its metadata is known.

   Progress events go to POST /lessons/{id}/progress (JSON, X-CSRF-Token header). Every event is
   first appended to a queue in localStorage (one key per user and lesson), then the queue is
   sent in order. An event leaves the queue only when the server has answered it: 2xx, or a 4xx
   that will never succeed (logged and dropped so it cannot block the queue). Network failures,
   429, 5xx, an ended session (401) or an expired page token keep it for later: on the "online"
   event, every 15 s and on the next page load. Event ids make a replay harmless on the server.

   The page-wide banner (static/js/net.js) hears how it goes through CustomEvents on document:
   "hocso:net" {online} when a request fails on the network or gets an answer, and after every
   flush "hocso:queue" {queued, sent, failed}, where sent counts the events delivered after
   having waited (offline, refused for now, or left by an earlier visit).

   Every text shown comes from data-msg-* attributes rendered in the page's language. No inline
   script: the CSP allows scripts from 'self' only. */
(function () {
  "use strict";

  var root = document.getElementById("lesson-player");
  if (!root || !root.hasAttribute("data-track") || !window.fetch || !window.JSON) {
    return; // authors' previews and very old browsers: nothing is reported
  }
  var lessonId = root.getAttribute("data-lesson");
  var userId = root.getAttribute("data-user");
  var csrf = root.getAttribute("data-csrf") || "";
  var PREFIX = "hocso-progress-queue:" + userId + ":";
  var RETRY_MS = 15000;
  var MAX_QUEUE = 500;
  var REPORT_EVERY = 10; // seconds of playback between two events

  var statusEl = document.getElementById("sync-status");
  var lessonStatusEl = document.getElementById("lesson-status");
  var courseBar = document.getElementById("course-progress");
  var courseText = document.getElementById("course-progress-text");
  var certificateLink = document.getElementById("certificate-link");
  var doneForm = document.getElementById("mark-done-form");

  // --- Storage (localStorage, or memory when it is unavailable) ---------------------------

  var memory = {};
  var storage = (function () {
    try {
      var probe = "hocso-probe";
      window.localStorage.setItem(probe, "1");
      window.localStorage.removeItem(probe);
      return window.localStorage;
    } catch (e) {
      return null;
    }
  })();

  function load(key) {
    var raw = null;
    if (storage) {
      try {
        raw = storage.getItem(key);
      } catch (e) {
        raw = null;
      }
    }
    if (raw === null && Object.prototype.hasOwnProperty.call(memory, key)) {
      return memory[key].slice();
    }
    try {
      var list = raw ? JSON.parse(raw) : [];
      return Array.isArray(list) ? list : [];
    } catch (e) {
      return [];
    }
  }

  function store(key, list) {
    if (storage) {
      try {
        if (list.length) {
          storage.setItem(key, JSON.stringify(list));
        } else {
          storage.removeItem(key);
        }
        delete memory[key];
        return;
      } catch (e) {
        /* quota or privacy mode: keep it in memory for this page */
      }
    }
    if (list.length) {
      memory[key] = list.slice();
    } else {
      delete memory[key];
    }
  }

  function queueKeys() {
    var keys = [PREFIX + lessonId];
    var i;
    if (storage) {
      for (i = 0; i < storage.length; i++) {
        var k = storage.key(i);
        if (k && k.indexOf(PREFIX) === 0 && keys.indexOf(k) < 0) {
          keys.push(k);
        }
      }
    }
    for (var m in memory) {
      if (Object.prototype.hasOwnProperty.call(memory, m) && keys.indexOf(m) < 0) {
        keys.push(m);
      }
    }
    return keys;
  }

  function removeEvent(key, eventId) {
    store(
      key,
      load(key).filter(function (ev) {
        return ev && ev.event_id !== eventId;
      })
    );
  }

  function pendingCount() {
    return queueKeys().reduce(function (n, k) {
      return n + load(k).length;
    }, 0);
  }

  // --- Event ids ----------------------------------------------------------------------------

  function uuid4() {
    var c = window.crypto || window.msCrypto;
    if (c && typeof c.randomUUID === "function") {
      try {
        return c.randomUUID(); // secure contexts only (https or localhost)
      } catch (e) {
        /* fall through */
      }
    }
    var b = new Uint8Array(16);
    if (c && c.getRandomValues) {
      c.getRandomValues(b);
    } else {
      for (var j = 0; j < 16; j++) {
        b[j] = Math.floor(Math.random() * 256);
      }
    }
    b[6] = (b[6] & 0x0f) | 0x40; // version 4
    b[8] = (b[8] & 0x3f) | 0x80; // variant 10
    var h = [];
    for (var i = 0; i < 16; i++) {
      h.push((b[i] + 0x100).toString(16).slice(1));
    }
    return (
      h.slice(0, 4).join("") + "-" + h.slice(4, 6).join("") + "-" + h.slice(6, 8).join("") +
      "-" + h.slice(8, 10).join("") + "-" + h.slice(10, 16).join("")
    );
  }

  // --- Status line and the page's progress display ------------------------------------------

  function msg(el, name) {
    return (el && el.getAttribute("data-msg-" + name)) || "";
  }

  function setStatus(name) {
    if (statusEl) {
      statusEl.textContent = msg(statusEl, name);
      statusEl.setAttribute("data-state", name);
    }
  }

  function showResult(data) {
    if (!data || typeof data !== "object") {
      return;
    }
    if (lessonStatusEl && data.lesson_status) {
      var name = String(data.lesson_status).replace("_", "-");
      var text = msg(lessonStatusEl, name).replace("{percent}", String(data.lesson_percent));
      var state = { completed: "done", in_progress: "doing" }[data.lesson_status] || "todo";
      if (text) {
        lessonStatusEl.textContent = "";
        if (state === "done") {
          var tick = document.createElement("span");
          tick.setAttribute("aria-hidden", "true");
          tick.textContent = "✓ ";
          lessonStatusEl.appendChild(tick);
        }
        lessonStatusEl.appendChild(document.createTextNode(text));
        lessonStatusEl.className = "lesson-state state-" + state;
      }
      if (data.lesson_status === "completed" && doneForm) {
        doneForm.hidden = true;
      }
    }
    if (typeof data.course_progress_percent === "number") {
      if (courseBar) {
        courseBar.value = data.course_progress_percent;
        courseBar.textContent = data.course_progress_percent + "%";
      }
      if (courseText) {
        courseText.textContent = data.course_progress_percent + "%";
      }
    }
    if (data.course_completed && certificateLink) {
      certificateLink.hidden = false;
    }
  }

  // --- Sending ------------------------------------------------------------------------------

  function send(lesson, body) {
    return window.fetch("/lessons/" + encodeURIComponent(lesson) + "/progress", {
      method: "POST",
      headers: {
        "Content-Type": "application/json",
        Accept: "application/json",
        "X-CSRF-Token": csrf
      },
      body: JSON.stringify(body),
      credentials: "same-origin",
      redirect: "error", // a redirect (to the sign-in page) is not a success
      keepalive: true // lets the last event of a closing page finish
    });
  }

  function readJson(response) {
    return response.json().catch(function () {
      return null;
    });
  }

  function tell(name, detail) {
    if (typeof window.CustomEvent === "function") {
      document.dispatchEvent(new window.CustomEvent("hocso:" + name, { detail: detail }));
    }
  }

  var flushing = false;
  var flushAgain = false;
  var waited = pendingCount() > 0; // left by an earlier visit: they have been waiting

  // Send every queued event of this user, oldest first; stop at the first one to retry.
  function flush() {
    if (flushing) {
      flushAgain = true;
      return;
    }
    var pending = [];
    queueKeys().forEach(function (key) {
      load(key).forEach(function (ev) {
        if (ev && ev.event_id) {
          pending.push({ key: key, lesson: key.slice(PREFIX.length), ev: ev });
        }
      });
    });
    if (!pending.length) {
      return;
    }
    flushing = true;
    setStatus("saving");
    var i = 0;
    var sent = 0;

    function finish(state) {
      flushing = false;
      if (state) {
        setStatus(state);
      }
      var failed = state !== "saved";
      tell("queue", { queued: pendingCount(), sent: waited && !failed ? sent : 0, failed: failed });
      waited = failed;
      if (flushAgain) {
        flushAgain = false;
        if (state === "saved") {
          flush();
        }
      }
    }

    function next() {
      if (i >= pending.length) {
        finish("saved");
        return;
      }
      var item = pending[i];
      send(item.lesson, item.ev).then(
        function (response) {
          tell("net", { online: true });
          if (response.ok) {
            sent += 1;
            removeEvent(item.key, item.ev.event_id);
            return readJson(response).then(function (data) {
              if (item.lesson === lessonId) {
                showResult(data);
              }
              i += 1;
              next();
            });
          }
          return readJson(response).then(function (data) {
            var code = data && data.error;
            var s = response.status;
            if (s === 401 || (s === 403 && code === "csrf_failed")) {
              finish("signin"); // kept: sent after signing in again (next page load)
            } else if (s === 429 || s === 408 || s >= 500) {
              finish("offline"); // kept: retried later
            } else {
              // A 4xx that can never succeed (not enrolled any more, bad data): drop it.
              if (window.console) {
                window.console.warn("progress event dropped", s, data);
              }
              removeEvent(item.key, item.ev.event_id);
              i += 1;
              next();
            }
          });
        },
        function () {
          tell("net", { online: false });
          finish("offline"); // the network: kept for the next try
        }
      );
    }

    next();
  }

  function enqueue(fields) {
    var key = PREFIX + lessonId;
    var body = { event_id: uuid4() };
    for (var f in fields) {
      if (Object.prototype.hasOwnProperty.call(fields, f)) {
        body[f] = fields[f];
      }
    }
    var list = load(key);
    list.push(body);
    if (list.length > MAX_QUEUE) {
      list = list.slice(list.length - MAX_QUEUE);
    }
    store(key, list);
    flush();
  }

  window.addEventListener("online", flush);
  window.setInterval(function () {
    if (!flushing && pendingCount()) {
      flush();
    }
  }, RETRY_MS);

  // --- "Mark as done" (documents, images, downloads) ----------------------------------------

  if (doneForm) {
    doneForm.addEventListener("submit", function (event) {
      event.preventDefault(); // queued instead: works offline too
      enqueue({ status: "completed" });
    });
  }

  // --- Video and audio ----------------------------------------------------------------------

  var media = root.querySelector("video[data-lesson], audio[data-lesson]");
  if (media) {
    var resume = parseFloat(media.getAttribute("data-resume") || "0") || 0;
    var lastTime = null; // the playback position at the previous timeupdate
    var watched = 0; // seconds played since the last event
    var lastSent = resume; // the position of the last event

    var seekToResume = function () {
      var d = media.duration;
      // At (or very near) the end: start again from the beginning instead.
      if (resume > 0 && isFinite(d) && resume < d - 1) {
        try {
          media.currentTime = resume;
        } catch (e) {
          /* not seekable yet */
        }
      }
    };
    if (media.readyState >= 1) {
      seekToResume();
    } else {
      media.addEventListener("loadedmetadata", seekToResume, { once: true });
    }

    var report = function (ended) {
      var d = media.duration;
      if (!isFinite(d) || d <= 0) {
        return; // metadata not loaded: nothing to say yet
      }
      var pos = ended ? d : media.currentTime;
      if (!ended && watched < 0.5 && Math.abs(pos - lastSent) < 0.5) {
        return; // nothing new since the last event
      }
      var percent = Math.max(0, Math.min(100, Math.floor((pos / d) * 100)));
      enqueue({
        percent: ended ? 100 : percent,
        position_seconds: Math.round(pos * 100) / 100,
        seconds_spent: Math.round(Math.min(watched, 6 * 3600) * 100) / 100
      });
      watched = 0;
      lastSent = pos;
    };

    media.addEventListener("timeupdate", function () {
      var t = media.currentTime;
      if (lastTime !== null && !media.paused && !media.seeking) {
        var delta = t - lastTime;
        if (delta > 0 && delta < 3) {
          watched += delta; // ignore jumps: seeking is not watching
        }
      }
      lastTime = t;
      if (watched >= REPORT_EVERY) {
        report(false);
      }
    });
    media.addEventListener("seeked", function () {
      lastTime = media.currentTime;
    });
    media.addEventListener("pause", function () {
      if (!media.ended) {
        report(false);
      }
    });
    media.addEventListener("ended", function () {
      report(true);
    });
    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "hidden") {
        report(false);
      }
    });
    window.addEventListener("pagehide", function () {
      report(false);
    });
  }

  // Whatever is still queued from an earlier visit (this lesson or another one) goes now.
  flush();
})();
