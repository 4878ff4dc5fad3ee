// Starts a page's slowest JSON request (named by this tag's data-url) while its modules still load.
// The module that needs it takes the promise from window.__prefetch by URL. A static file, not an
// inline script: the page's CSP runs scripts from this origin only.
(() => {
  const url = document.currentScript.dataset.url;
  window.__prefetch = window.__prefetch || {};
  window.__prefetch[url] = fetch(url).then((r) => (r.ok ? r.json() : Promise.reject(new Error(r.statusText))));
})();
