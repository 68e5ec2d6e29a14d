"""Field: an inspector's phone on a slow network, in Chromium, against the real server.

The network is emulated with the DevTools protocol (Network.emulateNetworkConditions: 300 ms
latency, 400 kbit/s down, 200 kbit/s up) on a phone-sized page and on its service worker,
against servers on free loopback ports over the demo city (`inspect-app demo` into a temporary
SQLite database). Prints, as a table:

- bytes on the wire (CDP Network.loadingFinished encodedDataLength: headers and body as they
  crossed the network; uploads from the Content-Length of the requests sent) and the time of the
  first visit (no HTTP cache, no service worker) and a repeat visit of the sign-in, start and
  inspection pages. "page" is what the page loaded (also through its service worker), "+sw"
  what the service worker fetched besides meanwhile (its shell, the pages it keeps);
- a whole inspection, 27 items and 5 photos from a 12-megapixel camera, done online on a phone
  that has kept its pages already (as a phone in use has);
- the same done offline (from the pages the phone kept), then the sync once back online;

each next to a baseline measured in the same run: the same code with static files served as they
were before versioned URLs (unversioned, uncompressed, no Cache-Control) and the page templates
not trimmed. Then it checks the targets (printed, not asserted): the first visit of the
inspection page <= 60 KB on the wire, a repeat visit <= 15 KB, each photo crosses the network
once, the sync ends with nothing left in the outbox.

    python bench/field.py [--photos 5] [--no-baseline] [--workdir DIR]

It takes several minutes: the demo city (about 1.5 min), then a few minutes per server.
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
from tests.wire import Network, Tally, Wire

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
    """Nothing waits in the phone's outbox and no htmx request is in flight."""
    from playwright.sync_api import expect

    expect(page.locator("#sync-status")).to_have_attribute("data-pending", "0", timeout=PATIENCE_MS)
    expect(page.locator(".htmx-request")).to_have_count(0, timeout=PATIENCE_MS)


def visit(page, url: str) -> None:
    page.goto(url, wait_until="load")
    page.wait_for_load_state("networkidle")  # the manifest and icons come after load


def fill_section(page, photos: list[Path]) -> int:
    """Answers every item of the section on screen as a thumb would; fails the first item that
    takes a photo (while photos are left) and photographs it. Returns the photos used."""
    used = 0
    for group in page.locator("fieldset.item").all():
        camera = group.locator("input[type=file]")
        if group.locator("input[type=radio][value=pass]").count():
            fail = used < len(photos) and used == 0 and camera.count() > 0
            group.locator(f"label:has(input[value={'fail' if fail else 'pass'}])").tap()
            if fail:
                camera.first.set_input_files(str(photos[used]))
                group.locator("figure img").first.wait_for(timeout=PATIENCE_MS)
                used += 1
        elif group.locator("select[name^=value]").count():
            group.locator("select[name^=value]").select_option(index=1)
        else:
            value = group.locator("input[type=number], textarea[name^=value]").first
            value.fill("3.2" if value.get_attribute("type") == "number" else "无其他情况")
            value.blur()
        group.locator(".item-status .saved").wait_for(timeout=PATIENCE_MS)
    return used


def start(page, nth: int) -> str:
    """Picks a site on the start page and starts; returns the inspection's client_uuid."""
    page.locator("#sites .site").nth(nth).tap()
    page.locator("form[data-start] button[type=submit]").tap()
    page.wait_for_url(re.compile(r"/inspections/c/[0-9a-f-]+"), timeout=PATIENCE_MS)
    return re.search(r"/inspections/c/([0-9a-f-]+)", page.url).group(1)


def fill_and_submit(page, photos: list[Path], online: bool) -> None:
    """Every section, moving on with the section button, then submit."""
    remaining = list(photos)
    while True:
        remaining = remaining[fill_section(page, remaining) :]
        if online:
            idle(page)
        go = page.locator("button[name=go]")
        section = go.get_attribute("value") if go.count() else None
        if not section or section == page.locator("[data-fill]").get_attribute("data-section"):
            break  # the last section: "save section" stays here
        go.tap()
        page.wait_for_url(re.compile(f"section={section}"), timeout=PATIENCE_MS)
    page.locator("button[data-submit]").tap()
    page.wait_for_url(
        re.compile(r"/done$") if online else re.compile(r"/inspections\?queued="),
        timeout=PATIENCE_MS,
    )


def kept(page, path: str) -> None:
    """The service worker controls the page and has refreshed every page it keeps (it answers
    'kept', which sets html[data-kept]), this one among them."""
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    if not page.evaluate("!!navigator.serviceWorker.controller"):
        page.reload()
    page.evaluate("document.documentElement.removeAttribute('data-kept')")
    page.evaluate("navigator.serviceWorker.controller.postMessage({type: 'refresh'})")
    page.locator("html[data-kept]").wait_for(state="attached", timeout=PATIENCE_MS)
    deadline = time.monotonic() + PATIENCE_MS / 1000
    script = (
        "caches.open('pages').then(c => c.keys())"
        ".then(ks => ks.map(r => new URL(r.url).pathname + new URL(r.url).search))"
    )
    while path not in page.evaluate(script):
        assert time.monotonic() < deadline, f"{path} was not kept"
        page.wait_for_timeout(500)


