// The dashboard's page script: no framework, no network beyond this server.
"use strict";
(function () {
  // Times are written in UTC by the server; show each in the browser's zone and keep UTC in its tooltip.
  var format = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });
  document.querySelectorAll("time[datetime]").forEach(function (el) {
    var at = new Date(el.getAttribute("datetime"));
    if (isNaN(at.getTime())) return;
    if (!el.title) el.title = el.textContent;
    el.textContent = format.format(at);
  });
  // The server counts "today" in this zone from the next page on.
  var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  if (zone) document.cookie = "tz=" + encodeURIComponent(zone) + "; path=/; max-age=31536000; samesite=strict";

  var meta = document.querySelector('meta[name="csrf-token"]');
  /** fetch() against this server's API with the session cookie, adding the CSRF token to state-changing calls. */
  window.obd2 = {
    api: function (path, init) {
      init = init || {};
      var headers = new Headers(init.headers || {});
      var method = (init.method || "GET").toUpperCase();
      if (method !== "GET" && method !== "HEAD" && meta) headers.set("X-CSRF-Token", meta.content);
      return fetch(path, Object.assign({}, init, { headers: headers, credentials: "same-origin" }));
    },
  };
})();
