// Hazard page: the small pin map; the officer's plan, rectification (with after-photos through
// the shared photo widget), acceptance and rejection go through the outbox, so that they work
// offline and survive a reload. A refusal (e.g. 409: another officer moved the hazard first)
// is shown in words and what the officer typed stays in the form.
// Data comes from data-* attributes (no inline script under our CSP). Without this file the
// page still works: the map is missing and the forms post as they are.
(function () {
  "use strict";

  var Outbox = window.InspectOutbox;

  function initMap() {
    var el = document.getElementById("hazard-map");
    if (!el || !window.L || el.dataset.ready) return;
    el.dataset.ready = "1";
    var point = [parseFloat(el.dataset.lat), parseFloat(el.dataset.lon)];
    var map = L.map(el, { scrollWheelZoom: false, attributionControl: !!el.dataset.tileUrl }).setView(point, 14);
    if (el.dataset.tileUrl) {
      L.tileLayer(el.dataset.tileUrl, { attribution: el.dataset.tileAttribution || "", maxZoom: 18 }).addTo(map);
    }
    if (el.dataset.boundary) {  // the district outline shows where the pin lies
      var outline = L.geoJSON(JSON.parse(el.dataset.boundary), {
        style: { color: "#1456b8", weight: 2, fillColor: "#dce8fb", fillOpacity: 0.5 }
      }).addTo(map);
      map.fitBounds(outline.getBounds().extend(point), { padding: [12, 12] });
    }
    L.circleMarker(point, { radius: 9, color: "#fff", weight: 2, fillColor: "#c62828", fillOpacity: 1 }).addTo(map);
  }

  function actionOf(form) {
    var m = (form.getAttribute("action") || "").match(/^\/hazards\/\d+\/(plan|rectify|accept|reject)$/);
    return m ? m[1] : null;
  }

  function note(form, text, error) {
    var p = form.querySelector("[data-outbox-state]");
    if (!p) {
      p = document.createElement("p");
      p.setAttribute("data-outbox-state", "");
      p.setAttribute("role", "status");
      form.prepend(p);
    }
    p.className = error ? "alert" : "notice";
    p.textContent = text;
  }

  // What the officer typed comes back into the form until the server has it.
  function refill(form, entry) {
    Outbox.refill(form, entry.fields);
    var details = form.closest("details");
    if (details) details.open = true;
  }

  var bound = null;  // {root, group, forms, title}

  // (Re)binds the hazard block: after each acknowledged step the server's new block replaces it.
  function bind() {
    initMap();
    var root = document.querySelector("[data-hazard]");
    if (!root || !Outbox) return;
    var id = root.getAttribute("data-hazard"), group = "hazard:" + id, page = "/hazards/" + id;
    var title = (root.querySelector("h1") || {}).textContent || "";
    var widget = null;
    var rectify = document.getElementById("rectify-form");
    if (rectify && window.InspectPhotos) {
      widget = new InspectPhotos.Widget({
        input: rectify.querySelector("input[data-upload]"), box: rectify.querySelector("[data-uploaded]"),
        group: group, field: "photo_ids", label: title, page: page,
      });
    }
    var forms = {};
    root.querySelectorAll("form").forEach(function (f) { var a = actionOf(f); if (a) forms[a] = f; });
    bound = { root: root, group: group, forms: forms, title: title, page: page };

    Outbox.entries().then(function (list) {
      var mine = list.filter(function (e) { return e.group === group; });
      mine.forEach(function (e) {
        // Photos still waiting, or waiting with the rectification they belong to.
        if (e.kind === "photo" && widget) widget.restore(e);
        if (e.barrier && e.state !== "done" && forms[e.kind]) {
          refill(forms[e.kind], e);
          note(forms[e.kind], e.state === "refused" ? e.error : Outbox.msg("saved-phone", "Saved on the phone"), e.state === "refused");
        }
      });
    });
  }

  function swap(html) {
    var doc = new DOMParser().parseFromString(html, "text/html");
    var fresh = doc.getElementById("hazard");
    if (!fresh || !bound) return;
    bound.root.replaceWith(document.importNode(fresh, true));
    bind();
  }

  function setup() {
    if (!Outbox) { initMap(); return; }
    bind();
    Outbox.on(function (event) {
      var e = event.entry;
      if (!e || !bound || e.group !== bound.group || !e.barrier) return;
      var form = bound.forms[e.kind];
      if (event.type === "refused" && form) note(form, e.error, true);
      if (event.type === "ack") swap(event.response.body);  // the hazard moved on: its new block
    });

    // Capture phase: the write goes to the outbox, not to htmx's own request.
    document.addEventListener("submit", function (e) {
      var form = e.target, action = actionOf(form);
      if (!action || !bound || !bound.root.contains(form)) return;
      e.preventDefault();
      e.stopPropagation();
      var group = bound.group;
      Outbox.entries().then(function (list) {
        // A refused earlier try of the same step is replaced by this one.
        return Promise.all(list.filter(function (x) { return x.group === group && x.kind === action && x.state === "refused"; })
          .map(function (x) { return Outbox.discard(x.id); }));
      }).then(function () {
        return Outbox.add({ group: group, kind: action, barrier: true, url: form.getAttribute("action"),
                            fields: Outbox.formFields(form), headers: { "HX-Request": "true" },
                            label: bound.title, page: bound.page });
      }).then(function () {
        note(form, Outbox.msg("saved-phone", "Saved on the phone"));
      });
    }, true);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", setup); else setup();
})();
