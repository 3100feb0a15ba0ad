"""Server-rendered pages: Jinja2 templates from this package, with autoescape on.

Every page gets the translator `t` (the one catalogue, ntpd_ivr/i18n), the language and
the others on offer, `when` (the one way to show a time: the center's zone, to the second,
in the user's language) and its configuration for the page's scripts, the CSRF token for
its forms, the session (or None) and its own path (for the language switch to come back to).
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable
from datetime import tzinfo
from typing import Any

import jinja2
from aiohttp import web

from ntpd_ivr.i18n import script_time_config, time_formatter
from ntpd_ivr.web import csrf
from ntpd_ivr.web.auth import Session
from ntpd_ivr.web.i18n import LANGUAGES, translator

TEMPLATES: web.AppKey[jinja2.Environment] = web.AppKey("templates", jinja2.Environment)
CSRF_GUARD: web.AppKey[csrf.CsrfGuard] = web.AppKey("csrf_guard", csrf.CsrfGuard)
SESSION_KEY: web.RequestKey[Session] = web.RequestKey("session", Session)
# The center's zone now (the routing config's `timezone`; it may be reloaded).
CENTER_ZONE: web.AppKey[Callable[[], tzinfo]] = web.AppKey("center_zone")


def default_zone() -> tzinfo:
    """The routing config's default zone, for an app built without one (tests)."""
    return zoneinfo.ZoneInfo("Asia/Jakarta")


def make_environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("ntpd_ivr.web", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,  # a misspelt name fails the test, not the page
        trim_blocks=True, lstrip_blocks=True)


def add_template_package(app: web.Application, package: str) -> None:
    """A domain package's own templates (`<package>/templates/`), which may extend
    base.html; the web package's templates come first."""
    env = app[TEMPLATES]
    assert env.loader is not None
    env.loader = jinja2.ChoiceLoader([env.loader, jinja2.PackageLoader(package, "templates")])


def render(request: web.Request, name: str, *, status: int = 200,
           headers: dict[str, str] | None = None, **context: Any) -> web.Response:
    t = translator(request)
    zone = request.app.get(CENTER_ZONE, default_zone)()
    page = request.app[TEMPLATES].get_template(name).render(
        t=t, lang=t.lang, other_lang=next(lang for lang in LANGUAGES if lang != t.lang),
        other_langs=[lang for lang in LANGUAGES if lang != t.lang],
        language_name=t.catalogue.name_of,
        when=time_formatter(t.lang, zone), time_config=script_time_config(t.lang, zone),
        csrf_token=csrf.token(request, request.app[CSRF_GUARD]),
        session=request.get(SESSION_KEY), path=request.path_qs, status=status, **context)
    return web.Response(text=page, status=status, content_type="text/html", headers=headers)
