"""The web UI: Jinja2 pages, htmx partials and the static scripts that draw runs."""
