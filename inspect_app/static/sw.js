/* The service worker: served by GET /sw.js (root scope) with its configuration filled in.
   - The app shell (CSS, scripts, htmx, the offline page) is precached per deployment version:
     a new deployment installs a new cache, takes over and deletes the old one. Nothing a user
     typed lives here (that is the outbox in IndexedDB), so a takeover loses no draft.
   - Pages: network first with a short timeout, then the copy kept on the phone. Only the
     signed-in user's own work pages are kept, and they are dropped when someone else signs in.
   - Keeping them fresh costs little on a slow network: a page asks for it only after a quiet
     spell (nothing being saved), at most every few minutes; each kept page is re-checked with
     If-None-Match (unchanged: a 304, headers only), pages seen lately are skipped, and a save
     starting meanwhile stops the refresh (the rest waits for the next quiet spell).
   - A draft the server has not seen yet (/inspections/c/UUID?v=VERSION) is shown from the
     empty checklist of its version; the page's script fills it from the outbox. */
"use strict";

var CONFIG = /*CONFIG*/{};
var SHELL = "shell-" + CONFIG.version;
var PAGES = "pages";            // the signed-in user's pages and photo thumbnails
var META = "meta";              // who the kept pages belong to, when they were refreshed
var NAV_TIMEOUT_MS = 4000;
var KEEP = [/^\/inspections$/, /^\/inspections\/new$/, /^\/inspections\/\d+$/, /^\/inspections\/c\/[^/]+$/,
            /^\/inspections\/form\/\d+$/, /^\/hazards$/, /^\/hazards\/\d+$/];

self.addEventListener("install", function (event) {
  event.waitUntil(caches.open(SHELL).then(function (cache) {
    return cache.addAll(CONFIG.shell.map(function (u) { return new Request(u, { cache: "reload" }); }));
  }).then(function () { return self.skipWaiting(); }));
});

self.addEventListener("activate", function (event) {
  event.waitUntil(caches.keys().then(function (keys) {
    return Promise.all(keys.filter(function (k) { return k.indexOf("shell-") === 0 && k !== SHELL; })
      .map(function (k) { return caches.delete(k); }));
  }).then(function () { return meta("refreshed", "0"); })  // kept pages name the new files
    .then(function () { return self.clients.claim(); }));
});

function kept(url) {
  return url.origin === self.location.origin && KEEP.some(function (re) { return re.test(url.pathname); });
}

// The key a page is kept under: the start page without its search, the rest as asked.
function pageKey(url) {
  if (url.pathname === "/inspections/new" || url.pathname === "/inspections" || url.pathname === "/hazards") {
    return url.origin + url.pathname;
  }
  return url.href;
}

function withTimeout(promise, ms) {
  return new Promise(function (resolve, reject) {
    var timer = setTimeout(function () { reject(new Error("timeout")); }, ms);
    promise.then(function (r) { clearTimeout(timer); resolve(r); }, function (e) { clearTimeout(timer); reject(e); });
  });
}

var seen = {};      // page key -> when the phone last had it fresh (kept or re-checked)
var busyUntil = 0;  // a page is saving: no refresh before then

function keep(request, response) {
  var url = new URL(request.url);
  // A redirect to the sign-in page is not the page asked for: never keep it under that name.
  if (!response || response.status !== 200 || response.redirected || !kept(url)) return;
  if (url.pathname === "/inspections/new" && url.search && !/^\?(section=[^&]*)?$/.test(url.search)) return;
  var copy = response.clone();
  seen[pageKey(url)] = Date.now();
  caches.open(PAGES).then(function (cache) { cache.put(pageKey(url), copy); });
}

// Offline, a page kept before a deployment names the files by their old versioned URLs
// (/static/app.<hash>.css): the current shell's copy of the same file stands in.
var HASHED = /\.[0-9a-f]{10}(\.[^./]+)$/;
function sameFile(url) {
  var plain = url.pathname.replace(HASHED, "$1");
  return caches.open(SHELL).then(function (cache) {
    return cache.keys().then(function (keys) {
      var found = keys.find(function (k) { return new URL(k.url).pathname.replace(HASHED, "$1") === plain; });
      return found ? cache.match(found) : Response.error();
    });
  });
}

function fromPhone(request) {
  var url = new URL(request.url);
  return caches.open(PAGES).then(function (cache) {
    return cache.match(pageKey(url)).then(function (hit) {
      if (hit) return hit;
      var m = url.pathname.match(/^\/inspections\/c\/[^/]+$/);
      var version = url.searchParams.get("v");
      if (m && version) {  // a draft kept by its parts: the empty checklist of its version
        var section = url.searchParams.get("section");
        var form = url.origin + "/inspections/form/" + version;
        // No section asked: the first one kept (pages are kept in section order). A section
        // not kept is not replaced by another: the offline page says so instead.
        if (section) return cache.match(form + "?section=" + section);
        return cache.match(form, { ignoreSearch: true });
      }
      return null;
    });
  }).then(function (hit) {
    return hit || caches.match("/offline");
  });
}

