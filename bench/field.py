"""Field: an inspector's phone on a slow network, in Chromium, against the real server.

The network is emulated with the DevTools protocol (Network.emulateNetworkConditions: 300 ms
latency, 400 kbit/s down, 200 kbit/s up) on a phone-sized page, against `inspect-app serve`-like
servers on free loopback ports over the demo city (`inspect-app demo` into a temporary SQLite
database). Prints, as a table:

- bytes on the wire (CDP Network.loadingFinished encodedDataLength: headers and body as they
  crossed the network; uploads from the Content-Length of the requests sent) and the time of the
  first visit (empty browser cache) and a repeat visit of the sign-in, start and inspection pages;
- a whole inspection, 27 items and 5 photos from a 12-megapixel camera, done online: start, every
  answer saved as it is given, photos uploaded, submitted;

each next to a baseline measured in the same run: the same code with static files served as they
were before versioned URLs (unversioned, uncompressed, no Cache-Control) and the page templates
not trimmed. Then it checks the targets (printed, not asserted): the first visit of the
inspection page <= 60 KB on the wire, a repeat visit <= 15 KB, photos cross the network once.

    python bench/field.py [--photos 5] [--no-baseline]

It takes a few minutes: the demo city (about 1.5 min), then a few minutes per server.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import secrets
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.reliability import Server

KB = 1024
LATENCY_MS = 300
DOWN_KBIT, UP_KBIT = 400, 200
TARGET_FIRST, TARGET_REPEAT = 60 * KB, 15 * KB
INSPECTOR = "inspector01"
GPS = (26.8968, 112.5719)
PATIENCE_MS = 300_000  # a photo at 200 kbit/s takes tens of seconds


# --- the server: the current code, or the same code served as before ----------------------------


def serve(mode: str, port: int) -> None:
    """Runs in the server subprocess: the app from the environment's settings, on the port."""
    import uvicorn

    from inspect_app.main import create_app

    app = create_app()
    if mode == "baseline":
        as_before(app)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


def as_before(app) -> None:
    """Static files as Starlette's StaticFiles served them under plain /static/ URLs (no
    compression, no Cache-Control), and templates rendered without trimming."""
    from starlette.routing import Mount
    from starlette.staticfiles import StaticFiles

    from inspect_app.web import assets, rendering

    routes = app.router.routes
    for i, route in enumerate(routes):
        if isinstance(route, Mount) and route.path == "/static":
            routes[i] = Mount("/static", StaticFiles(directory=assets.STATIC_DIR), name="static")
    assets.asset_url = lambda name, cdn=None: "/static/" + name
    env = rendering.templates.env
    env.extensions.pop(rendering.Dedent.identifier, None)
    env.trim_blocks = False
    env.cache.clear()


class FieldServer(Server):
    """The server subprocess runs this file with --serve MODE (args[0]) instead of `serve`."""

    def command(self) -> list[str]:
        me = str(Path(__file__).resolve())
        return [sys.executable, me, "--serve", self.args[0], "--port", str(self.port)]


# --- what crosses the network ---------------------------------------------------------------------


@dataclass
class Tally:
    down: int = 0
    up: int = 0
    requests: int = 0
    uploads: list[int] = field(default_factory=list)  # multipart request bodies (photos)

    def __sub__(self, other: Tally) -> Tally:
        return Tally(
            self.down - other.down,
            self.up - other.up,
            self.requests - other.requests,
            self.uploads[len(other.uploads) :],
        )


