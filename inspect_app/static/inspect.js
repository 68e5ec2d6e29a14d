/* Inspector pages: location, idempotent start, photo capture (downscale, upload with retry,
   attach, remove), answer autosave retry. Every page works without this file; it only helps.
   Messages come from data-msg-* attributes on the page so that they are translated. */
(function () {
  "use strict";

  var MAX_SIDE = 2048;          // long side of a downscaled photo
  var SEND_AS_IS = 1.5e6;       // smaller JPEGs within MAX_SIDE go unchanged
  var RETRIES = 5;
  var pendingUploads = 0;

  function csrf() {
    try { return JSON.parse(document.body.getAttribute("hx-headers"))["x-csrftoken"]; } catch (e) { return ""; }
  }
  function msg(name, fallback) {
    var holder = document.querySelector("[data-msg-" + name + "]");
    return holder ? holder.getAttribute("data-msg-" + name) : fallback;
  }
  function sleep(ms) { return new Promise(function (r) { setTimeout(r, ms); }); }

  /* --- location ------------------------------------------------------------------------- */

  function fillLocation(pos) {
    document.querySelectorAll("[data-geo=lat]").forEach(function (i) { i.value = pos.coords.latitude.toFixed(6); });
    document.querySelectorAll("[data-geo=lon]").forEach(function (i) { i.value = pos.coords.longitude.toFixed(6); });
  }
  function locate(then) {
    if (!navigator.geolocation) return;
    navigator.geolocation.getCurrentPosition(function (pos) { fillLocation(pos); if (then) then(pos); },
      function () {}, { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 });
  }
  function searchNearest() {
    var form = document.querySelector(".site-search");
    if (form) { htmx.trigger(form, "submit"); }
  }

  function setupStart() {
    var search = document.querySelector(".site-search");
    if (!search) return;
    var nearest = search.querySelector("[data-nearest]");
    if (navigator.geolocation && nearest) {
      nearest.hidden = false;
      nearest.addEventListener("click", function () { locate(searchNearest); });
      if (navigator.permissions) {
        navigator.permissions.query({ name: "geolocation" }).then(function (p) {
          if (p.state === "granted" && !search.querySelector("[data-geo=lat]").value) locate(searchNearest);
        }).catch(function () {});
      }
    }
    var uuid = document.querySelector("[data-client-uuid]");
    if (uuid && window.crypto && crypto.randomUUID) uuid.value = crypto.randomUUID();
    var start = document.querySelector("[data-start]");
    start.addEventListener("submit", function (e) {
      if (start.dataset.busy) { e.preventDefault(); return; }
      start.dataset.busy = "1";  // a double tap sends one form; the server is idempotent anyway
    });
  }

  /* --- photos --------------------------------------------------------------------------- */

  // The EXIF segment of a JPEG with its orientation reset to 1 (the canvas already turned the
  // pixels upright), so that capture time and GPS survive the downscale.
  function exifSegment(file) {
    return file.slice(0, 256 * 1024).arrayBuffer().then(function (buf) {
      var view = new DataView(buf);
      if (view.byteLength < 4 || view.getUint16(0) !== 0xFFD8) return null;
      var off = 2;
      while (off + 4 <= view.byteLength) {
        var marker = view.getUint16(off), size = view.getUint16(off + 2);
        if ((marker & 0xFF00) !== 0xFF00 || marker === 0xFFDA) return null;
        if (marker === 0xFFE1 && off + 2 + size <= view.byteLength &&
            view.getUint32(off + 4) === 0x45786966 && view.getUint16(off + 8) === 0) {
          var seg = buf.slice(off, off + 2 + size), s = new DataView(seg), tiff = 10;
          var little = s.getUint16(tiff) === 0x4949;
          var ifd = tiff + s.getUint32(tiff + 4, little);
          var n = ifd + 2 <= s.byteLength ? s.getUint16(ifd, little) : 0;
          for (var i = 0; i < n; i++) {
            var e = ifd + 2 + i * 12;
            if (e + 12 > s.byteLength) break;
            if (s.getUint16(e, little) === 0x0112) s.setUint16(e + 8, 1, little);
          }
          return new Uint8Array(seg);
        }
        off += 2 + size;
      }
      return null;
    }).catch(function () { return null; });
  }

  function loadImage(url) {
    return new Promise(function (resolve, reject) {
      var img = new Image();
      img.onload = function () { resolve(img); };
      img.onerror = reject;
      img.src = url;
    });
  }

  // Large photos are scaled down in the browser so a camera file does not cross a weak network
  // whole; anything the browser cannot decode (e.g. HEIC) goes as it is: the server judges.
  function downscale(file) {
    if (!/^image\/(jpeg|png|webp)$/.test(file.type)) return Promise.resolve(file);
    var url = URL.createObjectURL(file);
    return loadImage(url).then(function (img) {
      var w = img.naturalWidth, h = img.naturalHeight, long = Math.max(w, h);
      if (long <= MAX_SIDE && file.size <= SEND_AS_IS && file.type === "image/jpeg") return file;
      var scale = Math.min(1, MAX_SIDE / long);
      var canvas = document.createElement("canvas");
      canvas.width = Math.round(w * scale);
      canvas.height = Math.round(h * scale);
      canvas.getContext("2d").drawImage(img, 0, 0, canvas.width, canvas.height);
      return new Promise(function (r) { canvas.toBlob(r, "image/jpeg", 0.85); }).then(function (blob) {
        if (!blob) return file;
        var exif = file.type === "image/jpeg" ? exifSegment(file) : Promise.resolve(null);
        return exif.then(function (seg) {
          var parts = seg ? [blob.slice(0, 2), seg, blob.slice(2)] : [blob];
          var name = (file.name || "photo").replace(/\.[^.]*$/, "") + ".jpg";
          return new File(parts, name, { type: "image/jpeg" });
        });
      });
    }).catch(function () { return file; }).finally(function () { URL.revokeObjectURL(url); });
  }

  function Refused(message) { this.message = message; }

  function detailText(detail) {
    if (typeof detail === "string") return detail;
    if (detail && detail.message) return detail.message;
    return msg("upload-failed", "Upload failed");
  }

  // One photo, one request; network failures and 5xx are retried with backoff, a refusal is not.
  function upload(file) {
    var attempt = 0;
    function once() {
      var body = new FormData();
      body.append("file", file, file.name || "photo.jpg");
      return fetch("/api/v1/photos", {
        method: "POST", body: body, credentials: "same-origin", headers: { "x-csrftoken": csrf() }
      }).then(function (r) {
        if (r.ok) return r.json();
        if (r.status >= 400 && r.status < 500 && r.status !== 408 && r.status !== 429) {
          return r.json().catch(function () { return {}; }).then(function (d) { throw new Refused(detailText(d.detail)); });
        }
        throw new Error("HTTP " + r.status);
      }).catch(function (err) {
        if (err instanceof Refused || attempt >= RETRIES) throw err;
        attempt += 1;
        return sleep(1000 * Math.pow(2, attempt - 1)).then(once);
      });
    }
    return once();
  }

  function saveItem(fieldset) { htmx.trigger(fieldset, "change"); }

  function removable(figure, fieldset) {
    var keep = figure.querySelector(".keep");
    if (keep) keep.hidden = true;
    if (figure.querySelector(".remove")) return;
    var btn = document.createElement("button");
    btn.type = "button";
    btn.className = "remove";
    btn.setAttribute("aria-label", msg("remove", "Remove"));
    btn.textContent = "×";
    btn.addEventListener("click", function () { figure.remove(); saveItem(fieldset); });
    figure.appendChild(btn);
  }

  function addPhotos(input) {
    var itemId = input.getAttribute("data-camera");
    var fieldset = document.getElementById("item-" + itemId);
    var box = fieldset.querySelector("[data-photos]");
    Array.prototype.forEach.call(input.files, function (file) {
      var figure = document.createElement("figure");
      figure.className = "uploading";
      var note = document.createElement("figcaption");
      note.textContent = msg("uploading", "Uploading…");
      figure.appendChild(note);
      box.appendChild(figure);
      pendingUploads += 1;
      downscale(file).then(upload).then(function (photo) {
        figure.className = "";
        figure.setAttribute("data-photo", photo.id);
        var img = document.createElement("img");
        img.src = photo.thumb_url;
        img.alt = msg("photo", "Photo");
        var keep = document.createElement("input");
        keep.type = "checkbox";
        keep.name = "photo-" + itemId;
        keep.value = photo.id;
        keep.checked = true;
        keep.hidden = true;
        figure.replaceChildren(img, keep);
        removable(figure, fieldset);
        saveItem(fieldset);
      }).catch(function (err) {
        figure.className = "failed";
        note.textContent = (err && err.message) || msg("upload-failed", "Upload failed");
        var dismiss = document.createElement("button");
        dismiss.type = "button";
        dismiss.className = "remove";
        dismiss.textContent = "×";
        dismiss.addEventListener("click", function () { figure.remove(); });
        figure.appendChild(dismiss);
      }).finally(function () { pendingUploads -= 1; });
    });
    input.value = "";  // sent by the uploads above, not again with the form
  }

  function setupFill() {
    var form = document.getElementById("answers");
    if (!form) return;
    // Photos go up one by one through the API as soon as they are taken: no upload buttons.
    document.querySelectorAll(".no-js").forEach(function (el) { el.hidden = true; });
    setupSignature(document);
    sendPending().then(function (sent) { if (sent) location.reload(); });
    locate();
    // Capture phase: the item's htmx autosave must not see the file input's change.
    document.addEventListener("change", function (e) {
      if (e.target.matches && e.target.matches("input[data-camera]")) {
        e.stopPropagation();
        if (e.target.files && e.target.files.length) addPhotos(e.target);
      }
    }, true);
    form.querySelectorAll("[data-photo]").forEach(function (figure) {
      removable(figure, figure.closest("fieldset"));
    });
    form.addEventListener("submit", function (e) {
      if (pendingUploads > 0) {
        e.preventDefault();
        alert(msg("wait-uploads", "Photos are still uploading."));
        return;
      }
      if (form.dataset.busy) { e.preventDefault(); return; }
      form.dataset.busy = "1";
    });
  }

  /* --- the site representative's signature, drawn with a finger ------------------------- */

  function setupSignature(root) {
    var card = root.querySelector("[data-signature-card]");
    if (!card || card.dataset.ready) return;
    card.dataset.ready = "1";
    card.hidden = false;  // drawing needs this script
    var canvas = card.querySelector("[data-signature-pad]");
    if (!canvas) return;
    var ctx = canvas.getContext("2d"), drawing = false, drawn = false;
    ctx.lineWidth = 3; ctx.lineCap = "round"; ctx.strokeStyle = "#111";
    function at(e) {
      var r = canvas.getBoundingClientRect();
      return [(e.clientX - r.left) * canvas.width / r.width, (e.clientY - r.top) * canvas.height / r.height];
    }
    canvas.addEventListener("pointerdown", function (e) {
      drawing = true; drawn = true; canvas.setPointerCapture(e.pointerId);
      var p = at(e); ctx.beginPath(); ctx.moveTo(p[0], p[1]);
    });
    canvas.addEventListener("pointermove", function (e) {
      if (!drawing) return;
      var p = at(e); ctx.lineTo(p[0], p[1]); ctx.stroke();
    });
    canvas.addEventListener("pointerup", function () { drawing = false; });
    card.querySelector("[data-signature-clear]").addEventListener("click", function () {
      ctx.clearRect(0, 0, canvas.width, canvas.height); drawn = false;
    });
    card.querySelector("[data-signature-save]").addEventListener("click", function (e) {
      if (!drawn) return;
      var button = e.target, form = card.querySelector("[data-signature-form]");
      button.disabled = true;
      // White background: a transparent PNG would turn black in the JPEG copies.
      var flat = document.createElement("canvas");
      flat.width = canvas.width; flat.height = canvas.height;
      var fctx = flat.getContext("2d");
      fctx.fillStyle = "#fff"; fctx.fillRect(0, 0, flat.width, flat.height); fctx.drawImage(canvas, 0, 0);
      new Promise(function (r) { flat.toBlob(r, "image/png"); }).then(function (blob) {
        return upload(new File([blob], "signature.png", { type: "image/png" }));
      }).then(function (photo) {
        form.querySelector("[name=photo_id]").value = photo.id;
        htmx.trigger(form, "submit");
      }).catch(function (err) {
        button.disabled = false;
        alert((err && err.message) || msg("upload-failed", "Upload failed"));
      });
    });
  }
  document.addEventListener("htmx:load", function (e) { setupSignature(e.detail.elt.parentNode || document); });

  /* --- autosave: show refusals in place, retry when the network fails ---------------------- */

  var retryTimer = null;
  function scheduleRetry() {
    if (retryTimer) return;
    retryTimer = setTimeout(function () {
      retryTimer = null;
      document.querySelectorAll("fieldset.unsaved").forEach(saveItem);
    }, 5000);
  }
  window.addEventListener("online", function () {
    document.querySelectorAll("fieldset.unsaved").forEach(saveItem);
  });

  // Typing is saved after a pause too, not only when the field loses focus: a phone that
  // locks or runs out of battery mid-sentence keeps what was typed.
  var typingTimers = new WeakMap();
  document.addEventListener("input", function (e) {
    var field = e.target;
    if (!field.matches || !field.matches("fieldset.item textarea, fieldset.item input[type=text], fieldset.item input[type=number]")) return;
    var fieldset = field.closest("fieldset.item");
    clearTimeout(typingTimers.get(fieldset));
    typingTimers.set(fieldset, setTimeout(function () { saveItem(fieldset); }, 1500));
  });

  document.addEventListener("htmx:beforeSwap", function (e) {
    if (e.detail.xhr.status === 422) { e.detail.shouldSwap = true; e.detail.isError = false; }
  });
  // An answer that could not be sent is also kept in the phone's storage, so that closing the
  // page while offline loses nothing: the next visit sends it before showing the checklist.
  var PENDING = "inspect:pending:";
  function itemFields(fieldset) {
    var itemId = fieldset.id.slice(5), body = new URLSearchParams();
    new FormData(fieldset.form).forEach(function (value, name) {
      if (typeof value === "string" && name.slice(-itemId.length - 1) === "-" + itemId) body.append(name, value);
    });
    return body.toString();
  }
  function keep(fieldset, lost) {
    var key = PENDING + fieldset.getAttribute("hx-post");
    try {
      if (lost) localStorage.setItem(key, itemFields(fieldset)); else localStorage.removeItem(key);
    } catch (e) { /* storage full or disabled: the retry timer still runs */ }
  }
  function sendPending() {
    var sends = [];
    for (var i = localStorage.length - 1; i >= 0; i--) {
      var key = localStorage.key(i);
      if (!key || key.indexOf(PENDING) !== 0) continue;
      sends.push(fetch(key.slice(PENDING.length), {
        method: "POST", credentials: "same-origin", body: new URLSearchParams(localStorage.getItem(key)),
        headers: { "x-csrftoken": csrf(), "HX-Request": "true" }
      }).then(function (key, r) {
        if (r.status < 500) localStorage.removeItem(key);  // stored, or refused for good
        return r.ok;
      }.bind(null, key)).catch(function () { return false; }));
    }
    return Promise.all(sends).then(function (done) { return done.indexOf(true) >= 0; });
  }

  document.addEventListener("htmx:afterRequest", function (e) {
    var fieldset = e.detail.elt;
    if (!fieldset || !fieldset.classList || !fieldset.classList.contains("item")) return;
    var status = e.detail.xhr ? e.detail.xhr.status : 0;
    var lost = !e.detail.successful && (status === 0 || status >= 500);
    fieldset.classList.toggle("unsaved", lost);
    keep(fieldset, lost);
    if (lost) {
      var box = document.getElementById("status-" + fieldset.id.slice(5));
      if (box) box.innerHTML = '<span class="field-error">' + msg("not-saved", "Not saved yet: will retry") + "</span>";
      scheduleRetry();
    }
  });
  document.addEventListener("htmx:afterSwap", function (e) {
    var status = e.detail.target;
    if (!status || !status.id || status.id.indexOf("status-") !== 0) return;
    var box = document.getElementById(status.id);
    var fieldset = box && box.closest("fieldset.item");
    if (fieldset) {
      fieldset.classList.toggle("is-fail", box.getAttribute("data-result") === "fail");
      fieldset.classList.toggle("has-error", !!box.querySelector(".field-error"));
    }
  });

  document.addEventListener("click", function (e) {
    if (e.target.matches && e.target.matches("[data-print]")) window.print();
  });

  function setup() { setupStart(); setupFill(); }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", setup); else setup();
})();
