/* Inspector pages: location, starting (also offline), answering, photos, signature and submitting,
   all through the outbox (outbox.js), so that nothing waits on the network and nothing is lost
   to it. Every page works without this file as plain forms; this file only helps.
   Every write is addressed by the inspection's client_uuid, which the phone makes when it
   starts: the server creates the inspection when the start arrives, perhaps hours later. */
(function () {
  "use strict";

  var Outbox = window.InspectOutbox;
  // Online, a submit normally returns by then; otherwise the phone goes home and says it waits.
  var SUBMIT_WAIT_MS = (window.InspectOutboxConfig || {}).submitWaitMs || 6000;
  function msg(name, fallback) { return Outbox.msg(name, fallback); }

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
  function geoFields() {
    var lat = document.querySelector("[data-geo=lat]"), lon = document.querySelector("[data-geo=lon]");
    return [["lat", lat ? lat.value : ""], ["lon", lon ? lon.value : ""]];
  }

  /* --- the start page ------------------------------------------------------------------- */

  // The inspection's id, made here (the page kept on the phone carries none, see form_nonce).
  function newUuid() {
    if (crypto.randomUUID) return crypto.randomUUID();  // a secure page, browsers since 2022
    var b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 15) | 64;  // version 4
    b[8] = (b[8] & 63) | 128;  // the variant
    var h = Array.prototype.map.call(b, function (x) { return (x + 256).toString(16).slice(1); }).join("");
    return [h.slice(0, 8), h.slice(8, 12), h.slice(12, 16), h.slice(16, 20), h.slice(20)].join("-");
  }

  function setupStart() {
    var search = document.querySelector(".site-search");
    var start = document.querySelector("[data-start]");
    if (!start) return;
    var nearest = search && search.querySelector("[data-nearest]");
    if (navigator.geolocation && nearest) {
      nearest.hidden = false;
      nearest.addEventListener("click", function () { locate(function () { htmx.trigger(search, "submit"); }); });
      if (navigator.permissions) {
        navigator.permissions.query({ name: "geolocation" }).then(function (p) {
          if (p.state === "granted" && !search.querySelector("[data-geo=lat]").value) {
            locate(function () { if (navigator.onLine) htmx.trigger(search, "submit"); });
          }
        }).catch(function () {});
      }
    }
    start.addEventListener("submit", function (e) {
      e.preventDefault();
      if (start.dataset.busy) return;
      var site = start.querySelector("input[name=site_id]:checked");
      var template = start.querySelector("input[name=template_id]:checked") || start.querySelector("input[type=hidden][name=template_id]");
      if (!site || !template) return;
      start.dataset.busy = "1";
      var uuid = newUuid();
      var version = template.getAttribute("data-version");
      var siteName = site.closest("label").querySelector("strong").textContent;
      var page = "/inspections/c/" + uuid + "?v=" + version + "&site=" + site.value;
      Outbox.saveDraft({
        uuid: uuid, versionId: version, siteId: site.value, siteName: siteName,
        template: template.getAttribute("data-name") || "", started: Date.now(), page: page,
      }).then(function () {
        return Outbox.add({
          group: uuid, kind: "start", barrier: true, url: "/inspections/new", label: siteName, page: page,
          fields: [["site_id", site.value], ["template_id", template.value], ["version_id", version],
                   ["client_uuid", uuid], ["queued", "1"]].concat(geoFields()),
        });
      }).then(function () { location.href = page; }, function () { start.dataset.busy = ""; });
    });
  }

  /* --- the checklist ---------------------------------------------------------------------- */

  var fill = null;  // {ref, root, page, label}

  function refOf(root) {
    var ref = root.getAttribute("data-ref");
    if (ref) return ref;
    var m = location.pathname.match(/^\/inspections\/c\/([^/]+)$/);
    return m ? decodeURIComponent(m[1]) : "";
  }

  function pageUrl(section, extra) {
    var url = new URL(location.href);
    url.searchParams.delete("problems");
    if (section) url.searchParams.set("section", section);
    if (extra) url.searchParams.set(extra, "1");
    return url.pathname + url.search;
  }

  function itemFields(fieldset) {
    var itemId = fieldset.id.slice(5), out = [];
    fieldset.querySelectorAll("input, select, textarea").forEach(function (el) {
      if (!el.name || el.disabled || el.type === "file" || el.type === "hidden") return;
      if ((el.type === "radio" || el.type === "checkbox") && !el.checked) return;
      if (/^photos?-/.test(el.name)) return;  // photos travel on their own
      if (el.name.slice(-itemId.length - 1) === "-" + itemId) out.push([el.name, el.value]);
    });
    return out;
  }

  function statusBox(itemId) { return document.getElementById("status-" + itemId); }
  function showStatus(itemId, text, error) {
    var box = statusBox(itemId);
    if (!box) return;
    var span = document.createElement("span");
    span.className = error ? "field-error" : "saved local";
    span.textContent = text;
    box.replaceChildren(span);
  }

  function promptOf(fieldset) {
    var legend = fieldset.querySelector("legend");
    return legend ? legend.firstChild.textContent.trim().slice(0, 40) : "";
  }

  function answerEntry(fieldset) {
    var itemId = fieldset.id.slice(5);
    return {
      group: fill.ref, kind: "answer", item: itemId, url: "/inspections/" + fill.ref + "/answers/" + itemId,
      fields: itemFields(fieldset), headers: { "HX-Request": "true" },
      label: fill.label + " · " + promptOf(fieldset), page: pageUrl(fill.section),
    };
  }

  function queueAnswer(fieldset) {
    clearTimeout(typing.get(fieldset));
    typing.delete(fieldset);
    fieldset.classList.toggle("is-fail", !!fieldset.querySelector("input[value=fail]:checked"));
    showStatus(fieldset.id.slice(5), msg("saved-phone", "Saved on the phone"));
    return Outbox.add(answerEntry(fieldset));
  }

  var typing = new Map();
  function queueAll() {
    var pending = [];
    typing.forEach(function (t, fieldset) { pending.push(queueAnswer(fieldset)); });
    return Promise.all(pending);
  }

  // What the phone holds for this inspection (sent or not) is newer than a page kept offline.
  function overlay(entries) {
    var latest = {};
    entries.forEach(function (e) { if (e.kind === "answer") latest[e.item] = e; });
    Object.keys(latest).forEach(function (itemId) {
      var fieldset = document.getElementById("item-" + itemId), e = latest[itemId];
      if (!fieldset) return;
      var values = {};
      e.fields.forEach(function (f) { values[f[0]] = f[1]; });
      fieldset.querySelectorAll("input, select, textarea").forEach(function (el) {
        if (!el.name || el.type === "file" || el.type === "hidden" || /^photos?-/.test(el.name)) return;
        if (el.type === "radio" || el.type === "checkbox") el.checked = values[el.name] === el.value;
        else if (el.name in values) el.value = values[el.name];
        else if (el.tagName !== "SELECT") el.value = "";
      });
      fieldset.classList.toggle("is-fail", values["result-" + itemId] === "fail");
      if (e.state === "refused") showStatus(itemId, e.error, true);
      else if (e.state !== "done") showStatus(itemId, msg("saved-phone", "Saved on the phone"));
      else if (!statusBox(itemId).querySelector(".saved")) showStatus(itemId, "✓ " + msg("saved", "Saved"));
    });
  }

  // The server's answer to a saved item: its status and the section progress, swapped in.
  function applyFragment(html) {
    var doc = new DOMParser().parseFromString(html, "text/html");
    // Out-of-band parts (the progress, the answered count) sit inside the status in the fragment.
    doc.querySelectorAll("[hx-swap-oob]").forEach(function (node) {
      node.remove();
      var here = document.getElementById(node.id);
      if (here) here.replaceWith(document.importNode(node, true));
    });
    doc.querySelectorAll("[id^=status-]").forEach(function (node) {
      var here = document.getElementById(node.id);
      if (here) here.replaceWith(document.importNode(node, true));
    });
    fixSectionLinks();
  }

  function fixSectionLinks() {
    document.querySelectorAll("a[data-section]").forEach(function (a) {
      a.href = pageUrl(a.getAttribute("data-section"));
    });
  }

  function setupFill() {
    var root = document.querySelector("[data-fill]");
    var form = document.getElementById("answers");
    if (!root || !form) return;
    var ref = refOf(root);
    if (!ref) return;
    fill = { ref: ref, root: root, section: root.getAttribute("data-section"),
             label: (root.querySelector("h1") || {}).textContent || "" };
    document.querySelectorAll(".no-js").forEach(function (el) { el.hidden = true; });
    fixSectionLinks();
    locate();
    Outbox.draft(ref).then(function (d) {
      var h1 = root.querySelector("h1");
      if (d && h1 && !h1.textContent.trim()) { h1.textContent = d.siteName; fill.label = d.siteName; }
    });

    var widgets = {};
    form.querySelectorAll("fieldset.item").forEach(function (fieldset) {
      var itemId = fieldset.id.slice(5);
      var input = fieldset.querySelector("input[data-camera]");
      if (!input) return;
      widgets[itemId] = new InspectPhotos.Widget({
        input: input, box: fieldset.querySelector("[data-photos]"), group: ref, item: itemId,
        label: fill.label + " · " + promptOf(fieldset), page: pageUrl(fill.section),
        then: function (key) {
          return { url: "/inspections/" + ref + "/answers/" + itemId + "/photos", fields: [["photo_id", "$photo:" + key]] };
        },
        removed: function (photoId) {
          Outbox.add({ group: ref, kind: "remove", item: itemId, url: "/inspections/" + ref + "/answers/" + itemId + "/photos",
                       fields: [["remove", photoId]], label: fill.label, page: pageUrl(fill.section) });
        },
      });
    });

    Outbox.entries().then(function (list) {
      var mine = list.filter(function (e) { return e.group === ref; });
      overlay(mine);
      var removed = {};
      mine.forEach(function (e) {
        if (e.kind === "remove") removed[e.fields[0][1]] = true;
      });
      mine.forEach(function (e) {
        if (e.kind === "photo" && widgets[e.item]) widgets[e.item].restore(e);
      });
      form.querySelectorAll("figure[data-photo]").forEach(function (fig) {
        if (removed[fig.getAttribute("data-photo")]) fig.remove();
      });
      var signed = mine.filter(function (e) { return e.kind === "signature"; }).pop();
      if (signed) showSignature(signed);
      // A submit the server refused (incomplete): this page shows what is missing; the submit
      // button sends it again. Until then it must not hold back the answers that fix it.
      mine.forEach(function (e) {
        if (e.kind === "submit" && e.state === "refused") {
          Outbox.discard(e.id);
          Outbox.draft(ref).then(function (d) { if (d) { d.submitted = 0; Outbox.saveDraft(d); } });
        }
      });
    });

    Outbox.on(function (event) {
      var e = event.entry;
      if (e && e.group === ref && e.kind === "signature" && event.type === "ack") showSignature(e);
      if (!e || e.group !== ref || e.kind !== "answer") return;
      if (event.type === "ack" && event.response && event.response.type.indexOf("html") >= 0) applyFragment(event.response.body);
      else if (event.type === "refused") showStatus(e.item, e.error, true);
      else if (event.type === "ack") showStatus(e.item, "✓ " + msg("saved", "Saved"));
    });

    // Every answer is queued as it is given: on change, and after a pause in typing.
    form.addEventListener("change", function (e) {
      var fieldset = e.target.closest && e.target.closest("fieldset.item");
      if (!fieldset || e.target.type === "file" || /^photos?-/.test(e.target.name || "")) return;
      queueAnswer(fieldset);
    });
    form.addEventListener("input", function (e) {
      var field = e.target;
      if (!field.matches("textarea, input[type=text], input[type=number]")) return;
      var fieldset = field.closest("fieldset.item");
      if (!fieldset) return;
      Outbox.snapshot(answerEntry(fieldset));  // kept even if the page dies before the pause ends
      clearTimeout(typing.get(fieldset));
      typing.set(fieldset, setTimeout(function () { queueAnswer(fieldset); }, 1200));
    });
    // Leaving or hiding the page keeps what was being typed (a reload, a locked phone).
    window.addEventListener("pagehide", queueAll);
    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "hidden") queueAll();
    });
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      var submitter = e.submitter;
      if (submitter && submitter.name === "go") {
        queueAll().then(function () { location.href = pageUrl(submitter.value); });
      } else if (submitter && submitter.hasAttribute("data-submit")) {
        submit(submitter);
      }
    });
    setupSignature(root, ref);
  }

  function submit(button) {
    if (button.dataset.busy) return;
    button.dataset.busy = "1";
    var ref = fill.ref;
    queueAll().then(function () {
      return Outbox.draft(ref).then(function (d) {
        if (d) { d.submitted = Date.now(); return Outbox.saveDraft(d); }
      });
    }).then(function () {
      return Outbox.add({ group: ref, kind: "submit", barrier: true, url: "/inspections/" + ref + "/submit",
                          fields: geoFields(), label: fill.label, page: pageUrl(null, "problems") });
    }).then(function (entry) {
      var left = false;
      function go(url) { if (!left) { left = true; location.href = url; } }
      Outbox.on(function (event) {
        if (!event.entry || event.entry.id !== entry.id) return;
        if (event.type === "ack") go("/inspections/" + ref + "/done");
        if (event.type === "refused") go(pageUrl(null, "problems"));  // discarded on arrival
      });
      setTimeout(function () { go("/inspections?queued=" + encodeURIComponent(ref)); }, SUBMIT_WAIT_MS);
    });
  }

  /* --- the site representative's signature, drawn with a finger ------------------------- */

  // The signature as the phone holds it (its own bytes until the server has them).
  function showSignature(entry) {
    var card = document.querySelector("[data-signature-card]");
    if (!card) return;
    card.querySelector("[data-signature-draw]").hidden = true;
    var again = card.querySelector("[data-signature-again]");
    if (again) again.hidden = false;
    var img = card.querySelector("img.signature-img");
    if (!img) {
      img = document.createElement("img");
      img.className = "signature-img";
      img.alt = msg("signature", "Signature");
      card.querySelector("h2").after(img);
    }
    if (entry.file) img.src = URL.createObjectURL(entry.file);
    else if (entry.result) img.src = entry.result.thumb_url.replace(/\/thumb$/, "");
    img.hidden = false;
    var note = card.querySelector("[data-signature-state]") || document.createElement("p");
    note.setAttribute("data-signature-state", "");
    note.className = "muted";
    note.textContent = entry.state === "done" ? "✓ " + msg("saved", "Saved") : msg("saved-phone", "Saved on the phone");
    img.after(note);
    if (!again) {
      again = document.createElement("button");
      again.type = "button";
      again.className = "btn";
      again.setAttribute("data-signature-again", "");
      again.textContent = card.getAttribute("data-msg-again") || "";
      note.after(again);
    }
  }

  function setupSignature(root, ref) {
    var card = root.querySelector("[data-signature-card]");
    if (!card || card.dataset.ready) return;
    card.dataset.ready = "1";
    card.hidden = false;  // drawing needs this script
    var canvas = card.querySelector("[data-signature-pad]");
    card.addEventListener("click", function (e) {
      if (!e.target.matches("[data-signature-again]")) return;
      e.target.hidden = true;
      card.querySelectorAll("img.signature-img, [data-signature-state]").forEach(function (el) { el.hidden = true; });
      card.querySelector("[data-signature-draw]").hidden = false;
      ctx.clearRect(0, 0, canvas.width, canvas.height); drawn = false;
    });
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
      e.target.disabled = true;
      // White background: a transparent PNG would turn black in the JPEG copies.
      var flat = document.createElement("canvas");
      flat.width = canvas.width; flat.height = canvas.height;
      var fctx = flat.getContext("2d");
      fctx.fillStyle = "#fff"; fctx.fillRect(0, 0, flat.width, flat.height); fctx.drawImage(canvas, 0, 0);
      new Promise(function (r) { flat.toBlob(r, "image/png"); }).then(function (blob) {
        return InspectPhotos.sha256(blob).then(function (hash) {
          var key = InspectPhotos.newKey();
          return Outbox.add({
            group: ref, kind: "signature", key: key, url: "/api/v1/photos", fields: [], file: blob,
            fileName: "signature.png", sha256: hash, label: fill.label, page: pageUrl(fill.section),
            then: { url: "/inspections/" + ref + "/signature", fields: [["photo_id", "$photo:" + key]] },
          });
        });
      }).then(function (entry) { e.target.disabled = false; showSignature(entry); });
    });
  }

  /* --- home: what waits on the phone ------------------------------------------------------ */

  function setupHome() {
    var box = document.querySelector("[data-local-drafts]");
    if (!box) return;
    Promise.all([Outbox.drafts(), Outbox.entries()]).then(function (r) {
      var drafts = r[0], entries = r[1];
      var known = {};
      document.querySelectorAll("[data-uuid]").forEach(function (li) { known[li.getAttribute("data-uuid")] = true; });
      var list = box.querySelector("ul");
      drafts.sort(function (a, b) { return b.started - a.started; }).forEach(function (d) {
        var waiting = entries.some(function (e) { return e.group === d.uuid && e.state !== "done"; });
        if (known[d.uuid] && !waiting) return;
        var li = document.createElement("li");
        var a = document.createElement("a");
        a.href = d.submitted ? "/inspections" : d.page;
        var strong = document.createElement("strong");
        strong.textContent = d.siteName;
        var note = document.createElement("span");
        note.className = "muted";
        note.textContent = d.submitted ? msg("submitted-phone", "Submitted on the phone: waiting to upload")
          : msg("draft-phone", "Started on the phone: waiting to upload");
        a.append(strong, " ", note);
        li.append(a);
        list.append(li);
        var server = document.querySelector('[data-uuid="' + d.uuid + '"]');
        if (server && d.submitted) server.remove();  // submitted on the phone: no longer a draft here
      });
      box.hidden = !list.children.length;
    });
  }

  document.addEventListener("click", function (e) {
    if (e.target.matches && e.target.matches("[data-print]")) window.print();
  });

  function setup() { setupStart(); setupFill(); setupHome(); }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", setup); else setup();
})();
