"""Static files under versioned URLs, compressed once, cached for a year.

Every file in inspect_app/static is read once per process into a catalogue with the sha256 of its
bytes. Pages link `asset_url("app.css")` -> `/static/app.<hash>.css`: that URL never changes
meaning, so it is served with `Cache-Control: public, max-age=31536000, immutable` and a phone
never asks for it again; a deployment that changes the file changes the URL. The plain
`/static/app.css` keeps working with a short lifetime (for the relative URLs inside Leaflet's CSS,
and for anyone who linked it). A URL carrying another hash than the current one (a page rendered
before a deployment) is answered with the current file, but `no-cache`: the page keeps working
and no cache stores the new bytes as the old version.

Only these static files are compressed (gzip, and brotli through the `brotli` package), each
encoding computed once on first request and kept. Pages are never compressed here: they carry
the CSRF token, and compressing a secret next to reflected input leaks it (BREACH).

The web app manifest is built here, not kept as a file, so that it names the icons by their
versioned URLs and the app by its translated name.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import mimetypes
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import anyio.to_thread
from fastapi import APIRouter, Request, Response
from jinja2 import pass_context

from inspect_app import i18n

try:  # brotli is a dependency; without it the files are still served gzipped.
    import brotli
except ImportError:  # pragma: no cover
    brotli = None

STATIC_DIR = Path(__file__).resolve().parents[1] / "static"
PREFIX = "/static/"
HASH_LENGTH = 10
IMMUTABLE = "public, max-age=31536000, immutable"
SHORT = "public, max-age=300"  # unversioned URLs: a deployment reaches them within minutes
STALE = "no-cache"
THEME_COLOUR = "#0f2f63"  # app.css .topbar; also in the manifest and base.html's theme-color

HTMX = "vendor/htmx-2.0.11/htmx.min.js"
LEAFLET_JS = "vendor/leaflet-1.9.4/leaflet.js"
LEAFLET_CSS = "vendor/leaflet-1.9.4/leaflet.css"
MANIFEST = "manifest.webmanifest"
FAVICON = "icons/favicon.ico"
APPLE_TOUCH_ICON = "icons/apple-touch-icon.png"
ICONS = (
    ("icons/icon-192.png", "192x192", "any"),
    ("icons/icon-512.png", "512x512", "any"),
    ("icons/maskable-512.png", "512x512", "maskable"),
)
# INSPECT_ASSETS=cdn: the same pinned versions from unpkg.
CDN = {
    HTMX: "https://unpkg.com/htmx.org@2.0.11/dist/htmx.min.js",
    LEAFLET_JS: "https://unpkg.com/leaflet@1.9.4/dist/leaflet.js",
    LEAFLET_CSS: "https://unpkg.com/leaflet@1.9.4/dist/leaflet.css",
}
# The app shell a service worker precaches: what every inspector page needs to open.
SHELL = ("app.css", "inspect.js", HTMX, *(name for name, _, _ in ICONS), APPLE_TOUCH_ICON, MANIFEST)

MEDIA_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".webmanifest": "application/manifest+json",
    ".ico": "image/x-icon",
    ".svg": "image/svg+xml",
    ".json": "application/json",
}
COMPRESSIBLE = {".js", ".css", ".webmanifest", ".ico", ".svg", ".json", ".txt", ".map"}
_VERSIONED = re.compile(rf"^(?P<stem>.+)\.(?P<digest>[0-9a-f]{{{HASH_LENGTH}}})(?P<ext>\.[^./]+)$")


@dataclass
class Asset:
    """One static file: its bytes, their hash, and its encodings once someone asked for them."""

    name: str
    body: bytes
    media_type: str
    digest: str = ""
    compressible: bool = False
    encoded: dict[str, bytes] = field(default_factory=dict)
    queued: set[str] = field(default_factory=set)  # encodings being computed in the background

    def __post_init__(self) -> None:
        self.digest = hashlib.sha256(self.body).hexdigest()[:HASH_LENGTH]

    @property
    def url(self) -> str:
        stem, dot, ext = self.name.rpartition(".")
        return (
            f"{PREFIX}{stem}.{self.digest}.{ext}" if dot else f"{PREFIX}{self.name}.{self.digest}"
        )

    def encoding(self, coding: str) -> bytes | None:
        """The body in `coding` (br or gzip), computed once; None when it would not be smaller."""
        if coding not in self.encoded:
            if coding == "br" and brotli is not None:
                packed = brotli.compress(self.body, quality=11)
            elif coding == "gzip":
                packed = gzip.compress(self.body, compresslevel=9, mtime=0)
            else:
                packed = self.body
            self.encoded[coding] = packed
        packed = self.encoded[coding]
        return packed if len(packed) < len(self.body) else None

    def etag(self, coding: str) -> str:
        return f'"{self.digest}-{coding}"' if coding != "identity" else f'"{self.digest}"'


class Catalogue:
    """The files of one static folder, by name relative to it."""

    def __init__(self, directory: Path, locale: str):
        self.assets: dict[str, Asset] = {}
        for path in sorted(p for p in directory.rglob("*") if p.is_file()):
            name = path.relative_to(directory).as_posix()
            if name.startswith(".") or "/." in name:
                continue
            self._add(name, path.read_bytes())
        self._add(MANIFEST, self._manifest(locale))
        self.version = hashlib.sha256(
            "".join(f"{n}:{a.digest}\n" for n, a in sorted(self.assets.items())).encode()
        ).hexdigest()[:HASH_LENGTH]

    def _add(self, name: str, body: bytes) -> None:
        ext = Path(name).suffix.lower()
        media = MEDIA_TYPES.get(ext) or mimetypes.guess_type(name)[0] or "application/octet-stream"
        self.assets[name] = Asset(name, body, media, compressible=ext in COMPRESSIBLE)

    def _manifest(self, locale: str) -> bytes:
        name = i18n.catalogue(locale).get("Inspect")
        name = name if isinstance(name, str) and name else "Inspect"
        manifest = {
            "id": "/",
            "name": name,
            "short_name": name,
            "lang": locale.replace("_", "-"),
            "start_url": "/",
            "scope": "/",
            "display": "standalone",
            "theme_color": THEME_COLOUR,
            "background_color": "#f4f6f9",
            "icons": [
                {
                    "src": self.assets[icon].url,
                    "sizes": sizes,
                    "type": "image/png",
                    "purpose": purpose,
                }
                for icon, sizes, purpose in ICONS
                if icon in self.assets
            ],
        }
        return json.dumps(manifest, ensure_ascii=False, indent=1).encode()

    def find(self, path: str) -> tuple[Asset, str] | None:
        """The asset a /static/ path names and the Cache-Control it earns."""
        if path in self.assets:
            return self.assets[path], SHORT
        match = _VERSIONED.match(path)
        if match is None:
            return None
        asset = self.assets.get(match["stem"] + match["ext"])
        if asset is None:
            return None
        return asset, IMMUTABLE if match["digest"] == asset.digest else STALE


_lock = threading.Lock()
_catalogues: dict[tuple[Path, str], Catalogue] = {}
_config = {"directory": STATIC_DIR, "locale": "zh_CN", "cdn": False}


def configure(*, cdn: bool, locale: str, directory: Path = STATIC_DIR) -> None:
    """Called by create_app with the settings: local or CDN vendored code, the manifest's language."""
    _config.update(directory=directory, locale=locale, cdn=cdn)


