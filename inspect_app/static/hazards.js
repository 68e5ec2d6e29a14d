// Hazard page: the small pin map, and after-photos uploaded as soon as they are chosen.
// Data comes from data-* attributes (no inline script under our CSP). Without this file the
// page still works: the map is missing and the photos travel with the form.
(function () {
  "use strict";

  function csrfToken() {
    try { return JSON.parse(document.body.getAttribute("hx-headers"))["x-csrftoken"]; }
    catch (e) { return ""; }
  }

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

  function addPhoto(box, photo) {
    var fig = document.createElement("figure");
    var img = document.createElement("img");
    img.src = photo.thumb_url;
    img.alt = "#" + photo.id;
    var input = document.createElement("input");
    input.type = "hidden";
    input.name = "photo_ids";
    input.value = photo.id;
    fig.appendChild(img);
    fig.appendChild(input);
    box.appendChild(fig);
  }

  function upload(input) {
    var form = input.form;
    var box = form.querySelector("[data-uploaded]");
    var status = form.querySelector("[data-upload-status]");
    var button = form.querySelector("button[type=submit]");
    var files = Array.prototype.slice.call(input.files);
    if (!files.length) return;
    button.disabled = true;
    status.textContent = input.dataset.uploading;
    var failures = [];
    Promise.all(files.map(function (file) {
      var body = new FormData();
      body.append("file", file);
      return fetch(input.dataset.upload, {
        method: "POST", body: body, credentials: "same-origin",
        headers: { "x-csrftoken": csrfToken(), "accept": "application/json" }
      }).then(function (r) {
        return r.json().then(function (data) {
          if (r.ok) { addPhoto(box, data); } else { failures.push(file.name + ": " + (data.detail || r.status)); }
        });
      }).catch(function (e) { failures.push(file.name + ": " + e); });
    })).then(function () {
      button.disabled = false;
      status.textContent = failures.length ? input.dataset.failed + " " + failures.join("; ") : "";
      if (!failures.length) input.value = "";  // sent already: the form carries the ids instead
    });
  }

  document.addEventListener("change", function (e) {
    if (e.target.matches && e.target.matches("input[type=file][data-upload]")) upload(e.target);
  });
  document.addEventListener("DOMContentLoaded", initMap);
  if (document.readyState !== "loading") initMap();
})();
