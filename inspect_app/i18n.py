"""Translations: English message ids, catalogues per locale merged from every .po file.

Each area keeps its own catalogue file (locales/zh_CN/<area>.po) so that areas do not edit one
file; they are merged at start-up. The locale of the current request lives in a contextvar.
"""

from __future__ import annotations

import contextvars
from functools import lru_cache
from pathlib import Path

from babel.messages.pofile import read_po
from babel.support import LazyProxy

LOCALES_DIR = Path(__file__).parent / "locales"
SUPPORTED = ("zh_CN", "en")

current_locale: contextvars.ContextVar[str] = contextvars.ContextVar("locale", default="zh_CN")


@lru_cache
def catalogue(locale: str) -> dict[str, str | tuple[str, ...]]:
    messages: dict[str, str | tuple[str, ...]] = {}
    folder = LOCALES_DIR / locale
    for po in sorted(folder.glob("*.po")) if folder.exists() else []:
        with po.open("rb") as fh:
            for msg in read_po(fh, locale=locale):
                if not msg.id or not msg.string or msg.fuzzy:
                    continue
                key = msg.id[0] if isinstance(msg.id, tuple) else msg.id
                messages[key] = msg.string
    return messages


def gettext(message: str) -> str:
    found = catalogue(current_locale.get()).get(message)
    if isinstance(found, tuple):
        return found[0] or message
    return found or message


def ngettext(singular: str, plural: str, n: int) -> str:
    found = catalogue(current_locale.get()).get(singular)
    if isinstance(found, tuple) and found:
        return found[0] if len(found) == 1 or n == 1 else found[1]
    if isinstance(found, str):
        return found
    return singular if n == 1 else plural


def lazy_gettext(message: str) -> LazyProxy:
    """For module-level strings (labels, enum names) translated when shown."""
    return LazyProxy(gettext, message, enable_cache=False)


_ = gettext


def pick_locale(requested: str | None, accept_language: str | None, default: str) -> str:
    if requested:
        requested = requested.replace("-", "_")
        if requested in SUPPORTED:
            return requested
        if requested.lower().startswith("en"):
            return "en"
        if requested.lower().startswith("zh"):
            return "zh_CN"
    if accept_language:
        first = accept_language.split(",")[0].strip().lower()
        if first.startswith("en"):
            return "en"
        if first.startswith("zh"):
            return "zh_CN"
    return default
