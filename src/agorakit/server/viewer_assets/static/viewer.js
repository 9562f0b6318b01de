// agorakit trace viewer: tabs, expand/collapse, and live updates of a running run's page.
// Served from /ui/static (the pages' Content-Security-Policy allows no inline script).
"use strict";

(function () {
  let currentTab = location.hash.startsWith("#tab=") ? decodeURIComponent(location.hash.slice(5)) : "tree";

  function selectTab(root, name) {
    const tabs = Array.from(root.querySelectorAll("[data-tab]"));
    if (!tabs.some((tab) => tab.dataset.tab === name)) name = "tree";
    currentTab = name;
    tabs.forEach((tab) => tab.setAttribute("aria-selected", String(tab.dataset.tab === name)));
    root.querySelectorAll("[data-panel]").forEach((panel) => { panel.hidden = panel.dataset.panel !== name; });
  }

  function openAncestors(element) {
    for (let node = element; node; node = node.parentElement) {
      if (node.tagName === "DETAILS") node.open = true;
    }
  }

  document.addEventListener("click", (event) => {
    const target = event.target instanceof Element ? event.target : null;
    if (!target) return;
    const tab = target.closest("[data-tab]");
    if (tab) {
      selectTab(document, tab.dataset.tab);
      history.replaceState(null, "", "#tab=" + encodeURIComponent(currentTab));
      return;
    }
    const action = target.closest("[data-action]");
    if (action) {
      const open = action.dataset.action === "expand";
      document.querySelectorAll("[data-panel=tree] details").forEach((d) => { d.open = open; });
      return;
    }
    const link = target.closest("a[href^='#span-']");
    if (link) {
      selectTab(document, "tree");
      const span = document.getElementById(link.getAttribute("href").slice(1));
      if (span) openAncestors(span);
    }
  });

  function replaceLive(html) {
    const live = document.getElementById("run-live");
    const state = new Map();
    live.querySelectorAll("details[data-key]").forEach((d) => state.set(d.dataset.key, d.open));
    live.innerHTML = html; // rendered by the server, every value escaped
    live.querySelectorAll("details[data-key]").forEach((d) => {
      if (state.has(d.dataset.key)) d.open = state.get(d.dataset.key);
    });
    selectTab(live, currentTab);
  }

  function follow(run) {
    const note = document.getElementById("live-note");
    const every = Number(run.dataset.pollMs) || 1500;
    let version = run.dataset.version;
    let unchanged = 0;
    async function tick() {
      try {
        const url = run.dataset.pollUrl + "?version=" + encodeURIComponent(version);
        const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
        if (response.status === 401 || response.status === 404) {
          note.textContent = response.status === 401 ? "Signed out: reload the page to sign in again." : "The run is gone.";
          return;
        }
        const body = response.ok ? await response.json() : { changed: false };
        if (body.changed) {
          version = body.version;
          unchanged = 0;
          replaceLive(body.html);
          if (body.finished) {
            note.hidden = true;
            run.dataset.live = "0";
            return;
          }
        } else {
          unchanged += 1;
        }
      } catch (error) {
        unchanged += 1; // the server restarting: keep trying, more slowly
      }
      // A run that has not moved for a minute (its process may be gone) is checked less often.
      setTimeout(tick, unchanged * every > 60000 ? every * 5 : every);
    }
    setTimeout(tick, every);
  }

  function start() {
    const run = document.getElementById("run");
    if (!run) return;
    selectTab(run, currentTab);
    if (location.hash.startsWith("#span-")) {
      const span = document.getElementById(location.hash.slice(1));
      if (span) openAncestors(span);
    }
    if (run.dataset.live === "1") follow(run);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
