"""postfach.web — the one HTTP listener (`http`): client auto-configuration,
the admin API, the user's settings pages and a light webmail.

Starlette on uvicorn, run inside postfach's own event loop (server.py), with
Jinja2 templates and no JavaScript. Every page reaches mail only through the
store, scoped to the signed-in account.
"""
