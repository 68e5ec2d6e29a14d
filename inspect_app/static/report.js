/* Reporting a hazard on its own (随手拍) through the outbox, so that it works in a basement:
   the photos are downscaled, previewed and queued at once (the shared photo widget), the report
   waits in the outbox behind its photos and is sent when the phone is online; online, the
   hazard's page opens once the server has it. Each report gets its own client_uuid here: the
   page kept on the phone is the same markup every time, and the server takes a repeated uuid as
   a retry of the same report.
   A report the server refuses (e.g. a site closed meanwhile), or one held up by a photo the
   server refused, comes back into the form with the reason; sending it again replaces it.
   Without this file the form posts as it is. */
(function () {
  "use strict";

  var Outbox = window.InspectOutbox;
  var Photos = window.InspectPhotos;
  var GROUP = "report:";

  function setup() {
    var form = document.querySelector("form[data-hazard-report]");
    if (!form || !Outbox || !Photos) return;
    var uuid = form.querySelector("[data-client-uuid]");
    var description = form.querySelector("[name=description]");
    var state = document.querySelector("[data-report-state]");
    var reopened = null;  // the waiting or refused report this form now corrects
    var dropped = {};     // photos removed by the user, gone once their undo has run out

    function say(text, error, link) {
      state.hidden = !text;
      state.className = error ? "alert" : "notice";
      state.textContent = text || "";
      if (link) {
        var a = document.createElement("a");
        a.href = link;
        a.textContent = form.getAttribute("data-msg-open");
        state.append(" ", a);
      }
    }

    // Where the phone is, for the hazard's pin (else it sits at its site): asked once, when the
    // inspector starts on the form, or at once where the permission was given before.
    var located = false;
    function locate() {
      if (located || !navigator.geolocation) return;
      located = true;
      navigator.geolocation.getCurrentPosition(function (pos) {
        form.querySelector("[data-geo=lat]").value = pos.coords.latitude.toFixed(6);
        form.querySelector("[data-geo=lon]").value = pos.coords.longitude.toFixed(6);
      }, function () { /* no fix: the site's position stands */ }, { maximumAge: 60000, timeout: 15000 });
    }
    form.addEventListener("focusin", locate);
    if (navigator.permissions) {
      navigator.permissions.query({ name: "geolocation" }).then(function (p) {
        if (p.state === "granted") locate();
      }).catch(function () {});
    }

    var widget = new Photos.Widget({
      input: form.querySelector("input[data-upload]"), box: form.querySelector("[data-uploaded]"),
      group: "", field: "photo_ids", page: "/hazards/new", label: form.getAttribute("data-msg-label"),
    });
    function start(key) {  // a new report: its own uuid and outbox group
      uuid.value = key || Photos.newKey();
      widget.o.group = GROUP + uuid.value;
      widget.figures = {};
      widget.o.box.textContent = "";
      reopened = null;
    }
    start();

    // A report that cannot go as it is comes back into an empty form: its fields, its photos
    // and the server's reason (its own, or that of a photo it waits for).
    function reopenStuck() {
      if (description.value.trim() || reopened) return Promise.resolve();
      return Outbox.entries().then(function (list) {
        var why = {};
        list.forEach(function (e) {
          if (e.state === "refused" && e.group.indexOf(GROUP) === 0 && !dropped[e.key]) {
            why[e.group] = why[e.group] || e.error;
          }
        });
        var stuck = list.filter(function (e) {
          return e.kind === "report" && e.state !== "done" && why[e.group];
        }).pop();
        if (!stuck) return;
        start(stuck.group.slice(GROUP.length));
        reopened = stuck;
        Outbox.refill(form, stuck.fields);
        list.filter(function (e) { return e.group === stuck.group && e.kind === "photo"; })
          .forEach(function (e) { widget.restore(e); });
        say(why[stuck.group], true);
      });
    }
    reopenStuck();

    Outbox.on(function (event) {
      var e = event.entry;
      if (!e || e.group.indexOf(GROUP) !== 0) return;
      if (event.type === "refused") reopenStuck();
      if (event.type !== "ack" || e.kind !== "report") return;
      var page = event.response && /\/hazards\/\d+$/.test(event.response.url || "") ? event.response.url : null;
      if (page && !description.value.trim()) location.assign(page);  // nothing new begun: show it
      else say(form.getAttribute("data-msg-sent"), false, page);
    });

    // A photo just taken is still being shrunk: the report must queue behind it, not before.
    function photosQueued() {
      return new Promise(function (resolve) {
        (function check() {
          if (widget.o.box.querySelector("figure.photo-item:not([data-entry])")) setTimeout(check, 100);
          else resolve();
        })();
      });
    }

    // Capture phase: the report goes to the outbox instead of the plain form post.
    form.addEventListener("submit", function (event) {
      if (!form.checkValidity()) return;  // the browser shows what is missing
      event.preventDefault();
      var group = GROUP + uuid.value;
      photosQueued().then(Outbox.entries).then(function (list) {
        var refused = list.filter(function (e) {  // a photo removed (undo pending) does not count
          var fig = widget.figures[e.key];
          return e.group === group && e.kind === "photo" && e.state === "refused" && fig && !fig.hidden;
        });
        if (refused.length) {  // remove it first (×), or the report would wait for it for ever
          say(refused[0].error, true);
          return;
        }
        var replaced = reopened ? Outbox.discard(reopened.id) : Promise.resolve();
        return replaced.then(function () {
          return Outbox.add({
            group: group, kind: "report", barrier: true, url: form.getAttribute("action"),
            fields: Outbox.formFields(form), label: description.value.trim().slice(0, 40), page: "/hazards/new",
          });
        }).then(function () {
          say(form.getAttribute(navigator.onLine ? "data-msg-sending" : "data-msg-queued"));
          description.value = "";
          form.querySelector("[name=category]").value = "";
          Object.keys(widget.figures).forEach(function (key) {
            if (widget.figures[key].hidden) dropped[key] = true;
          });
          start();
          window.scrollTo(0, 0);
          return reopenStuck();  // a photo refused while the report was being queued
        });
      });
    }, true);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", setup); else setup();
})();
