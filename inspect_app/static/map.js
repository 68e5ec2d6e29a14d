/* The hazard map: district polygons in their four-colour level as the base map, hazards on
   top, clustered by the server for the current zoom and bounding box (the client never
   downloads every point). Settings come from data-* attributes of #map. */
(function () {
  "use strict";
  var el = document.getElementById("map");
  if (!el || !window.L) { return; }
  var labels = JSON.parse(el.dataset.labels || "{}");
  var status = document.getElementById("map-status");
  var RISK = { red: "#d32f2f", orange: "#f57c00", yellow: "#f9c80e", blue: "#1e88e5" };

  var map = L.map(el, { zoomControl: true }).setView([27, 112.6], 9);
  if (el.dataset.tileUrl) {
    L.tileLayer(el.dataset.tileUrl, { attribution: el.dataset.tileAttribution, maxZoom: 19 }).addTo(map);
  }
  var hazards = L.layerGroup().addTo(map);

  function text(s) {
    var d = document.createElement("div");
    d.textContent = s == null ? "" : String(s);
    return d.innerHTML;
  }

  function getJSON(url, signal) {
    return fetch(url, { credentials: "same-origin", signal: signal, headers: { Accept: "application/json" } })
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); });
  }

  function districtPopup(p) {
    return "<strong>" + text(p.name) + "</strong> " +
      '<span class="badge risk-' + text(p.risk_level) + '">' + text(labels[p.risk_level]) + "</span><br>" +
      text(labels.open) + " " + p.open + " · " + text(labels.major) + " " + p.major +
      " · " + text(labels.overdue) + " " + p.overdue;
  }

  function hazardPopup(p) {
    var html = '<div class="map-popup">';
    if (p.thumb_url) { html += '<img src="' + text(p.thumb_url) + '" alt="" width="160" height="120">'; }
    html += '<p><span class="badge grade-' + text(p.grade) + '">' + text(labels[p.grade]) + "</span> " +
      '<span class="badge status-' + text(p.status) + '">' + text(labels[p.status]) + "</span>" +
      (p.overdue ? ' <span class="badge overdue">' + text(labels.overdue) + "</span>" : "") + "</p>";
    html += "<p>" + text(p.description) + "</p>";
    html += '<p class="muted">' + text(labels.site) + ": " + text(p.site) +
      (p.deadline ? "<br>" + text(labels.deadline) + ": " + text(p.deadline) : "") + "</p>";
    html += '<a class="btn" href="' + text(p.url) + '">' + text(labels.view) + "</a></div>";
    return html;
  }

  function drawHazards(data) {
    hazards.clearLayers();
    data.features.forEach(function (f) {
      var c = f.geometry.coordinates, latlng = [c[1], c[0]], p = f.properties;
      if (p.cluster) {
        var size = Math.min(56, 26 + Math.round(Math.log(p.count) * 5));
        var marker = L.marker(latlng, {
          icon: L.divIcon({
            className: "cluster" + (p.major ? " has-major" : ""),
            html: "<span>" + p.count + "</span>", iconSize: [size, size]
          }),
          title: p.count + " " + labels.hazards, keyboard: true
        });
        marker.on("click", function () { map.setView(latlng, Math.min(map.getZoom() + 2, 18)); });
        hazards.addLayer(marker);
      } else {
        hazards.addLayer(L.circleMarker(latlng, {
          radius: 8, weight: 2, color: "#fff", fillOpacity: 0.95,
          fillColor: p.grade === "major" ? "#b71c1c" : "#37474f", className: "hazard-point grade-" + p.grade
        }).bindPopup(hazardPopup(p), { maxWidth: 240 }));
      }
    });
    status.textContent = data.total + " " + labels.hazards;
  }

  var pending = null;
  function loadHazards() {
    var url = el.dataset.hazardsUrl + "&zoom=" + map.getZoom() + "&bbox=" + map.getBounds().toBBoxString();
    if (pending) { pending.abort(); }
    pending = new AbortController();
    getJSON(url, pending.signal)
      .then(drawHazards)
      .catch(function (e) { if (e.name !== "AbortError") { status.textContent = labels.error; } });
  }

  getJSON(el.dataset.districtsUrl).then(function (data) {
    var layer = L.geoJSON(data, {
      style: function (f) {
        return { color: "#fff", weight: 2, fillColor: RISK[f.properties.risk_level], fillOpacity: 0.45 };
      },
      onEachFeature: function (f, l) { l.bindPopup(districtPopup(f.properties)); }
    }).addTo(map);
    layer.bringToBack();
    if (data.features.length) { map.fitBounds(layer.getBounds(), { padding: [8, 8] }); }
    map.on("moveend", loadHazards);
    loadHazards();
  }).catch(function () { status.textContent = labels.error; });
})();
