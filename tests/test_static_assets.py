"""Static files: versioned URLs with a year's lifetime, gzip/brotli once, 304s, manifest, icons."""

from __future__ import annotations

import gzip
import io
import json
import re

import brotli
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from inspect_app.main import create_app
from inspect_app.web import assets
from inspect_app.web.assets import (
    HTMX,
    IMMUTABLE,
    STATIC_DIR,
    asset_url,
    asset_version,
    shell_urls,
)

HTMX_BYTES = (STATIC_DIR / HTMX).read_bytes()


def raw(client: TestClient, url: str, encoding: str | None = None, **headers):
    """GET without httpx decoding the body, so that the bytes on the wire can be checked."""
    headers = {"Accept-Encoding": encoding or "identity", **headers}
    with client.stream("GET", url, headers=headers) as r:
        return r, b"".join(r.iter_raw())


def test_versioned_url_is_immutable_and_serves_the_file(client):
    url = asset_url(HTMX)
    assert re.fullmatch(r"/static/vendor/htmx-2\.0\.11/htmx\.min\.[0-9a-f]{10}\.js", url)
    r, body = raw(client, url)
    assert r.status_code == 200 and body == HTMX_BYTES
    assert r.headers["cache-control"] == IMMUTABLE
    assert r.headers["content-type"] == "text/javascript; charset=utf-8"
    assert r.headers["vary"] == "Accept-Encoding" and "content-encoding" not in r.headers


def test_unversioned_url_keeps_working_with_a_short_lifetime(client):
    r, body = raw(client, "/static/" + HTMX)
    assert r.status_code == 200 and body == HTMX_BYTES
    assert r.headers["cache-control"] == "public, max-age=300"


def test_another_version_gets_the_current_file_but_is_not_cached(client):
    """By design: a page rendered before a deployment still works; nothing stores the new
    bytes under the old version's URL."""
    old = re.sub(r"\.[0-9a-f]{10}\.js$", ".0123456789.js", asset_url(HTMX))
    r, body = raw(client, old)
    assert r.status_code == 200 and body == HTMX_BYTES
    assert r.headers["cache-control"] == "no-cache"


@pytest.mark.parametrize(
    "path",
    [
        "/static/nothing.js",
        "/static/nothing.0123456789.js",
        "/static/../main.py",
        "/static/%2e%2e/main.py",
        "/static/vendor",
        "/static/",
    ],
)
def test_unknown_paths_are_404_json(client, path):
    r = client.get(path)
    assert r.status_code == 404 and r.json() == {"detail": "Not Found"}


def test_writes_to_static_are_refused(client):
    r = client.post(asset_url("app.css"), headers={"x-csrftoken": "x"})
    assert r.status_code in (403, 405)  # the CSRF layer or the static app refuses
    r = client.head(asset_url("app.css"))
    assert r.status_code == 200 and r.content == b""


@pytest.mark.parametrize(
    ("accept", "coding"),
    [
        ("gzip, deflate, br, zstd", "br"),
        ("gzip, deflate", "gzip"),
        ("br;q=0, gzip", "gzip"),
        ("gzip;q=0, br;q=0", None),
        ("identity", None),
        ("*", "br"),
        ("GZIP", "gzip"),
    ],
)
def test_accept_encoding_negotiation(client, accept, coding):
    assets.catalogue().assets[HTMX].encoding("br")  # the server computes it in the background
    r, body = raw(client, asset_url(HTMX), accept)
    assert r.headers.get("content-encoding") == coding
    assert r.headers["vary"] == "Accept-Encoding"
    assert int(r.headers["content-length"]) == len(body)
    decoded = {"br": brotli.decompress, "gzip": gzip.decompress, None: bytes}[coding](body)
    assert decoded == HTMX_BYTES
    if coding:
        # the figures of the issue: 52 KB plain, about 17 KB gzipped
        assert len(body) < len(HTMX_BYTES) / 2.5
        assert r.headers["etag"].endswith(f'-{coding}"')


def test_brotli_is_computed_in_the_background_and_gzip_served_meanwhile(client):
    assets.reload()
    asset = assets.catalogue().assets["vendor/leaflet-1.9.4/leaflet.js"]
    r, body = raw(client, asset.url, "gzip, br")
    assert r.headers["content-encoding"] == "gzip" and gzip.decompress(body) == asset.body
    assets._compressor.submit(lambda: None).result(timeout=60)  # the queue has run
    r, body = raw(client, asset.url, "gzip, br")
    assert r.headers["content-encoding"] == "br" and brotli.decompress(body) == asset.body
    # the figures of the issue: Leaflet 148 KB plain, about 42 KB gzipped
    assert len(body) < 42 * 1024


def test_compressed_once_not_per_request(client, monkeypatch):
    url = asset_url("app.css")
    first = raw(client, url, "gzip")[1]
    monkeypatch.setattr(assets.gzip, "compress", lambda *a, **k: pytest.fail("compressed again"))
    assert raw(client, url, "gzip")[1] == first


def test_images_are_not_recompressed(client):
    r, body = raw(client, asset_url("icons/icon-192.png"), "gzip, br")
    assert "content-encoding" not in r.headers and "vary" not in r.headers
    assert body == (STATIC_DIR / "icons/icon-192.png").read_bytes()
    assert r.headers["content-type"] == "image/png"