class Wire:
    """Counts what the page sends and receives, from its DevTools Network events."""

    def __init__(self, cdp):
        self.tally = Tally()
        self.urls: dict[str, str] = {}
        self.by_kind: dict[str, int] = {}
        cdp.on("Network.requestWillBeSent", self._will_send)
        cdp.on("Network.loadingFinished", self._finished)
        cdp.on("Network.requestWillBeSentExtraInfo", self._sent)

    def _will_send(self, event) -> None:
        path = re.sub(r"^https?://[^/]+", "", event["request"]["url"])
        self.urls[event["requestId"]] = event["request"]["method"] + " " + path

    def _finished(self, event) -> None:
        if event["encodedDataLength"] > 0:  # 0: served from the browser's cache
            self.tally.down += event["encodedDataLength"]
            self.tally.requests += 1
            kind = re.sub(r"\d+", "N", self.urls.get(event["requestId"], "?").split("?")[0])
            self.by_kind[kind] = self.by_kind.get(kind, 0) + event["encodedDataLength"]

    def _sent(self, event) -> None:
        headers = {k.lower(): v for k, v in event.get("headers", {}).items()}
        body = int(headers.get("content-length", "0") or 0)
        self.tally.up += body + sum(len(k) + len(v) + 4 for k, v in headers.items())
        if headers.get("content-type", "").startswith("multipart/form-data"):
            self.tally.uploads.append(body)

    def snapshot(self) -> Tally:
        return Tally(self.tally.down, self.tally.up, self.tally.requests, list(self.tally.uploads))


@dataclass
class Row:
    what: str
    tally: Tally
    seconds: float
    detail: dict[str, int] = field(default_factory=dict)  # bytes down by request kind


def measured(wire: Wire, what: str, action) -> Row:
    before, start = wire.snapshot(), time.monotonic()
    action()
    return Row(what, wire.snapshot() - before, time.monotonic() - start)


# --- the phone ------------------------------------------------------------------------------------


def camera_jpeg(path: Path, seed: int) -> Path:
    """A 4032x3024 JPEG with a camera photo's kind of detail (what the page downscales first)."""
    from PIL import Image, ImageFilter

    rnd = random.Random(seed)
    small = Image.effect_noise((504, 378), 40).convert("RGB")
    small = Image.merge(
        "RGB", [c.point(lambda v, o=rnd.randint(0, 90): v + o) for c in small.split()]
    )
    image = small.resize((4032, 3024), Image.Resampling.BICUBIC).filter(ImageFilter.DETAIL)
    image.save(path, "JPEG", quality=90)
    return path


def idle(page) -> None:
    from playwright.sync_api import expect

    expect(page.locator(".htmx-request")).to_have_count(0, timeout=PATIENCE_MS)


def visit(page, url: str) -> None:
    page.goto(url, wait_until="load")
    page.wait_for_load_state("networkidle")  # the manifest and icons come after load


def fill_section(page, photos: list[Path]) -> int:
    """Answers every item of the section on screen as a thumb would; fails the first item that
    takes a photo (while photos are left) and photographs it. Returns the photos used."""
    used = 0
    for group in page.locator("fieldset.item").all():
        camera = group.locator("input[type=file][data-camera]")
        if group.locator("input[type=radio][value=pass]").count():
            fail = used < len(photos) and used == 0 and camera.count() > 0
            group.locator(f"label:has(input[value={'fail' if fail else 'pass'}])").tap()
            group.locator(".item-status .saved").wait_for(timeout=PATIENCE_MS)
            if fail:
                camera.set_input_files(str(photos[used]))
                group.locator("figure[data-photo] img").wait_for(timeout=PATIENCE_MS)
                idle(page)
                group.locator(".item-status .saved").wait_for(timeout=PATIENCE_MS)
                used += 1
        elif group.locator("select[name^=value]").count():
            group.locator("select[name^=value]").select_option(index=1)
            group.locator(".item-status .saved").wait_for(timeout=PATIENCE_MS)
        else:
            value = group.locator("input[type=number], textarea[name^=value]").first
            value.fill("3.2" if value.get_attribute("type") == "number" else "无其他情况")
            value.blur()
            group.locator(".item-status .saved").wait_for(timeout=PATIENCE_MS)
    idle(page)
    return used


def whole_inspection(page, base: str, photos: list[Path]) -> int:
    """From the start page: pick a site, start, answer all sections, submit. Returns its id."""
    page.locator("#sites .site").first.tap()
    page.locator("form[data-start] button[type=submit]").tap()
    page.wait_for_url(re.compile(r"/inspections/\d+$"))
    inspection_id = int(page.url.rsplit("/", 1)[1])
    remaining = list(photos)
    while True:
        remaining = remaining[fill_section(page, remaining) :]
        go = page.locator("button[name=go]")
        section = go.get_attribute("value") if go.count() else None
        if not section or page.url.endswith(f"section={section}"):
            break  # the last section: "save section" stays here
        go.tap()
        page.wait_for_url(f"**section={section}", timeout=PATIENCE_MS)
    page.locator("button[data-submit]").tap()
    page.wait_for_url("**/done", timeout=PATIENCE_MS)
    return inspection_id


