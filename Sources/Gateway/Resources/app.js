// bookdelivery's web app: the little that needs a script. Pages work without it (forms post, links
// link); with it, live pages follow changes, busy messages count down, and forms are not sent twice.
"use strict";
(function () {
  // Reads the page again and swaps in its live region: the server renders, the script only fetches.
  async function refresh() {
    const region = document.getElementById("live-region");
    if (!region) return;
    try {
      const response = await fetch(location.href, { headers: { "X-Live-Refresh": "1" }, credentials: "same-origin" });
      if (!response.ok) return;
      const page = new DOMParser().parseFromString(await response.text(), "text/html");
      const fresh = page.getElementById("live-region");
      if (fresh && fresh.innerHTML !== region.innerHTML) region.innerHTML = fresh.innerHTML;
    } catch (error) {
      // Offline for a moment: the next change or tick tries again.
    }
  }

  function follow() {
    if (!window.EventSource) return;
    const source = new EventSource("/app/live");
    let opened = false;
    source.addEventListener("open", function () {
      // After a reconnect, changes may have been missed: read the page again.
      if (opened) refresh();
      opened = true;
    });
    source.addEventListener("change", refresh);
    window.bookdelivery = { live: source };
  }

  function countDown() {
    document.querySelectorAll("[data-retry-after]").forEach(function (element) {
      let seconds = parseInt(element.dataset.retryAfter, 10);
      const timer = setInterval(function () {
        seconds -= 1;
        element.textContent = String(Math.max(seconds, 0));
        if (seconds <= 0) clearInterval(timer);
      }, 1000);
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    if (document.body.dataset.live === "true") follow();
    const every = parseInt(document.body.dataset.refresh || "0", 10);
    if (every > 0) setInterval(refresh, every * 1000);
    countDown();
    document.addEventListener("submit", function (event) {
      const button = event.target.querySelector("button[type=submit]:not([name])");
      if (button) setTimeout(function () { button.disabled = true; }, 0);
    });
    const problem = document.getElementById("problem");
    if (problem) problem.setAttribute("tabindex", "-1");
  });
})();
