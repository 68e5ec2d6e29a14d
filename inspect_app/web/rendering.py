"""One rendering helper: a full page, or one block of it when htmx asks (HX-Request)."""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from jinja2.ext import Extension
from jinja2_fragments.fastapi import Jinja2Blocks

from inspect_app import i18n
from inspect_app.config import DEFAULT_TIMEZONE
from inspect_app.domain.hazards import grade_label, status_label
from inspect_app.models import Grade, HazardStatus, ResponseType
from inspect_app.web import assets


def _templates_dir() -> Path:
    """templates/ sits next to the package in the repository; the wheel carries it inside the
    package (pyproject's force-include), so an installed app finds it there."""
    package = Path(__file__).resolve().parents[1]
    installed = package / "templates"
    return installed if installed.is_dir() else package.parent / "templates"


TEMPLATES_DIR = _templates_dir()


class Dedent(Extension):
    """Drops the indentation and blank lines of the template source, not of the values put into
    it: pages are not compressed (they carry the CSRF token; BREACH), so on a phone's slow
    network every byte of a checklist page counts, and a tenth of it was indentation."""

    _indent = re.compile(r"^[ \t]+|(?<=\n)\n+", re.MULTILINE)

    def preprocess(self, source: str, name: str | None, filename: str | None = None) -> str:
        return self._indent.sub("", source)


templates = Jinja2Blocks(
    env=Environment(
        loader=FileSystemLoader(str(TEMPLATES_DIR)),
        extensions=["jinja2.ext.i18n", Dedent],
        autoescape=select_autoescape(("html", "xml")),
        trim_blocks=True,  # no blank line where a block tag stood
    )
)
templates.env.install_gettext_callables(i18n.gettext, i18n.ngettext, newstyle=True)


# The time zone of the app rendering the page, set by render() (a context variable, not a
# global of the shared Jinja environment: two apps in one process keep their own zones).
_zone: ContextVar[ZoneInfo] = ContextVar("zone", default=ZoneInfo(DEFAULT_TIMEZONE))


def _local_time(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    if value is None:
        return ""
    return value.astimezone(_zone.get()).strftime(fmt)


def _date(value: date | datetime | None) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return _local_time(value, "%Y-%m-%d")
    return value.isoformat()


def _loc(zh: str, en: str | None) -> str:
    """A name in the page's language (English when the page is and the name has one). A
    function, not a template macro: a checklist page calls it for every item and section, and
    a macro call costs ten times as much."""
    return en if en and i18n.current_locale.get() == "en" else zh


templates.env.filters["localtime"] = _local_time
templates.env.filters["date"] = _date
# The vocabulary: templates loop over the enums instead of spelling their values.
templates.env.globals.update(
    choices=lambda enum, label: [(m.value, label(m)) for m in enum],
    Grade=Grade,
    HazardStatus=HazardStatus,
    ResponseType=ResponseType,
    grade_label=grade_label,
    status_label=status_label,
    loc=_loc,
)


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    block: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """Render the page; when the request comes from htmx and a block is named, only that block."""
    ctx = dict(context or {})
    ctx.setdefault("user", getattr(request.state, "user", None))
    settings = request.app.state.settings
    _zone.set(settings.zone)
    ctx["assets"] = assets.legacy_names(settings.assets == "cdn")
    ctx["locale"] = i18n.current_locale.get()
    ctx["csrftoken"] = request.scope["csrftoken"]() if "csrftoken" in request.scope else ""
    if block and is_htmx(request):
        response = templates.TemplateResponse(
            request, template, ctx, block_name=block, status_code=status_code
        )
    else:
        response = templates.TemplateResponse(request, template, ctx, status_code=status_code)
    response.headers["Vary"] = "HX-Request"
    return response


def form_nonce(request: Request) -> str:
    """A plain form's idempotency key (a double tap sends the same one): new on every page,
    except in the copy the service worker keeps, which it asks for with X-Kept-Page. There the
    script makes its own key, and a new one each time would make the kept page differ at every
    refresh (a full page, never a 304)."""
    return "" if request.headers.get("x-kept-page") else str(uuid.uuid4())


def see_other(request: Request, url: str, **data: Any):
    """After a successful form post: a redirect for the browser; for the phone's outbox (which
    asks for JSON) the same news as JSON, so that it does not download the next page."""
    accept = request.headers.get("accept", "")
    if "application/json" in accept and "text/html" not in accept:
        return JSONResponse({"location": url, **data})
    return RedirectResponse(url, status_code=303)
