// Admin maps: the districts preview, and tapping a site's location (the lat/lon inputs stay the
// source of truth, so the form works without this file).
(function () {
  "use strict";

  if (typeof L === "undefined") return;

  function districtMap(el, onReady) {
    var map = L.map(el, { zoomSnap: 0.5 });
    map.setView([27, 112.6], 8);
    fetch(el.dataset.geojson, { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (data) {
        var layer = L.geoJSON(data, {
          style: { color: "#1456b8", weight: 1.5, fillOpacity: 0.08 },
          onEachFeature: function (f, l) { l.bindTooltip(f.properties.name, { sticky: true }); },
        }).addTo(map);
        var placed = onReady ? onReady(map) : false;  // true when it chose the view itself
        if (!placed && layer.getBounds().isValid()) map.fitBounds(layer.getBounds());
      });
    return map;
  }

  var districts = document.getElementById("districts-map");
  if (districts) districtMap(districts);

  var siteEl = document.getElementById("site-map");
  if (!siteEl) return;
  var lat = document.getElementById("lat");
  var lon = document.getElementById("lon");
  var marker = null;

  function place(map, latlng) {
    if (marker) marker.setLatLng(latlng);
    else marker = L.circleMarker(latlng, { radius: 9, color: "#c62828", weight: 3, fillOpacity: 0.6 }).addTo(map);
  }

  function fromInputs(map) {
    var a = parseFloat(lat.value), b = parseFloat(lon.value);
    if (isFinite(a) && isFinite(b)) { place(map, [a, b]); return true; }
    return false;
  }

  districtMap(siteEl, function (map) {
    map.on("click", function (e) {
      lat.value = e.latlng.lat.toFixed(6);
      lon.value = e.latlng.lng.toFixed(6);
      place(map, e.latlng);
    });
    [lat, lon].forEach(function (input) { input.addEventListener("change", function () { fromInputs(map); }); });
    if (!fromInputs(map)) return false;
    map.setView(marker.getLatLng(), 12);
    return true;
  });
})();