def catalogue() -> Catalogue:
    key = (_config["directory"], _config["locale"])
    with _lock:
        if key not in _catalogues:
            _catalogues[key] = Catalogue(*key)
        return _catalogues[key]


def reload() -> None:
    """Forget what was read (tests that change a static file; a server reads once per process)."""
    with _lock:
        _catalogues.clear()


def asset_url(name: str, *, cdn: bool | None = None) -> str:
    """The versioned URL of a file in inspect_app/static, or its pinned CDN URL (INSPECT_ASSETS=cdn;
    `cdn` overrides the configured choice)."""
    if (_config["cdn"] if cdn is None else cdn) and name in CDN:
        return CDN[name]
    asset = catalogue().assets.get(name)
    if asset is None:
        raise KeyError(f"no static file {name!r} in {_config['directory']}")
    return asset.url


def asset_version() -> str:
    """A short string that changes whenever any static file (or the manifest) changes."""
    return catalogue().version


def shell_urls() -> list[str]:
    """The app shell's URLs as pages reference them: CSS, our JS, htmx, icons, manifest."""
    return [asset_url(name) for name in SHELL]


def _accepted(header: str) -> set[str]:
    """Codings of an Accept-Encoding header that are not refused with q=0."""
    accepted: set[str] = set()
    for part in header.lower().split(","):
        coding, _, params = part.strip().partition(";")
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if coding and q > 0:
            accepted.add(coding.strip())
    if "*" in accepted:
        accepted |= {"br", "gzip"}
    return accepted


