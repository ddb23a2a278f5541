// stackwatch dashboard: refresh the page's main part in place, keyboard shortcuts.
// No library; works without it (every view is a plain link and a plain page).
"use strict";
(function () {
  const main = document.getElementById("main");
  const live = document.getElementById("live");
  const every = Number(document.body.dataset.refresh || 0) * 1000;
  let lastOk = Date.now();
  let busy = false;

  function stamp() {
    if (!live) return;
    const age = Math.round((Date.now() - lastOk) / 1000);
    const stale = every && age * 1000 > 3 * every;
    live.textContent = stale ? "stale " + age + " s" : "live";
    live.classList.toggle("stale", Boolean(stale));
  }

  async function refresh() {
    if (busy || document.hidden || !main) return;
    busy = true;
    try {
      const response = await fetch(location.href, {headers: {"X-Stackwatch-Partial": "1"},
                                                   credentials: "same-origin"});
      if (response.ok) {
        const text = await response.text();
        // keep open <details> open and the focused element's id across the swap
        const open = new Set([...main.querySelectorAll("details[open][id]")].map(d => d.id));
        const focused = document.activeElement && main.contains(document.activeElement)
          ? document.activeElement.id : "";
        main.innerHTML = text;
        // the header's pill is outside main: the answer's headers say the cloud's status
        const pill = document.getElementById("cloud-status");
        const status = response.headers.get("X-Stackwatch-Status");
        if (pill && status) {
          pill.textContent = status;
          pill.className = "pill st-" + status.toLowerCase();
          pill.title = decodeURIComponent(response.headers.get("X-Stackwatch-Status-Message") || "");
        }
        for (const id of open) { const d = document.getElementById(id); if (d) d.open = true; }
        if (focused) { const f = document.getElementById(focused); if (f) f.focus(); }
        lastOk = Date.now();
        document.dispatchEvent(new CustomEvent("stackwatch:refreshed"));
      }
    } catch (err) {
      // offline for a moment: the "stale" stamp says so; the next round tries again
    } finally {
      busy = false;
      stamp();
    }
  }

  if (every > 0) {
    setInterval(refresh, every);
    setInterval(stamp, 1000);
    document.addEventListener("visibilitychange", () => { if (!document.hidden) refresh(); });
  }

  let prefix = false;
  document.addEventListener("keydown", (event) => {
    const target = event.target;
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (target instanceof HTMLInputElement || target instanceof HTMLTextAreaElement) {
      if (event.key === "Escape") target.blur();
      return;
    }
    if (event.key === "/") {
      event.preventDefault();
      const box = document.getElementById("trace-id");
      if (box) box.focus();
      return;
    }
    if (event.key === "r") { refresh(); return; }
    if (event.key === "g") { prefix = true; setTimeout(() => { prefix = false; }, 1500); return; }
    if (prefix) {
      prefix = false;
      const link = document.querySelector('header nav a[data-key="' + event.key + '"]');
      if (link) { event.preventDefault(); location.href = link.getAttribute("href"); }
    }
  });
})();
