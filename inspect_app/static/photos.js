/* The one photo widget, for the inspector's items and the officer's after-photos.
   A photo is downscaled in the browser (long side 2048 px, EXIF orientation applied, capture
   time and GPS kept), previewed at once, and queued in the outbox with its sha256; the widget
   shows its state from the outbox: waiting, uploading with a percentage, uploaded, will retry,
   or refused with the reason. Removing takes a 44 px button and can be undone for a while.
   Messages come from data-msg-* attributes on #sync-status (translated by the server). */
(function () {
  "use strict";

  var MAX_SIDE = 2048;          // long side of a downscaled photo
  var SEND_AS_IS = 1.5e6;       // smaller JPEGs within MAX_SIDE go unchanged
  var UNDO_MS = 6000;           // how long a removed photo can be brought back
  var Outbox = window.InspectOutbox;
  function msg(name, fallback) { return Outbox.msg(name, fallback); }

  /* --- downscaling -------------------------------------------------------------------------- */

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

  // Anything the browser cannot decode (e.g. HEIC) goes as it is: the server judges it.
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
          return new Blob(parts, { type: "image/jpeg" });
        });
      });
    }).catch(function () { return file; }).finally(function () { URL.revokeObjectURL(url); });
  }

  function sha256(blob) {
    if (!window.crypto || !crypto.subtle) return Promise.resolve(null);  // not a secure origin
    return blob.arrayBuffer().then(function (buf) { return crypto.subtle.digest("SHA-256", buf); })
      .then(function (d) {
        return Array.prototype.map.call(new Uint8Array(d), function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
      }).catch(function () { return null; });
  }

  function newKey() {
    return window.crypto && crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random().toString(16).slice(2);
  }

  /* --- the widget ----------------------------------------------------------------------------- */

  /* options: input (file input), box (where figures go), group, item, label, page,
     then(key) -> second step after the upload or null, field (name of a hidden input that carries
     the photo into a form, e.g. "photo_ids"), removed(figure) when a kept photo is removed. */
  function Widget(options) {
    this.o = options;
    this.figures = {};  // photo key -> figure
    var self = this;
    options.input.addEventListener("change", function (e) {
      e.stopPropagation();
      var files = Array.prototype.slice.call(options.input.files || []);
      options.input.value = "";  // queued below, never sent again with the form
      files.forEach(function (f) { self.take(f); });
    }, true);
    Outbox.on(function (event) { self.update(event); });
    options.box.querySelectorAll("figure[data-photo]").forEach(function (fig) { self.removable(fig); });
  }

  Widget.prototype.take = function (file) {
    var self = this, o = this.o, key = newKey();
    var fig = this.figure(key, null);
    this.state(fig, "queued");
    return downscale(file).then(function (blob) {
      fig.querySelector("img").src = URL.createObjectURL(blob);
      return sha256(blob).then(function (hash) {
        var name = (file.name || "photo").replace(/\.[^.]*$/, "") + (blob.type === "image/jpeg" ? ".jpg" : "");
        return Outbox.add({
          group: o.group, kind: "photo", item: o.item, key: key, label: o.label, page: o.page,
          url: "/api/v1/photos", fields: [], file: blob, fileName: name || "photo.jpg", sha256: hash,
          then: o.then ? o.then(key) : null,
        });
      });
    }).then(function (entry) {
      fig.setAttribute("data-entry", entry.id);
      if (o.changed) o.changed();
    });
  };

  Widget.prototype.figure = function (key, src) {
    var fig = document.createElement("figure");
    fig.className = "photo-item";
    fig.setAttribute("data-key", key);
    var img = document.createElement("img");
    img.alt = msg("photo", "Photo");
    if (src) img.src = src;
    var cap = document.createElement("figcaption");
    cap.setAttribute("aria-live", "polite");
    var bar = document.createElement("progress");
    bar.max = 100;
    bar.hidden = true;
    fig.append(img, bar, cap);
    if (this.o.field) {
      var input = document.createElement("input");
      input.type = "hidden";
      input.name = this.o.field;
      input.value = "$photo:" + key;
      fig.append(input);
    }
    this.o.box.appendChild(fig);
    this.figures[key] = fig;
    this.removable(fig);
    return fig;
  };

  Widget.prototype.state = function (fig, state, pct, why) {
    var cap = fig.querySelector("figcaption"), bar = fig.querySelector("progress");
    fig.setAttribute("data-state", state);
    bar.hidden = state !== "uploading";
    if (state === "uploading") bar.value = pct || 0;
    var text = {
      queued: msg("photo-queued", "Waiting to upload"),
      uploading: Outbox.fmt(msg("photo-uploading", "Uploading {pct}"), { pct: (pct || 0) + "%" }),
      done: msg("photo-done", "Uploaded"),
      retry: msg("photo-retry", "Not sent yet: will retry"),
      refused: why || msg("upload-failed", "Upload failed"),
    }[state];
    cap.textContent = text || "";
    if (cap) cap.className = state === "refused" ? "field-error" : "";
  };

  // Follows the outbox: each photo of this widget shows where it stands.
  Widget.prototype.update = function (event) {
    var e = event.entry;
    if (!e || e.kind !== "photo" || !e.key || !this.figures[e.key]) return;
    var fig = this.figures[e.key];
    if (event.type === "progress") this.state(fig, event.pct >= 100 && e.step ? "done" : "uploading", event.pct);
    else if (event.type === "sending" && !e.step) this.state(fig, "uploading", 0);
    else if (event.type === "ack") this.done(fig, e);
    else if (event.type === "refused") this.state(fig, "refused", 0, e.error);
    else if (e.error === "retry") this.state(fig, "retry");
  };

  Widget.prototype.done = function (fig, e) {
    this.state(fig, "done");
    if (e.result) fig.setAttribute("data-photo", e.result.id);
    var input = fig.querySelector("input[type=hidden]");
    if (input && e.result) input.value = e.result.id;
  };

  // A photo still in the outbox (after a reload, offline): its blob is the preview.
  Widget.prototype.restore = function (entry) {
    if (this.figures[entry.key] || entry.removed) return;
    if (entry.result && this.o.box.querySelector('figure[data-photo="' + entry.result.id + '"]')) return;
    var src = entry.file ? URL.createObjectURL(entry.file) : entry.result ? entry.result.thumb_url : null;
    var fig = this.figure(entry.key, src);
    fig.setAttribute("data-entry", entry.id);
    if (entry.state === "done") this.done(fig, entry);
    else if (entry.state === "refused") this.state(fig, "refused", 0, entry.error);
    else if (entry.step) this.state(fig, "done");
    else this.state(fig, entry.attempts ? "retry" : "queued");
  };

  Widget.prototype.removable = function (fig) {
    var self = this;
    var keep = fig.querySelector(".keep");
    if (keep) keep.hidden = true;
    if (fig.querySelector(".remove")) return;
    var btn = document.createElement("button");
    btn.type = "button";
    btn.className = "remove";
    btn.setAttribute("aria-label", msg("remove", "Remove photo"));
    btn.textContent = "×";
    btn.addEventListener("click", function () { self.remove(fig); });
    fig.appendChild(btn);
  };

  // Hidden at once, gone for good only when the undo has not been used in time.
  Widget.prototype.remove = function (fig) {
    var self = this;
    fig.hidden = true;
    var input = fig.querySelector("input");
    if (input) input.disabled = true;
    var undo = document.createElement("p");
    undo.className = "undo";
    undo.setAttribute("role", "status");
    var again = document.createElement("button");
    again.type = "button";
    again.className = "btn";
    again.textContent = msg("undo", "Undo");
    undo.append(msg("removed", "Photo removed"), " ", again);
    fig.after(undo);
    var timer = setTimeout(function () {
      undo.remove();
      self.forget(fig);
    }, UNDO_MS);
    again.addEventListener("click", function () {
      clearTimeout(timer);
      undo.remove();
      fig.hidden = false;
      if (input) input.disabled = false;
    });
  };

  Widget.prototype.forget = function (fig) {
    var self = this, id = Number(fig.getAttribute("data-entry") || 0), key = fig.getAttribute("data-key");
    delete this.figures[key];
    fig.remove();
    var photo = fig.getAttribute("data-photo");
    var drop = Promise.resolve();
    if (id) drop = Outbox.discard(id);  // not sent yet: never sent; sent: the server is told below
    drop.then(function () { if (photo && self.o.removed) self.o.removed(photo); if (self.o.changed) self.o.changed(); });
  };

  window.InspectPhotos = { Widget: Widget, downscale: downscale, sha256: sha256, newKey: newKey };
})();