def _matches(if_none_match: str, asset: Asset) -> bool:
    tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
    return "*" in tags or any(asset.etag(c) in tags for c in ("identity", "gzip", "br"))


_compressor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="static-brotli")


def _compress_later(asset: Asset, coding: str) -> None:
    with _lock:
        if coding in asset.queued:
            return
        asset.queued.add(coding)
    _compressor.submit(asset.encoding, coding)


async def respond(asset: Asset, cache_control: str, headers: dict[str, str]):
    """(status, headers, body) for one asset: the best encoding the client accepts, or a 304."""
    coding, body = "identity", asset.body
    if asset.compressible:
        accepted = _accepted(headers.get("accept-encoding", ""))
        for candidate in ("br", "gzip"):
            if candidate not in accepted:
                continue
            if candidate not in asset.encoded:
                if candidate == "br":  # seconds at quality 11: meanwhile the client gets gzip
                    _compress_later(asset, candidate)
                    continue
                await anyio.to_thread.run_sync(asset.encoding, candidate)  # off the event loop
            packed = asset.encoding(candidate)
            if packed is not None:
                coding, body = candidate, packed
                break
    out = [
        (b"content-type", asset.media_type.encode()),
        (b"cache-control", cache_control.encode()),
        (b"etag", asset.etag(coding).encode()),
    ]
    if asset.compressible:
        out.append((b"vary", b"Accept-Encoding"))
    if coding != "identity":
        out.append((b"content-encoding", coding.encode()))
    if _matches(headers.get("if-none-match", ""), asset):
        return 304, [h for h in out if h[0] not in (b"content-type", b"content-encoding")], b""
    return 200, out, body


def _error(status: int, detail: str, extra=()) -> tuple[int, list, bytes]:
    body = json.dumps({"detail": detail}).encode()
    return (
        status,
        [(b"content-type", b"application/json"), (b"cache-control", b"no-cache"), *extra],
        body,
    )


class StaticAssets:
    """ASGI app mounted at /static: the catalogue's files, negotiated and cached as described above."""

    async def __call__(self, scope, receive, send) -> None:
        assert scope["type"] == "http"
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        found = catalogue().find(scope["path"].removeprefix("/static").lstrip("/"))
        if scope["method"] not in ("GET", "HEAD"):
            status, out, body = _error(405, "Method Not Allowed", [(b"allow", b"GET, HEAD")])
        elif found is None:
            status, out, body = _error(404, "Not Found")
        else:
            status, out, body = await respond(*found, headers)
        out.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": out})
        await send(
            {"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body}
        )


router = APIRouter()


@router.get("/favicon.ico", include_in_schema=False)
async def favicon(request: Request) -> Response:
    """Browsers ask for /favicon.ico whatever the page links: a day's lifetime, then revalidate."""
    asset = catalogue().assets[FAVICON]
    headers = {k.lower(): v for k, v in request.headers.items()}
    status, out, body = await respond(asset, "public, max-age=86400", headers)
    return Response(body, status_code=status, headers={k.decode(): v.decode() for k, v in out})


def _uses_cdn(context) -> bool | None:
    request = context.get("request")
    settings = getattr(getattr(getattr(request, "app", None), "state", None), "settings", None)
    return None if settings is None else settings.assets == "cdn"


@pass_context
def _template_asset_url(context, name: str) -> str:
    """asset_url in templates: the CDN choice of the app that renders (tests run several apps)."""
    return asset_url(name, cdn=_uses_cdn(context))


def jinja_globals() -> dict[str, object]:
    return {
        "asset_url": _template_asset_url,
        "asset_version": asset_version,
        "theme_colour": THEME_COLOUR,
    }


def legacy_names(cdn: bool) -> dict[str, str]:
    """The `assets` dict templates used before asset_url (branches in flight may still use it)."""
    return {
        "htmx": asset_url(HTMX, cdn=cdn),
        "leaflet_js": asset_url(LEAFLET_JS, cdn=cdn),
        "leaflet_css": asset_url(LEAFLET_CSS, cdn=cdn),
    }