def test_if_none_match_gives_304_for_every_encoding(client):
    url = asset_url("inspect.js")
    for coding in ("br", "gzip", "identity"):
        r, _ = raw(client, url, coding)
        etag = r.headers["etag"]
        again, body = raw(client, url, coding, **{"If-None-Match": etag})
        assert again.status_code == 304 and body == b"", coding
        assert again.headers["etag"] == etag and again.headers["cache-control"] == IMMUTABLE
        weak, _ = raw(client, url, coding, **{"If-None-Match": f'"other", W/{etag}'})
        assert weak.status_code == 304
    changed, body = raw(client, url, None, **{"If-None-Match": '"0123456789"'})
    assert changed.status_code == 200 and body == (STATIC_DIR / "inspect.js").read_bytes()


def test_pages_are_not_compressed_and_reference_versioned_urls(client):
    """Pages carry the CSRF token: compressing them next to reflected input is BREACH."""
    r = client.get("/login", headers={"Accept-Encoding": "gzip, br"})
    assert r.status_code == 200 and "content-encoding" not in r.headers
    html = r.text
    for url in (
        asset_url("app.css"),
        asset_url(HTMX),
        asset_url("manifest.webmanifest"),
        asset_url("icons/favicon.ico"),
        asset_url("icons/apple-touch-icon.png"),
    ):
        assert f'"{url}"' in html
    assert '<meta name="theme-color" content="#0f2f63">' in html
    urls = re.findall(r'(?:src|href)="(/static/[^"]*)"', html)
    assert all(re.search(r"\.[0-9a-f]{10}\.\w+$", u) for u in urls), urls


def test_every_static_reference_in_the_inspector_pages_is_versioned(login_as):
    client, _ = login_as("inspector")
    for page in ("/inspections", "/inspections/new"):
        html = client.get(page).text
        urls = re.findall(r'(?:src|href)="(/static/[^"]*)"', html)
        assert urls and all(re.search(r"\.[0-9a-f]{10}\.\w+$", u) for u in urls), urls
        for url in urls:
            assert client.get(url).headers["cache-control"] == IMMUTABLE


def test_cdn_setting_keeps_the_pinned_unpkg_urls(settings):
    cdn_app = create_app(settings.model_copy(update={"assets": "cdn"}))
    with TestClient(cdn_app) as client:
        html = client.get("/login").text
    assert '"https://unpkg.com/htmx.org@2.0.11/dist/htmx.min.js"' in html
    assert f'"{asset_url("app.css")}"' in html  # our own files stay local
    # the app that renders decides, not the last one created
    with TestClient(create_app(settings)) as client:
        assert f'"{asset_url(HTMX, cdn=False)}"' in client.get("/login").text


def test_asset_version_and_shell_urls_follow_the_files(tmp_path, monkeypatch):
    folder = tmp_path / "static"
    for name in ("app.css", "inspect.js", HTMX, *(i for i, _, _ in assets.ICONS)):
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes((STATIC_DIR / name).read_bytes())
    (folder / assets.APPLE_TOUCH_ICON).write_bytes(b"\x89PNG")
    monkeypatch.setitem(assets._config, "directory", folder)
    version, shell = asset_version(), shell_urls()
    assert len(version) == 10 and len(shell) == len(set(shell)) == 8
    assert asset_url("app.css") in shell and asset_url("manifest.webmanifest") in shell
    (folder / "app.css").write_text("body { color: red }")
    assets.reload()
    assert asset_version() != version
    assert asset_url("app.css") not in shell
    assert asset_url(HTMX) in shell  # the others keep their URLs
    (folder / "other.js").write_text("1")
    assets.reload()
    assert asset_url("other.js")  # a new file gets a URL too
    monkeypatch.undo()
    assets.reload()


def test_manifest_is_valid_and_its_icons_have_their_sizes(client):
    r, body = raw(client, asset_url("manifest.webmanifest"))
    assert r.headers["content-type"] == "application/manifest+json"
    manifest = json.loads(body)
    assert manifest["name"] == "安全检查" and manifest["short_name"]
    assert manifest["display"] == "standalone"
    assert manifest["start_url"] == "/" and manifest["scope"] == "/"
    assert re.fullmatch(r"#[0-9a-f]{6}", manifest["theme_color"])
    purposes = set()
    for icon in manifest["icons"]:
        r = client.get(icon["src"])
        assert r.status_code == 200 and r.headers["cache-control"] == IMMUTABLE
        image = Image.open(io.BytesIO(r.content))
        assert image.format == "PNG" and f"{image.width}x{image.height}" == icon["sizes"]
        purposes.add(icon["purpose"])
    sizes = {icon["sizes"] for icon in manifest["icons"]}
    assert {"192x192", "512x512"} <= sizes and purposes == {"any", "maskable"}


def test_maskable_icon_fills_its_corners_and_keeps_the_safe_zone():
    image = Image.open(STATIC_DIR / "icons/maskable-512.png").convert("RGBA")
    assert image.getpixel((0, 0))[3] == 255  # full bleed: the launcher cuts the shape
    # nothing but background outside the central 80 % circle
    edge = image.getpixel((256, 30))
    assert edge == image.getpixel((0, 0))


def test_favicon(client):
    r = client.get("/favicon.ico")
    assert r.status_code == 200 and r.headers["content-type"] == "image/x-icon"
    assert r.headers["cache-control"] == "public, max-age=86400"
    icon = Image.open(io.BytesIO(r.content))
    assert icon.format == "ICO" and {(16, 16), (32, 32), (48, 48)} <= icon.info["sizes"]
    again = client.get("/favicon.ico", headers={"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
