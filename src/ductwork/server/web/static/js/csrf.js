// The CSRF token of this session (base.html's <meta name="csrf-token">) goes back on every request
// that changes something: htmx requests through their config event, the modules' fetch calls
// through a wrapper. Only to this origin: the token never travels to another site.
// A classic script in <head>, so it runs before htmx and before any module's first fetch.
(() => {
  const token = document.querySelector('meta[name="csrf-token"]')?.content || "";
  if (!token) return; // no session (login page, `ductwork ui`): nothing to prove
  const SAFE = new Set(["GET", "HEAD", "OPTIONS"]);
  const HEADER = "X-CSRF-Token";

  document.addEventListener("htmx:configRequest", (ev) => {
    if (!SAFE.has(String(ev.detail.verb).toUpperCase())) ev.detail.headers[HEADER] = token;
  });

  const plainFetch = window.fetch.bind(window);
  window.fetch = (input, init = {}) => {
    const request = input instanceof Request ? input : null;
    const method = String(init.method || (request ? request.method : "GET")).toUpperCase();
    const url = new URL(request ? request.url : String(input), window.location.href);
    if (SAFE.has(method) || url.origin !== window.location.origin) return plainFetch(input, init);
    const headers = new Headers(init.headers || (request ? request.headers : undefined));
    headers.set(HEADER, token);
    return plainFetch(input, { ...init, headers });
  };
})();
