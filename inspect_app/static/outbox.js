/* The outbox: every write of the phone (answers, photos, signature, submit, the officer's plan,
   rectification and after-photos) waits in IndexedDB until the server acknowledges it.

   - One entry per write, sent in order: within a group (one inspection, one hazard) an entry
     marked `barrier` (start, submit, plan, rectify...) waits for every earlier entry of its
     group, and nothing passes an earlier barrier; other groups are not held up.
   - 2xx: acknowledged (a photo only when the server's sha256 equals the one computed here).
     5xx, 408, 429, timeouts and no network: retried with backoff, for as long as it takes.
     401 (signed out) or a refused CSRF token: the queue pauses and asks to sign in again.
     Other 4xx: the entry stops and keeps its data; the reason is shown in words, and the user
     corrects or discards it. Nothing is dropped without the user saying so.
   - The CSRF token is fetched when sending (GET /sync/csrf), never stored with an entry.
   - Sends on page load, on "online", when the tab becomes visible, when the service worker
     wakes it (Background Sync, where the browser has it) and after each new entry.
   - Entries stay (without their photo bytes) after they are acknowledged, so that a page kept
     on the phone can show the latest answers offline; submitting the inspection clears them.
   Tests may set window.InspectOutboxConfig = {baseMs, maxMs, timeoutMs, quietMs, refreshMinutes}
   before this runs. */