function navigate(event) {
  var request = event.request;
  var network = fetch(request);
  event.waitUntil(network.then(function (r) { keep(request, r); }).catch(function () {}));
  return withTimeout(network, NAV_TIMEOUT_MS).then(function (r) {
    if (r.status >= 500) return fromPhone(request).then(function (hit) { return hit || r; });
    return r;
  }).catch(function () { return fromPhone(request); });
}

self.addEventListener("fetch", function (event) {
  var request = event.request;
  if (request.method !== "GET") return;
  var url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (request.mode === "navigate") {
    event.respondWith(navigate(event));
    return;
  }
  if (url.pathname.indexOf("/static/") === 0) {  // the shell first, then the network
    event.respondWith(caches.match(request).then(function (hit) {
      return hit || fetch(request).catch(function () { return sameFile(url); });
    }));
    return;
  }
  if (/^\/photos\/\d+\/thumb$/.test(url.pathname)) {  // thumbnails never change: keep them
    event.respondWith(caches.open(PAGES).then(function (cache) {
      return cache.match(request).then(function (hit) {
        return hit || fetch(request).then(function (r) {
          if (r.status === 200) cache.put(request, r.clone());
          return r;
        });
      });
    }));
  }
});

// --- keeping the user's pages -------------------------------------------------------------

function meta(key, value) {
  return caches.open(META).then(function (cache) {
    var url = "/__meta/" + key;
    if (value === undefined) return cache.match(url).then(function (r) { return r ? r.text() : ""; });
    return cache.put(url, new Response(String(value)));
  });
}

// Another user (or nobody) is signed in: the pages kept belong to someone else. Drop them.
function setUser(user) {
  return meta("user").then(function (previous) {
    if (previous === String(user || "")) return false;
    return caches.delete(PAGES).then(function () { return meta("user", user || ""); })
      .then(function () { return meta("refreshed", "0"); }).then(function () { return true; });
  });
}

// Fetch and keep the pages the server lists for this user: unless forced (another user signed
// in, a new deployment), at most every few minutes, and only the pages not seen since then.
function refresh(force, minutes) {
  var every = (minutes || 10) * 60000;
  return meta("refreshed").then(function (at) {
    if (!force && Date.now() - Number(at || 0) < every) return;
    return fetch("/sync/pages", { credentials: "same-origin", cache: "no-store" }).then(function (r) {
      if (!r.ok) return;
      return r.json().then(function (data) {
        return meta("user").then(function (user) {
          if (String(data.user) !== user) return;  // signed in as someone else meanwhile
          return caches.open(PAGES).then(function (cache) {
            return data.pages.reduce(function (p, page) {
              return p.then(function (stopped) {
                // Saving: the rest waits for the next quiet spell. Not when forced: a new user's
                // (or a new deployment's) first pages are what makes working offline possible.
                if (stopped || (!force && Date.now() < busyUntil)) return true;
                var key = pageKey(new URL(page, self.location.origin));
                if (!force && Date.now() - (seen[key] || 0) < every) return false;
                return recheck(cache, page, key).then(function () { return false; });
              });
            }, Promise.resolve(false));
          });
        }).then(function (stopped) { if (!stopped) return meta("refreshed", Date.now()); });
      });
    }).catch(function () {});
  });
}

// One kept page: If-None-Match with the tag of the copy on the phone; a 304 keeps that copy.
function recheck(cache, page, key) {
  return cache.match(key).then(function (old) {
    var tag = old && old.headers.get("ETag");
    // X-Kept-Page: the copy to keep (a plain form's idempotency key left out, see form_nonce).
    var headers = { "X-Kept-Page": "1" };
    if (tag) headers["If-None-Match"] = tag;
    return fetch(page, { credentials: "same-origin", cache: "no-store", headers: headers });
  }).then(function (r) {
    if (r.redirected || (r.status !== 200 && r.status !== 304)) return;
    seen[key] = Date.now();
    if (r.status === 200) return cache.put(key, r);
  }).catch(function () {});
}

self.addEventListener("message", function (event) {
  var data = event.data || {};
  var done;
  if (data.type === "user") {  // every page load: whose pages these are (nothing to fetch)
    done = setUser(data.user).then(function (changed) {
      if (changed && data.user && data.online) return refresh(true);
    });
  } else if (data.type === "quiet") {  // nothing saved for a while: refresh if it is time
    done = refresh(false, data.minutes);
  } else if (data.type === "busy") {  // a save starts: no refresh meanwhile
    busyUntil = Date.now() + (data.ms || 0);
  } else if (data.type === "refresh") {
    done = refresh(true);
  }
  if (done) {
    event.waitUntil(done.then(function () {
      if (event.source) event.source.postMessage({ type: "kept", version: CONFIG.version });
    }));
  }
});

// Background Sync where the browser has it: wake an open page to send the outbox. Nothing
// depends on it; pages also send on load, on "online" and when they become visible.
self.addEventListener("sync", function (event) {
  if (event.tag !== "outbox") return;
  event.waitUntil(self.clients.matchAll({ type: "window" }).then(function (list) {
    list.forEach(function (c) { c.postMessage({ type: "sync" }); });
  }));
});