def run(browser, base: str, password: str, photos: list[Path]) -> tuple[list[Row], list[str]]:
    """The visits, then a whole inspection online, then one offline and synced. Returns the
    rows and the client_uuid of the two inspections."""
    from tests.clients import PHONE

    context = browser.new_context(**PHONE)
    context.grant_permissions(["geolocation"], origin=base)
    context.set_geolocation({"latitude": GPS[0], "longitude": GPS[1]})
    page = context.new_page()
    page.set_default_timeout(60_000)
    browser_cdp = browser.new_browser_cdp_session()
    cdp = context.new_cdp_session(page)
    wire = Wire(browser_cdp, cdp, base, Network(LATENCY_MS, DOWN_KBIT, UP_KBIT))

    def first_and_repeat(name: str, url: str) -> list[Row]:
        # A phone that never saw the app: no HTTP cache, no service worker, nothing kept.
        cdp.send("Network.clearBrowserCache")
        cdp.send(
            "Storage.clearDataForOrigin",
            {"origin": base, "storageTypes": "cache_storage,service_workers"},
        )
        return [
            measured(wire, f"{name}, first visit", lambda: visit(page, url)),
            measured(wire, f"{name}, repeat visit", lambda: visit(page, url)),
        ]

    uuids: list[str] = []
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
        start(page, 1)  # a draft to look at (not measured)
        idle(page)
        rows += first_and_repeat("inspection page", page.url)

        visit(page, f"{base}/inspections/new")
        kept(page, "/inspections/new")  # a phone in use: its pages kept before the inspection
        wire.by_kind.clear()

        def online() -> None:
            uuids.append(start(page, 0))
            fill_and_submit(page, photos, online=True)

        rows.append(measured(wire, f"whole inspection online ({len(photos)} photos)", online))
        rows[-1].detail = dict(wire.by_kind)

        visit(page, f"{base}/inspections/new")
        kept(page, "/inspections/new")
        wire.set_offline(True)

        def offline() -> None:
            page.goto(f"{base}/inspections/new")
            uuids.append(start(page, 2))
            fill_and_submit(page, photos, online=False)

        rows.append(measured(wire, "the same, offline (on the phone)", offline))
        wire.set_offline(False)
        rows.append(measured(wire, "back online: the outbox syncs", lambda: idle(page)))
        rows[-1].detail = {
            "left in the outbox": int(page.locator("#sync-status").get_attribute("data-pending"))
        }
    except Exception:
        failure = Path(tempfile.gettempdir()) / "field-failure"
        page.screenshot(path=f"{failure}.png", full_page=True)
        Path(f"{failure}.html").write_text(page.content())
        print(f"failed at {page.url}; see {failure}.png and .html", file=sys.stderr)
        raise
    context.close()
    browser_cdp.detach()
    return rows, uuids


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


def photo_check(env: dict[str, str], client_uuid: str, uploads: list[int]) -> str:
    """Did each photo of the inspection cross the network once? Upload bodies vs stored sizes."""
    from sqlalchemy import create_engine
    from sqlmodel import Session, select

    from inspect_app.models import Answer, AnswerPhoto, Inspection, Photo

    engine = create_engine(env["INSPECT_DATABASE_URL"])
    with Session(engine) as session:
        sizes = session.exec(
            select(Photo.id, Photo.original_bytes)
            .join(AnswerPhoto, AnswerPhoto.photo_id == Photo.id)
            .join(Answer, Answer.id == AnswerPhoto.answer_id)
            .join(Inspection, Inspection.id == Answer.inspection_id)
            .where(Inspection.client_uuid == client_uuid, Inspection.status == "submitted")
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
    """KB the page received, KB its service worker received, KB sent, seconds, requests."""
    modes = list(results)
    cells = f"{'page':>7}{'+sw':>6}{'up':>6}{'s':>7}{'req':>4}"
    print(f"{'':40}" + "".join(f"{m + ' (KB, s)':^30}" for m in modes))
    print(f"{'':40}" + cells * len(modes))
    print("-" * (40 + 30 * len(modes)))
    for i, row in enumerate(results[modes[-1]]):
        line = f"{row.what:40}"
        for m in modes:
            if i >= len(results[m]):
                line += f"{'-':>30}"
                continue
            r, t = results[m][i], results[m][i].tally
            line += f"{t.down / KB:>7.1f}{t.worker / KB:>6.1f}{t.up / KB:>6.0f}"
            line += f"{r.seconds:>7.1f}{t.requests:>4}"
        print(line)


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
    from tests.clients import CHROMIUM, CHROMIUM_ARGS

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
                    rows, uuids = run(browser, server.base_url, password, photos)
                except Exception:
                    print(f"failed; the server's log: {server.log_tail()}", file=sys.stderr)
                    raise
                finally:
                    server.stop()
                results[mode] = rows
                by_what = {row.what: row for row in rows}
                online = next(r for r in rows if r.what.startswith("whole inspection online"))
                checks[f"{mode}, online"] = photo_check(env, uuids[0], online.tally.uploads)
                offline = by_what["the same, offline (on the phone)"].tally.uploads
                synced = by_what["back online: the outbox syncs"]
                checks[f"{mode}, offline"] = (
                    photo_check(env, uuids[1], offline + synced.tally.uploads)
                    + f"; left in the outbox: {synced.detail['left in the outbox']}"
                )
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
    print("where the online inspection's bytes down went (current):")
    detail = next(
        r for r in results["current"] if r.what.startswith("whole inspection online")
    ).detail
    for kind, size in sorted(detail.items(), key=lambda kv: -kv[1])[:8]:
        print(f"  {size / KB:8.1f} KB  {kind}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