(function () {
  "use strict";

  var config = window.InspectOutboxConfig || {};
  var BASE_MS = config.baseMs || 2000;        // first retry after about this long, doubling
  var MAX_MS = config.maxMs || 5 * 60 * 1000; // retries at least this often
  var TIMEOUT_MS = config.timeoutMs || 30000; // a request with no answer by then is retried
  var MIN_RATE = 8000;                        // bytes/s: an upload's timeout grows with its size
  var QUOTA_WARN = 0.8;                       // warn when the phone's storage is this full
  // The service worker refreshes the pages it keeps only after this long with nothing to send
  // (and at most every config.refreshMinutes): never while the inspector is saving.
  var QUIET_MS = config.quietMs || 30000;

  var listeners = [];
  var paused = "";      // "auth" when the session expired; sending resumes on the next load
  var running = null;
  var timer = null;
  var quotaLow = false;
  var dbPromise = null;
  var quietTimer = null;

  // Who is signed in, as the page says; the page shown offline for a page not kept says
  // nothing, and the last one known stands.
  function user() {
    var b = document.body;
    if (b && b.hasAttribute("data-user")) {
      var id = b.getAttribute("data-user");
      try { localStorage.setItem("inspect:user", id); } catch (e) { /* private mode */ }
      return id;
    }
    try { return localStorage.getItem("inspect:user") || ""; } catch (e) { return ""; }
  }
  function status() { return document.getElementById("sync-status"); }
  function msg(name, fallback) {
    var el = status();
    return (el && el.getAttribute("data-msg-" + name)) || fallback;
  }
  function fmt(text, values) {
    return text.replace(/\{(\w+)\}/g, function (m, k) { return k in values ? values[k] : m; });
  }

  /* --- IndexedDB ---------------------------------------------------------------------------- */

  function db() {
    if (!dbPromise) {
      dbPromise = new Promise(function (resolve, reject) {
        var req = indexedDB.open("inspect-outbox", 1);
        req.onupgradeneeded = function () {
          var d = req.result;
          var entries = d.createObjectStore("entries", { keyPath: "id", autoIncrement: true });
          entries.createIndex("group", "group");
          d.createObjectStore("drafts", { keyPath: "uuid" });
          d.createObjectStore("refs", { keyPath: "key" });
        };
        req.onsuccess = function () { resolve(req.result); };
        req.onerror = function () { reject(req.error); };
      });
    }
    return dbPromise;
  }
  function tx(store, mode, work) {
    return db().then(function (d) {
      return new Promise(function (resolve, reject) {
        var t = d.transaction(store, mode), result;
        t.oncomplete = function () { resolve(result); };
        t.onerror = t.onabort = function () { reject(t.error); };
        result = work(t.objectStore(store));
        if (result && "onsuccess" in result) {
          var req = result;
          req.onsuccess = function () { result = req.result; };
        }
      });
    });
  }
  function all(store) { return tx(store, "readonly", function (s) { return s.getAll(); }); }
  function get(store, key) { return tx(store, "readonly", function (s) { return s.get(key); }); }
  function put(store, value) { return tx(store, "readwrite", function (s) { return s.put(value); }); }
  function del(store, key) { return tx(store, "readwrite", function (s) { return s.delete(key); }); }

  function mine() {
    return all("entries").then(function (list) {
      var me = user();
      return list.filter(function (e) { return e.user === me; }).sort(function (a, b) { return a.id - b.id; });
    });
  }

  /* --- adding ------------------------------------------------------------------------------- */

  function emit(event) { listeners.forEach(function (fn) { try { fn(event); } catch (e) { /* a page's own bug */ } }); }

  /* Queue one write. entry: {group, kind, url, fields: [[name, value]], file?, fileName?, sha256?,
     then?: {url, fields}, barrier?, item?, key?, headers?, form?}. An answer to the same item
     of the same group replaces the earlier one while it waits, so a queue holds one per item. */
  function add(entry) {
    var typed = typingKey(entry), seen = readTyping(typed);
    entry.user = user();
    entry.state = "queued";
    entry.attempts = 0;
    entry.nextAt = 0;
    entry.created = Date.now();
    entry.rev = 1;
    entry.step = 0;
    var replace = entry.kind === "answer" || entry.replace;
    busy();
    return mine().then(function (list) {
      var same = replace && list.filter(function (e) {
        return e.group === entry.group && e.kind === entry.kind && e.item === entry.item &&
          e.url === entry.url && !laterBarrier(list, e, entry);
      }).pop();
      if (same) {
        entry.id = same.id;
        entry.rev = (same.rev || 0) + 1;
      }
      return put("entries", entry);
    }).then(function (id) {
      entry.id = id;
      // Queued: the snapshot of the typing is no longer needed, unless more was typed since.
      if (seen !== null && readTyping(typed) === seen) writeTyping(typed, null);
      emit({ type: "change", entry: entry });
      wake();
      return entry;
    });
  }
  // An entry may only be replaced in place when no barrier was queued after it: the new data
  // must still go before that barrier (an answer changed after a submit is a new entry).
  function laterBarrier(list, e) {
    return list.some(function (o) { return o.group === e.group && o.id > e.id && o.barrier; });
  }

  /* --- typing not queued yet ---------------------------------------------------------------- */

  // A page queues typed text after a pause (or when the field is left). Until then each
  // keystroke leaves a synchronous snapshot of the entry-to-be in localStorage, so that a page
  // closed, killed or reloaded before the pause ends loses nothing: the next page of the same
  // user queues it (replay). Queuing the entry removes the snapshot.
  var TYPING = "inspect:typing:";
  function typingKey(entry) { return TYPING + entry.group + ":" + entry.kind + ":" + (entry.item || ""); }
  function readTyping(key) { try { return localStorage.getItem(key); } catch (e) { return null; } }
  function writeTyping(key, value) {
    try {
      if (value === null) localStorage.removeItem(key); else localStorage.setItem(key, value);
    } catch (e) { /* private mode or full: the pause still queues it */ }
  }
  function snapshot(entry) {
    writeTyping(typingKey(entry), JSON.stringify({ user: user(), entry: entry }));
  }
  function replay() {
    var keys = [];
    try {
      for (var i = 0; i < localStorage.length; i++) {
        if (localStorage.key(i).indexOf(TYPING) === 0) keys.push(localStorage.key(i));
      }
    } catch (e) { return Promise.resolve(); }
    var me = user();
    return keys.reduce(function (p, key) {
      var saved;
      try { saved = JSON.parse(readTyping(key)); } catch (e) { saved = null; }
      if (!saved || !saved.entry) { writeTyping(key, null); return p; }
      if (String(saved.user) !== me) return p;  // someone else's: theirs at their next sign-in
      return p.then(function () { return add(saved.entry); });
    }, Promise.resolve()).catch(function () { /* storage unavailable */ });
  }
  var replayed = null;
  function ready() {  // once per page, before anyone reads the queue
    if (!replayed) replayed = replay();
    return replayed;
  }

  /* --- sending ------------------------------------------------------------------------------ */

  function eligible(list, now) {
    var waiting = list.filter(function (e) { return e.state !== "done"; });
    return waiting.find(function (e) {
      if (e.state !== "queued" || e.nextAt > now) return false;
      var before = waiting.filter(function (o) { return o.group === e.group && o.id < e.id; });
      return e.barrier ? before.length === 0 : !before.some(function (o) { return o.barrier; });
    });
  }

  // The token (and who it is for) is asked for once in a while, not before every answer: a
  // refused token (403) or a new sign-in asks again at once.
  var token = null, tokenAt = 0, TOKEN_MS = 5 * 60 * 1000;
  function fetchToken() {
    return fetch("/sync/csrf", { credentials: "same-origin", cache: "no-store" }).then(function (r) {
      if (!r.ok) throw new Error("status");
      return r.json();
    }).then(function (data) { token = data; tokenAt = Date.now(); return data; });
  }

  function resolveFields(fields) {
    return all("refs").then(function (refs) {
      var byKey = {};
      refs.forEach(function (r) { byKey[r.key] = r; });
      var out = [];
      (fields || []).forEach(function (f) {
        var value = f[1];
        if (typeof value === "string" && value.indexOf("$photo:") === 0) {
          var ref = byKey[value.slice(7)];
          if (!ref) return;  // the photo was discarded: the write goes without it
          value = String(ref.id);
        }
        out.push([f[0], value]);
      });
      return out;
    });
  }

  // One request by XHR (fetch cannot report upload progress): {status, body, type}.
  function request(entry, step) {
    return resolveFields(step.fields).then(function (fields) {
      return new Promise(function (resolve) {
        var xhr = new XMLHttpRequest();
        xhr.open("POST", step.url);
        xhr.setRequestHeader("x-csrftoken", token ? token.csrftoken : "");
        xhr.setRequestHeader("Accept", "application/json");
        Object.keys(step.headers || {}).forEach(function (k) { xhr.setRequestHeader(k, step.headers[k]); });
        var body;
        if (step.file) {
          body = new FormData();
          fields.forEach(function (f) { body.append(f[0], f[1]); });
          body.append("file", step.file, entry.fileName || "photo.jpg");
          xhr.timeout = Math.max(TIMEOUT_MS, (step.file.size / MIN_RATE) * 1000);
          xhr.upload.onprogress = function (e) {
            if (e.lengthComputable) emit({ type: "progress", entry: entry, pct: Math.floor((100 * e.loaded) / e.total) });
          };
        } else {
          body = new URLSearchParams();
          fields.forEach(function (f) { body.append(f[0], f[1]); });
          xhr.timeout = TIMEOUT_MS;
        }
        xhr.onload = function () {
          resolve({ status: xhr.status, body: xhr.responseText, type: xhr.getResponseHeader("content-type") || "",
                    url: xhr.responseURL });
        };
        xhr.onerror = xhr.ontimeout = xhr.onabort = function () { resolve({ status: 0, body: "", type: "" }); };
        xhr.send(body);
      });
    });
  }

  // What the server said, in its own (translated) words; never an exception's text.
  function reason(res) {
    var text = "";
    if (res.type.indexOf("json") >= 0) {
      try {
        var detail = JSON.parse(res.body).detail;
        if (typeof detail === "string") text = detail;
        else if (detail && detail.message) text = detail.message;
        else if (Array.isArray(detail)) text = msg("invalid", "Some of it is not valid.");
      } catch (e) { text = ""; }
    } else if (res.body) {
      var doc = new DOMParser().parseFromString(res.body, "text/html");
      var found = (doc.querySelector("main") || doc.body).querySelectorAll(".problems li, .field-error, [role=alert]");
      text = Array.prototype.map.call(found, function (n) { return n.textContent.trim(); })
        .filter(Boolean).slice(0, 3).join(" ");
    }
    return text || fmt(msg("refused", "The server refused it ({status})."), { status: res.status });
  }

  function retryLater(entry) {
    entry.attempts += 1;
    var delay = Math.min(MAX_MS, BASE_MS * Math.pow(2, entry.attempts - 1));
    entry.nextAt = Date.now() + delay * (0.75 + Math.random() / 2);
    entry.error = "retry";
  }

  function sendOne(entry) {
    var step = entry.step === 1 && entry.then ? entry.then : { url: entry.url, fields: entry.fields, file: entry.file, headers: entry.headers };
    emit({ type: "sending", entry: entry });
    return request(entry, step).then(function (res) {
      return get("entries", entry.id).then(function (now) {
        if (!now) return "gone";  // discarded while it was on its way
        entry.rev = now.rev;
        if (now.rev !== entry.sentRev) {  // changed while on its way: send the new data next
          entry = now;
          return "again";
        }
        return handle(entry, step, res);
      });
    });
  }

  // Writes back what sending learnt about an entry (in one transaction with reading it), unless
  // it changed meanwhile: an answer replaced while it was on its way (or waiting to retry) keeps
  // its newer data, which is sent next. Resolves whether it was written.
  function save(entry) {
    return db().then(function (d) {
      return new Promise(function (resolve, reject) {
        var t = d.transaction("entries", "readwrite"), store = t.objectStore("entries"), wrote = false;
        t.oncomplete = function () { resolve(wrote); };
        t.onerror = t.onabort = function () { reject(t.error); };
        store.get(entry.id).onsuccess = function (e) {
          var now = e.target.result;
          if (now && now.rev === entry.rev) { store.put(entry); wrote = true; }
        };
      });
    });
  }

  function handle(entry, step, res) {
    var s = res.status;
    if (s >= 200 && s < 300) {
      var data = null;
      if (res.type.indexOf("json") >= 0) { try { data = JSON.parse(res.body); } catch (e) { data = null; } }
      if (step.file && entry.sha256 && (!data || data.sha256 !== entry.sha256)) {
        retryLater(entry);  // the bytes did not arrive intact: keep the blob, send it again
        return save(entry).then(function () { return "retry"; });
      }
      var saveRef = Promise.resolve();
      if (entry.key && data && data.id) {
        saveRef = put("refs", { key: entry.key, id: data.id, sha256: data.sha256, thumb_url: data.thumb_url, at: Date.now() });
        entry.result = { id: data.id, thumb_url: data.thumb_url };
      }
      return saveRef.then(function () {
        if (entry.then && entry.step === 0) {
          entry.step = 1;
          entry.file = null;  // acknowledged with the same sha256: the bytes may go
          entry.attempts = 0;
          return save(entry).then(function () { emit({ type: "progress", entry: entry, pct: 100 }); return "step"; });
        }
        entry.state = "done";
        entry.file = null;
        entry.error = "";
        entry.ackAt = Date.now();
        try { localStorage.setItem("inspect:synced-at", String(entry.ackAt)); } catch (e) { /* private mode */ }
        // A submitted inspection, a hazard moved on or reported: what led there is no longer needed.
        var finished = entry.kind === "submit" ||
          (entry.barrier && (entry.group.indexOf("hazard:") === 0 || entry.group.indexOf("report:") === 0));
        return save(entry).then(function (wrote) {
          if (!wrote) return "again";  // replaced meanwhile: the newer data goes next
          return (finished ? clearGroup(entry.group) : Promise.resolve()).then(function () {
            emit({ type: "ack", entry: entry, response: res, data: data });
            return "done";
          });
        });
      });
    }
    if (s === 401) {
      pause();
      return Promise.resolve("pause");
    }
    if (s === 403 && !entry.tokenRetried) {  // perhaps a token rotated at sign-in: fetch it again
      entry.tokenRetried = true;
      return save(entry).then(fetchToken).then(function (t) {
        if (!t.user) { pause(); return "pause"; }
        return "again";
      }, function () { retryLater(entry); return save(entry).then(function () { return "retry"; }); });
    }
    if (s === 0 || s === 408 || s === 429 || s >= 500) {
      retryLater(entry);
      return save(entry).then(function () { return "retry"; });
    }
    entry.state = "refused";
    entry.error = reason(res);
    entry.status = s;
    return save(entry).then(function () { emit({ type: "refused", entry: entry }); return "refused"; });
  }

  // Signed out (or the session expired): nothing is sent until a sign-in, with a new token.
  function pause() {
    paused = "auth";
    token = null;
  }

  function clearGroup(group) {
    return mine().then(function (list) {
      return Promise.all(list.filter(function (e) { return e.group === group && e.state === "done"; })
        .map(function (e) { return del("entries", e.id); }));
    }).then(function () { return del("drafts", group); });
  }

  function flush() {
    if (running) return running;
    if (!user() || paused) { render(); return Promise.resolve(); }
    running = (navigator.locks ? navigator.locks.request("inspect-outbox", loop) : loop())
      .catch(function () { /* storage unavailable: nothing more can be done here */ })
      .then(function () { running = null; render(); });
    return running;
  }

  function loop() {
    if (Date.now() - tokenAt > TOKEN_MS) token = null;
    function next() {
      return mine().then(function (list) {
        var entry = eligible(list, Date.now());
        if (!entry) { schedule(list); return; }
        var ready = token ? Promise.resolve(token) : fetchToken();
        return ready.then(function (t) {
          if (!t.user) { pause(); return; }
          if (String(t.user) !== user()) return;  // someone else signed in: their queue waits
          entry.sentRev = entry.rev;
          return sendOne(entry).then(function (outcome) {
            render();
            if (outcome === "pause") return;
            return next();
          });
        }, function () {
          // No network for the token either: try again later.
          retryLater(entry);
          return save(entry).then(function () { schedule([entry]); });
        });
      });
    }
    return next();
  }

  function schedule(list) {
    clearTimeout(timer);
    if (!list.some(function (e) { return e.state === "queued"; })) quietSoon();
    var waits = list.filter(function (e) { return e.state === "queued" && e.nextAt; }).map(function (e) { return e.nextAt; });
    if (!waits.length) return;
    timer = setTimeout(flush, Math.max(50, Math.min.apply(null, waits) - Date.now()));
  }

  function wake() {
    if (navigator.serviceWorker && navigator.serviceWorker.ready && window.SyncManager) {
      if (!document.body.hasAttribute("data-user")) return;  // the offline page: nothing to tell
    navigator.serviceWorker.ready.then(function (reg) { return reg.sync && reg.sync.register("outbox"); }).catch(function () {});
    }
    setTimeout(flush, 0);
  }

  // A refused entry: send it again as it is (after a correction elsewhere), or drop it.
  function retry(id) {
    return get("entries", id).then(function (e) {
      if (!e) return;
      e.state = "queued"; e.attempts = 0; e.nextAt = 0; e.error = ""; e.tokenRetried = false;
      return put("entries", e);
    }).then(function () { paused = ""; emit({ type: "change" }); wake(); });
  }
  function discard(id) {
    return get("entries", id).then(function (e) {
      return del("entries", id).then(function () {
        if (e && e.key) return del("refs", e.key);
      }).then(function () { emit({ type: "discard", entry: e }); render(); wake(); });  // it may have held others up
    });
  }

  /* --- where things stand, on every page ------------------------------------------------------ */

  function render() {
    var el = status();
    if (!el) return Promise.resolve();
    return mine().then(function (list) {
      var waiting = list.filter(function (e) { return e.state === "queued"; });
      var refused = list.filter(function (e) { return e.state === "refused"; });
      var line;
      var cls = "ok";
      if (paused === "auth") {
        line = fmt(msg("signin", "Signed out: sign in again to upload {n} waiting."), { n: waiting.length });
        cls = "warn";
      } else if (waiting.length) {
        line = fmt(msg(navigator.onLine ? "waiting" : "offline", "Saved on the phone, {n} to upload"), { n: waiting.length });
        cls = "wait";
      } else if (refused.length) {
        line = "";  // nothing waits, but not all is synced: the list below says what and why
      } else {
        var at = Number(localStorage.getItem("inspect:synced-at") || 0);
        line = at ? fmt(msg("synced-at", "All synced · {time}"), { time: clock(at) }) : msg("synced", "All synced");
      }
      if (refused.length) cls = "warn";
      el.hidden = false;
      el.className = "sync-status " + cls;
      el.setAttribute("data-pending", String(waiting.length));
      el.setAttribute("data-refused-count", String(refused.length));
      var text = el.querySelector("[data-status-line]");
      text.textContent = line;
      var signin = el.querySelector("[data-signin]");
      signin.hidden = paused !== "auth";
      signin.href = "/login?next=" + encodeURIComponent(location.pathname + location.search);
      var quota = el.querySelector("[data-quota]");
      quota.hidden = !quotaLow;
      var box = el.querySelector("[data-refused]");
      box.hidden = !refused.length;
      box.querySelector("[data-refused-title]").textContent = fmt(msg("refused-n", "{n} not accepted by the server"), { n: refused.length });
      var ul = box.querySelector("ul");
      ul.replaceChildren.apply(ul, refused.map(refusedItem));
    });
  }

  function refusedItem(e) {
    var li = document.createElement("li");
    var what = document.createElement(e.page ? "a" : "strong");
    if (e.page) what.href = e.page;
    what.textContent = e.label || e.kind;
    var why = document.createElement("span");
    why.className = "why";
    why.textContent = e.error;
    // What the user typed stays visible here until they send it again or discard it.
    var typed = (e.fields || []).filter(function (f) {
      return typeof f[1] === "string" && f[1].length > 1 && !/^(version|csrftoken|client_uuid|queued|lat|lon|site_id|template_id|version_id|photo_id|photo_ids|result-.*|grade-.*)$/.test(f[0]) && f[1].indexOf("$photo:") !== 0;
    }).map(function (f) { return f[1]; }).join(" · ");
    if (typed) {
      var q = document.createElement("q");
      q.textContent = typed.length > 120 ? typed.slice(0, 120) + "…" : typed;
      why.append(" ", q);
    }
    var again = button(msg("retry", "Try again"), function () { retry(e.id); });
    var drop = button(msg("discard", "Discard"), function () { discard(e.id); });
    li.append(what, " ", why, " ", again, drop);
    return li;
  }
  function button(label, action) {
    var b = document.createElement("button");
    b.type = "button";
    b.className = "btn small";
    b.textContent = label;
    b.addEventListener("click", action);
    return b;
  }
  function clock(ms) {
    var d = new Date(ms), now = new Date();
    var hm = ("0" + d.getHours()).slice(-2) + ":" + ("0" + d.getMinutes()).slice(-2);
    return d.toDateString() === now.toDateString() ? hm : (d.getMonth() + 1) + "-" + d.getDate() + " " + hm;
  }

  function checkQuota() {
    if (!navigator.storage || !navigator.storage.estimate) return;
    navigator.storage.estimate().then(function (e) {
      quotaLow = !!(e.quota && e.usage / e.quota > QUOTA_WARN);
      render();
    }).catch(function () {});
  }

  /* --- the service worker ---------------------------------------------------------------------- */

  function tellWorker(message) {
    var worker = navigator.serviceWorker && navigator.serviceWorker.controller;
    if (worker) worker.postMessage(message);
  }
  // A save starts: the worker holds back its refresh of the kept pages for a quiet spell.
  function busy() {
    clearTimeout(quietTimer);
    tellWorker({ type: "busy", ms: QUIET_MS });
  }
  // Nothing waits: once the phone has stayed quiet, the worker may refresh the kept pages.
  function quietSoon() {
    clearTimeout(quietTimer);
    quietTimer = setTimeout(function () {
      if (navigator.onLine) tellWorker({ type: "quiet", minutes: config.refreshMinutes });
    }, QUIET_MS);
  }

  function registerWorker() {
    if (!("serviceWorker" in navigator)) return;
    navigator.serviceWorker.register("/sw.js").catch(function () {});
    navigator.serviceWorker.addEventListener("message", function (e) {
      if (e.data && e.data.type === "sync") flush();
      if (e.data && e.data.type === "kept") {
        document.documentElement.setAttribute("data-kept", e.data.version);  // tests wait on it
        emit({ type: "kept", version: e.data.version });
      }
    });
    if (!document.body.hasAttribute("data-user")) return;  // the offline page: nothing to tell
    navigator.serviceWorker.ready.then(function (reg) {
      // Tells the worker whose pages it keeps: someone else's kept pages are dropped (and the
      // new user's fetched).
      var worker = navigator.serviceWorker.controller || reg.active;
      if (worker) worker.postMessage({ type: "user", user: user(), online: navigator.onLine });
    });
  }

  /* --- forms whose writes go through the outbox (the officer's steps, the hazard report) ------ */

  // A form's text fields as an entry's fields (files go as photo entries, the token when sent).
  function formFields(form) {
    var out = [];
    new FormData(form).forEach(function (value, name) {
      if (typeof value === "string" && name !== "csrftoken") out.push([name, value]);
    });
    return out;
  }
  // What was typed comes back into the form from an entry (hidden fields stay the page's own).
  function refill(form, fields) {
    var values = {};
    fields.forEach(function (f) { (values[f[0]] = values[f[0]] || []).push(f[1]); });
    form.querySelectorAll("input, textarea, select").forEach(function (el) {
      if (!el.name || !(el.name in values) || el.type === "file" || el.type === "hidden") return;
      if (el.type === "radio" || el.type === "checkbox") el.checked = values[el.name].indexOf(el.value) >= 0;
      else el.value = values[el.name][0];
    });
  }

  window.InspectOutbox = {
    formFields: formFields,
    refill: refill,
    add: add,
    flush: flush,
    retry: retry,
    discard: discard,
    entries: function () { return ready().then(mine); },
    snapshot: snapshot,
    drafts: function () { return all("drafts").then(function (l) { return l.filter(function (d) { return d.user === user(); }); }); },
    draft: function (uuid) { return get("drafts", uuid); },
    saveDraft: function (d) { d.user = user(); return put("drafts", d); },
    refs: function () { return all("refs"); },
    on: function (fn) { listeners.push(fn); },
    render: render,
    msg: msg,
    fmt: fmt,
  };

  function start() {
    registerWorker();
    ready().then(function () { render(); flush(); });
    checkQuota();
    window.addEventListener("online", function () { paused = ""; flush(); });
    window.addEventListener("offline", render);
    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "visible") flush();
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start); else start();
})();
