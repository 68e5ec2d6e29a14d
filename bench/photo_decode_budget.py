"""Six concurrent uploads of a 50-megapixel image to the real server: the peak resident memory of
the server with the decode budget, next to the same burst with the budget off, in the same run.

    python bench/photo_decode_budget.py [--uploads 6] [--budget-mb 512] [--format png]

Starts `inspect-app serve` (one process, a fresh SQLite database and upload folder, 127.0.0.1 on a
free port) once per setting, signs in over the API, resets the server's peak RSS (VmHWM, Linux
/proc/PID/clear_refs), sends the uploads at once from threads, and reads the peak back.
The image: 8660 x 5774 RGBA (50 MP, 200 MB decoded) in a PNG of about 240 KB; each upload gets
other bytes after IEND, so none is deduplicated. Target (issue 12): at most 1 GB with the budget.
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx
from PIL import Image, ImageDraw

from tests.reliability import free_port

SIZE = (8660, 5774)  # 50.0 MP


def big_image(fmt: str) -> bytes:
    """A 50 MP picture that compresses well: flat colour, a few shapes, transparency."""
    mode = "RGBA" if fmt in ("PNG", "WEBP") else "RGB"
    im = Image.new(mode, SIZE, (30, 90, 200, 255)[: len(mode)])
    draw = ImageDraw.Draw(im)
    draw.rectangle((0, 0, SIZE[0] // 4, SIZE[1] // 4), fill=(230, 20, 20, 160)[: len(mode)])
    draw.ellipse((3000, 2000, 6000, 4000), fill=(250, 250, 0, 90)[: len(mode)])
    out = io.BytesIO()
    options = {"PNG": {"optimize": True}, "WEBP": {"lossless": True}, "JPEG": {"quality": 80}}
    im.save(out, fmt, **options.get(fmt, {}))
    return out.getvalue()


def rss_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/{pid}/status")


class Server:
    """One `inspect-app serve` on a fresh database, with extra environment settings."""

    def __init__(self, work: Path, env: dict[str, str]):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        work.mkdir(parents=True, exist_ok=True)
        self.env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "INSPECT_DATABASE_URL": f"sqlite:///{work}/bench.db",
            "INSPECT_UPLOAD_DIR": str(work / "uploads"),
            "INSPECT_SECRET_KEY": "benchmark-secret-key-0123456789",
            **env,
        }
        self.log = open(work / "server.log", "wb")
        cli = [sys.executable, "-m", "inspect_app.cli"]
        subprocess.run(  # migrates the fresh database, then adds the user
            [*cli, "user", "add", "bench", "--role", "office", "--password-stdin"],
            input=b"bench-password-1234\n",
            env=self.env,
            cwd=work,
            check=True,
            capture_output=True,
        )
        self.process = subprocess.Popen(
            [*cli, "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            env=self.env,
            cwd=work,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            self.stop()
            raise RuntimeError("the server did not start")
        r = httpx.post(
            self.url + "/api/v1/auth/token",
            data={"username": "bench", "password": "bench-password-1234"},
        )
        r.raise_for_status()
        self.token = r.json()["access_token"]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


def burst(server: Server, data: bytes, name: str, uploads: int) -> dict:
    """`uploads` uploads at once; the server's peak RSS over the burst."""
    pid = server.process.pid
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # VmHWM := VmRSS
    idle = rss_kb(pid, "VmRSS")
    results: list[tuple[int, float, str]] = []
    start = threading.Barrier(uploads)

    def one(n: int) -> None:
        body = data + n.to_bytes(4, "big")  # after the image's end: other bytes, same picture
        start.wait()
        t0 = time.perf_counter()
        r = httpx.post(
            server.url + "/api/v1/photos",
            files={"file": (name, body, "application/octet-stream")},
            headers={"Authorization": f"Bearer {server.token}"},
            timeout=600,
        )
        results.append((r.status_code, time.perf_counter() - t0, r.headers.get("retry-after", "")))

    threads = [threading.Thread(target=one, args=(n,)) for n in range(uploads)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {
        "idle_mb": idle / 1024,
        "peak_mb": rss_kb(pid, "VmHWM") / 1024,
        "seconds": time.perf_counter() - t0,
        "statuses": sorted(r[0] for r in results),
        "slowest": max(r[1] for r in results),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--uploads", type=int, default=6)
    parser.add_argument("--budget-mb", type=int, default=512)
    parser.add_argument(
        "--wait", type=float, default=120.0, help="decode_wait_seconds (the server default is 15)"
    )
    parser.add_argument("--format", default="png", choices=["png", "webp", "jpeg", "heif"])
    args = parser.parse_args()

    fmt = args.format.upper()
    if fmt == "HEIF":
        import pillow_heif

        pillow_heif.register_heif_opener()
    data = big_image(fmt)
    print(
        f"input: {SIZE[0]}x{SIZE[1]} ({SIZE[0] * SIZE[1] / 1e6:.1f} MP) {fmt}, "
        f"{len(data) / 1024:.0f} KB; {args.uploads} concurrent uploads; one server process"
    )
    work = Path(tempfile.mkdtemp(prefix="bench-budget-"))
    runs = {
        "no budget (baseline)": {"INSPECT_DECODE_BUDGET_MB": "0"},
        f"budget {args.budget_mb} MB": {
            "INSPECT_DECODE_BUDGET_MB": str(args.budget_mb),
            "INSPECT_DECODE_WAIT_SECONDS": str(args.wait),
        },
    }
    measured = {}
    for n, (label, env) in enumerate(runs.items()):
        server = Server(work / f"run{n}", env)
        try:
            measured[label] = burst(server, data, f"big.{args.format}", args.uploads)
        finally:
            server.stop()
    print(
        f"{'setting':<22}{'idle MB':>9}{'peak RSS MB':>13}{'burst s':>9}{'slowest s':>11}  statuses"
    )
    for label, m in measured.items():
        print(
            f"{label:<22}{m['idle_mb']:>9.0f}{m['peak_mb']:>13.0f}{m['seconds']:>9.1f}"
            f"{m['slowest']:>11.1f}  {m['statuses']}"
        )
    base, budget = measured.values()
    print(
        f"peak with budget / without: {budget['peak_mb'] / base['peak_mb']:.2f} "
        f"(target: at most 1024 MB with the budget: {'met' if budget['peak_mb'] <= 1024 else 'NOT met'})"
    )
    print("load average: {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()))


if __name__ == "__main__":
    main()