def start_draft(page) -> str:
    """A draft to look at, started as the inspector does (not measured)."""
    page.locator("#sites .site").nth(1).tap()
    page.locator("form[data-start] button[type=submit]").tap()
    page.wait_for_url(re.compile(r"/inspections/\d+$"))
    return page.url


def run(browser, base: str, password: str, photos: list[Path]) -> tuple[list[Row], int]:
    from tests.browser.conftest import PHONE

    context = browser.new_context(**PHONE)
    context.grant_permissions(["geolocation"], origin=base)
    context.set_geolocation({"latitude": GPS[0], "longitude": GPS[1]})
    page = context.new_page()
    page.set_default_timeout(60_000)
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send(
        "Network.emulateNetworkConditions",
        {
            "offline": False,
            "latency": LATENCY_MS,
            "downloadThroughput": DOWN_KBIT * 1000 / 8,
            "uploadThroughput": UP_KBIT * 1000 / 8,
        },
    )
    wire = Wire(cdp)

    def first_and_repeat(name: str, url: str) -> list[Row]:
        cdp.send("Network.clearBrowserCache")
        return [
            measured(wire, f"{name}, first visit", lambda: visit(page, url)),
            measured(wire, f"{name}, repeat visit", lambda: visit(page, url)),
        ]

    try:
        rows = first_and_repeat("sign-in page", f"{base}/login")
        page.fill("input[name=username]", INSPECTOR)
        page.fill("input[name=password]", password)
        rows.append(
            measured(
                wire,
                "sign in (to the inspector's home)",
                lambda: (
                    page.click("button[type=submit]"),
                    page.wait_for_url(f"{base}/inspections"),
                ),
            )
        )
        rows += first_and_repeat("start page", f"{base}/inspections/new")
        draft = start_draft(page)
        rows += first_and_repeat("inspection page", draft)
        visit(page, f"{base}/inspections/new")
        wire.by_kind.clear()
        done: list[int] = []
        rows.append(
            measured(
                wire,
                f"whole inspection online ({len(photos)} photos)",
                lambda: done.append(whole_inspection(page, base, photos)),
            )
        )
    except Exception:
        failure = Path(tempfile.gettempdir()) / "field-failure"
        page.screenshot(path=f"{failure}.png", full_page=True)
        Path(f"{failure}.html").write_text(page.content())
        print(f"failed at {page.url}; see {failure}.png and .html", file=sys.stderr)
        raise
    rows[-1].detail = dict(wire.by_kind)
    context.close()
    return rows, done[0]


# --- setting up and reporting ---------------------------------------------------------------------


