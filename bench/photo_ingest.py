"""Ingest one 12-megapixel phone JPEG (4000x3000 stored, EXIF orientation 6) with the photo
pipeline, against the same job done the plain Pillow way in the same run.

    python bench/photo_ingest.py [--runs 7]

- pipeline: photos.ingest (hash, temporary file, format sniffing, JPEG draft decode, orientation,
  web copy 1600 px + thumbnail 400 px, fsync and rename, original kept, Photo row in SQLite);
- naive: Image.open -> ImageOps.exif_transpose -> resize -> save, for web copy and thumbnail;
- pyvips: thumbnail (shrink-on-load, auto-rotate) for both copies, when pyvips and libvips are
  installed (`apt-get install libvips42 && pip install pyvips`); skipped otherwise.

Prints the median of the runs, the ratio naive/pipeline (target: at least 2x), and the peak memory
of one upload of each, each measured in a fresh subprocess (peak RSS growth, which includes
Pillow's pixel buffers, and tracemalloc's peak of Python allocations).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from PIL import Image, ImageOps
from sqlmodel import Session, SQLModel

from inspect_app.config import Settings
from inspect_app.db import make_engine
from inspect_app.domain import photos
from inspect_app.models import User
from tests.make_bad_files import phone_jpeg

WEB, THUMB, QUALITY = 1600, 400, photos.JPEG_QUALITY


def fit(size: tuple[int, int], long_side: int) -> tuple[int, int]:
    scale = long_side / max(size)
    return round(size[0] * scale), round(size[1] * scale)


class Pipeline:
    """photos.ingest on a fresh store; each call sends other bytes, so nothing is deduplicated."""

    def __init__(self, work: Path):
        self.settings = Settings(
            upload_dir=work / "uploads",
            database_url=f"sqlite:///{work}/bench.db",
            secret_key="benchmark-secret-key-0123",
        )
        self.engine = make_engine(self.settings)
        SQLModel.metadata.create_all(self.engine)
        with Session(self.engine, expire_on_commit=False) as session:
            self.user = User(username="bench", password_hash="x", role="inspector")
            session.add(self.user)
            session.commit()
        self.calls = 0

    def __call__(self, path: Path, out: Path) -> None:
        self.calls += 1
        trailer = io.BytesIO(
            self.calls.to_bytes(4, "big")
        )  # after the JPEG end marker: ignored by decoders
        with Session(self.engine) as session, open(path, "rb") as f:
            photos.ingest(
                session, self.settings, self.user, _chain(f, trailer), "IMG_0001.jpg", "image/jpeg"
            )


def _chain(*files):
    for f in files:
        while chunk := f.read(photos.CHUNK):
            yield chunk


def naive(path: Path, out: Path) -> None:
    with Image.open(path) as im:
        upright = ImageOps.exif_transpose(im)
    web = upright.resize(fit(upright.size, WEB), Image.Resampling.LANCZOS)
    web.save(out / "web.jpg", "JPEG", quality=QUALITY)
    web.resize(fit(web.size, THUMB), Image.Resampling.LANCZOS).save(
        out / "thumb.jpg", "JPEG", quality=QUALITY
    )


def vips(path: Path, out: Path) -> None:
    import pyvips

    web = pyvips.Image.thumbnail(str(path), WEB)  # shrink-on-load and EXIF auto-rotation
    web.write_to_file(str(out / "web.jpg"), Q=QUALITY, strip=True)
    web.thumbnail_image(THUMB).write_to_file(str(out / "thumb.jpg"), Q=QUALITY, strip=True)


def has_pyvips() -> bool:
    try:
        import pyvips  # noqa: F401
    except (ImportError, OSError):
        return False
    return True


def timed(method, path: Path, out: Path, runs: int) -> float:
    method(path, out)  # warm-up: imports, codec tables, page cache
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        method(path, out)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure_memory(name: str, path: Path) -> dict:
    """One ingest by `name` in a fresh interpreter: memory not shared with the timing runs."""
    out = subprocess.run(
        [sys.executable, __file__, "--memory", name, str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)


def rss_kb(field: str) -> int:
    """VmRSS (now) or VmHWM (peak since the last reset) of this process, from /proc (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _memory_child(name: str, path: Path) -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-mem-"))
    method = Pipeline(work) if name == "pipeline" else {"naive": naive, "pyvips": vips}[name]
    Path("/proc/self/clear_refs").write_text("5")  # peak RSS := current RSS
    base = rss_kb("VmRSS")
    tracemalloc.start()
    method(path, work)
    traced = tracemalloc.get_traced_memory()[1]
    print(
        json.dumps(
            {"rss_growth_mb": (rss_kb("VmHWM") - base) / 1024, "traced_peak_mb": traced / 2**20}
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--memory", nargs=2, metavar=("METHOD", "FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory:
        return _memory_child(args.memory[0], Path(args.memory[1]))

    work = Path(tempfile.mkdtemp(prefix="bench-photo-"))
    source = work / "phone.jpg"
    source.write_bytes(phone_jpeg((4000, 3000), orientation=6, noise=True))
    print(
        f"input: 4000x3000 JPEG, EXIF orientation 6, {source.stat().st_size / 1e6:.1f} MB; "
        f"median of {args.runs} runs; output: web {WEB} px + thumbnail {THUMB} px, JPEG q{QUALITY}"
    )

    methods = {"pipeline": Pipeline(work), "naive": naive}
    if has_pyvips():
        methods["pyvips"] = vips
    else:
        print("pyvips: not installed (apt-get install libvips42; pip install pyvips): skipped")
    results = {}
    for name, method in methods.items():
        out = work / name
        out.mkdir()
        results[name] = timed(method, source, out, args.runs)
    memory = {name: measure_memory(name, source) for name in methods}

    base = results["pipeline"]
    print(
        f"{'method':<10}{'median ms':>10}{'vs pipeline':>13}{'peak RSS +MB':>14}{'traced MB':>11}"
    )
    for name, seconds in results.items():
        m = memory[name]
        print(
            f"{name:<10}{seconds * 1000:>10.0f}{seconds / base:>12.2f}x"
            f"{m['rss_growth_mb']:>14.0f}{m['traced_peak_mb']:>16.1f}"
        )
    print(f"ratio naive/pipeline: {results['naive'] / base:.2f}x (target >= 2x)")
    print("load average during the run: {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()))


if __name__ == "__main__":
    main()
