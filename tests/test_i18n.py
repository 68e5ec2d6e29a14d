"""Every user-facing string is translatable, and the Chinese catalogue covers all of them."""

from pathlib import Path

from babel.messages.extract import extract_from_dir

from inspect_app import i18n

ROOT = Path(__file__).resolve().parents[1]
METHODS = [("**.py", "python"), ("**.html", "jinja2")]
OPTIONS = {"**.html": {"extensions": "jinja2.ext.i18n"}}


def extracted_messages() -> dict[str, str]:
    found = {}
    for folder in (ROOT / "inspect_app", ROOT / "templates"):
        for filename, lineno, message, _comments, _ctx in extract_from_dir(
            folder,
            METHODS,
            options_map=OPTIONS,
            keywords={"_": None, "gettext": None, "ngettext": (1, 2), "lazy_gettext": None},
        ):
            msgid = message[0] if isinstance(message, tuple) else message
            if msgid:
                found[msgid] = f"{folder.name}/{filename}:{lineno}"
    return found


def test_every_message_has_a_chinese_translation():
    i18n.catalogue.cache_clear()
    catalogue = i18n.catalogue("zh_CN")
    missing = {m: where for m, where in extracted_messages().items() if m not in catalogue}
    assert not missing, "add these to inspect_app/locales/zh_CN/<area>.po:\n" + "\n".join(
        f"{where}: {m}" for m, where in sorted(missing.items(), key=lambda kv: kv[1])
    )


def test_gettext_follows_the_request_locale():
    token = i18n.current_locale.set("zh_CN")
    try:
        assert i18n.gettext("Sign in") == "登录"
        i18n.current_locale.set("en")
        assert i18n.gettext("Sign in") == "Sign in"
    finally:
        i18n.current_locale.reset(token)


def test_pick_locale():
    assert i18n.pick_locale(None, None, "zh_CN") == "zh_CN"
    assert i18n.pick_locale("en", None, "zh_CN") == "en"
    assert i18n.pick_locale(None, "en-US,en;q=0.9", "zh_CN") == "en"
    assert i18n.pick_locale("fr", "de", "zh_CN") == "zh_CN"
