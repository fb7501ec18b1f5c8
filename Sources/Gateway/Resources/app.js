// bookdelivery's web app: the little that needs a script. Pages work without it (forms post, links
// link); with it, live pages follow changes, busy messages count down, and forms are not sent twice.
"use strict";
(function () {
  // Reads the page again and swaps in its live region: the server renders, the script only fetches.
  async function readAgain() {
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

  // One read at a time: a change heard during a read reads again after it, so an older answer
  // never replaces a newer one.
  let reading = null;
  let again = false;
  function refresh() {
    if (reading) {
      again = true;
      return;
    }
    reading = (async function () {
      do {
        again = false;
        await readAgain();
      } while (again);
      reading = null;
    })();
  }

  // Follows the changes since the page was rendered (the gateway says at once if some came before
  // this connection, or before a reconnect). The browser reconnects a dropped connection itself,
  // but gives up after an error answer (a gateway restarting or busy): then follow again later.
  function follow(delay) {
    if (!window.EventSource) return;
    const since = document.body.dataset.liveSince || "";
    const source = new EventSource("/app/live?since=" + encodeURIComponent(since));
    source.addEventListener("open", function () {
      delay = 2000;
    });
    source.addEventListener("change", refresh);
    source.addEventListener("error", function () {
      if (source.readyState !== EventSource.CLOSED) return;
      setTimeout(function () {
        follow(Math.min(delay * 2, 60000));
      }, delay);
    });
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
    if (document.body.dataset.live === "true") follow(2000);
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