def demo_city(workdir: Path) -> dict[str, str]:
    """The demo city in workdir, made once; its users' password is kept beside it."""
    import subprocess

    secret = workdir / "password"
    if not secret.exists():
        (workdir / "field.db").unlink(missing_ok=True)
        secret.write_text(secrets.token_urlsafe(12))
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "INSPECT_DATABASE_URL": f"sqlite:///{workdir / 'field.db'}",
        "INSPECT_UPLOAD_DIR": str(workdir / "uploads"),
        "INSPECT_SECRET_KEY": secrets.token_urlsafe(32),
        "INSPECT_DEMO_PASSWORD": secret.read_text(),
    }
    print("loading the demo city (once per workdir) …", flush=True)
    subprocess.run(
        [sys.executable, "-m", "inspect_app.cli", "demo"],
        cwd=workdir,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return env


def photo_check(env: dict[str, str], inspection_id: int, uploads: list[int]) -> str:
    """Did each photo of the inspection cross the network once? Upload bodies vs stored sizes."""
    from sqlalchemy import create_engine
    from sqlmodel import Session, select

    from inspect_app.models import Answer, AnswerPhoto, Photo

    engine = create_engine(env["INSPECT_DATABASE_URL"])
    with Session(engine) as session:
        sizes = session.exec(
            select(Photo.id, Photo.original_bytes)
            .join(AnswerPhoto, AnswerPhoto.photo_id == Photo.id)
            .join(Answer, Answer.id == AnswerPhoto.answer_id)
            .where(Answer.inspection_id == inspection_id)
            .distinct()
        ).all()
    engine.dispose()
    stored = sum(size for _, size in sizes)
    sent = sum(uploads)
    once = len(uploads) == len(sizes) and sent <= stored * 1.02 + 1024 * len(sizes)
    return (
        f"{len(uploads)} uploads for {len(sizes)} photos, {sent / KB:.0f} KB sent for "
        f"{stored / KB:.0f} KB stored: {'once' if once else 'MORE THAN ONCE'}"
    )


def table(results: dict[str, list[Row]]) -> None:
    modes = list(results)
    header = f"{'':44}" + "".join(f"{m + ' KB':>14}{'s':>8}{'req':>5}" for m in modes)
    print(header)
    print("-" * len(header))
    for i, row in enumerate(results[modes[-1]]):
        line = f"{row.what:44}"
        for m in modes:
            r = results[m][i]
            line += f"{r.tally.down / KB:>14.1f}{r.seconds:>8.1f}{r.tally.requests:>5}"
        print(line)
    print(
        f"{'':44}(KB down; up for the whole inspection: "
        + ", ".join(f"{m} {results[m][-1].tally.up / KB:.0f} KB" for m in modes)
        + ")"
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=int, default=5)
    parser.add_argument("--no-baseline", action="store_true", help="measure the current code only")
    parser.add_argument(
        "--workdir", type=Path, help="keep the demo city here and reuse it on the next run"
    )
    parser.add_argument("--serve", choices=("current", "baseline"), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve, args.port)
        return 0

    from playwright.sync_api import sync_playwright

    from inspect_app.config import Settings
    from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS

    os.environ["PYTHONPATH"] = str(ROOT)
    with tempfile.TemporaryDirectory(prefix="field-") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        env = demo_city(workdir)
        password = env["INSPECT_DEMO_PASSWORD"]
        settings = Settings(
            database_url=env["INSPECT_DATABASE_URL"],
            upload_dir=Path(env["INSPECT_UPLOAD_DIR"]),
            secret_key=env["INSPECT_SECRET_KEY"],
        )
        photos = [camera_jpeg(workdir / f"IMG_{k:04d}.jpg", k) for k in range(args.photos)]
        print(
            f"photos: {args.photos} × {sum(p.stat().st_size for p in photos) / args.photos / KB:.0f} KB "
            f"(4032×3024); network: {LATENCY_MS} ms, {DOWN_KBIT} kbit/s down, {UP_KBIT} kbit/s up",
            flush=True,
        )
        results: dict[str, list[Row]] = {}
        checks: dict[str, str] = {}
        modes = ("current",) if args.no_baseline else ("baseline", "current")
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for mode in modes:
                server = FieldServer(settings, workdir / mode, args=(mode,))
                server.start(timeout=180)
                try:
                    print(f"{mode}: driving the phone …", flush=True)
                    rows, inspection_id = run(browser, server.base_url, password, photos)
                except Exception:
                    print(f"failed; the server's log: {server.log_tail()}", file=sys.stderr)
                    raise
                finally:
                    server.stop()
                results[mode] = rows
                checks[mode] = photo_check(env, inspection_id, rows[-1].tally.uploads)
            browser.close()
    print()
    table(results)
    current = {row.what: row for row in results["current"]}
    first = current["inspection page, first visit"].tally.down
    repeat = current["inspection page, repeat visit"].tally.down
    print()
    print(
        f"target: inspection page first visit {first / KB:.1f} KB <= {TARGET_FIRST // KB} KB: "
        + ("met" if first <= TARGET_FIRST else "MISSED")
    )
    print(
        f"target: inspection page repeat visit {repeat / KB:.1f} KB <= {TARGET_REPEAT // KB} KB: "
        + ("met" if repeat <= TARGET_REPEAT else "MISSED")
    )
    for mode, check in checks.items():
        print(f"photos ({mode}): {check}")
    print()
    print("where the whole inspection's bytes down went (current):")
    detail = results["current"][-1].detail
    for kind, size in sorted(detail.items(), key=lambda kv: -kv[1])[:8]:
        print(f"  {size / KB:8.1f} KB  {kind}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
