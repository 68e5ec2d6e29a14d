"""deploy/: Debian's nginx, run with our configuration (rendered into a temporary folder, on
loopback ports, as a foreground process: no system service), in front of two real app servers
on one database and one bucket; a sign-in, a photo upload and a report download go through it,
and both servers take part."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from inspect_app.config import Settings
from tests.cluster import S3_ENV, MotoServer, bearer, finished_week, s3_server, sign_in
from tests.reliability import free_port, jpeg_bytes

ROOT = Path(__file__).resolve().parents[1]
SITE_CONF = ROOT / "deploy" / "nginx-inspect.conf"
UNIT = ROOT / "deploy" / "inspect-app@.service"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def render(conf: str, port: int, upstreams: list[int]) -> str:
    """Our site file with test ports: the listen port and the two upstream servers."""
    conf, n = re.subn(r"listen 80;", f"listen 127.0.0.1:{port};", conf)
    assert n == 1
    for old, new in zip(("8001", "8002"), upstreams, strict=True):
        conf, n = re.subn(rf"server 127\.0\.0\.1:{old}\b", f"server 127.0.0.1:{new}", conf)
        assert n == 1
    return conf


def main_conf(prefix: Path, site: Path) -> str:
    """The main context Debian's /etc/nginx/nginx.conf would give, everything inside prefix."""
    user = "user root;\n" if os.geteuid() == 0 else ""  # workers must reach the temp folder
    temp = "\n".join(
        f"    {kind}_temp_path {prefix / (kind + '_temp')};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""{user}daemon off;
worker_processes 1;
pid {prefix / "nginx.pid"};
error_log {prefix / "error.log"} info;
events {{ worker_connections 256; }}
http {{
    access_log {prefix / "access.log"};
{temp}
    include {site};
}}
"""


class Nginx:
    def __init__(self, workdir: Path, upstreams: list[int]):
        self.prefix = Path(workdir)
        self.prefix.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        site = self.prefix / "inspect.conf"
        site.write_text(render(SITE_CONF.read_text(), self.port, upstreams))
        self.conf = self.prefix / "nginx.conf"
        self.conf.write_text(main_conf(self.prefix, site))
        self.process: subprocess.Popen | None = None

    def check(self) -> subprocess.CompletedProcess:
        return subprocess.run(
            [NGINX, "-t", "-p", str(self.prefix), "-c", str(self.conf)],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )

    def start(self, timeout: float = 30) -> None:
        self.process = subprocess.Popen(
            [NGINX, "-p", str(self.prefix), "-c", str(self.conf)],
            stdout=subprocess.DEVNULL,
            stderr=open(self.prefix / "stderr.log", "wb"),
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("nginx exited: " + (self.prefix / "stderr.log").read_text())
            try:
                httpx.get(self.base_url + "/healthz", timeout=1)
                return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("nginx did not answer in time")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # SIGTERM: fast shutdown
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()


def test_body_limit_matches_the_upload_limit():
    """client_max_body_size lets through everything the app accepts (plus the multipart
    envelope), and not much more: beyond it nginx refuses before the app sees a byte."""
    size = re.findall(r"^\s*client_max_body_size (\d+)m;", SITE_CONF.read_text(), re.M)
    assert size and len(set(size)) == 1
    limit = Settings(secret_key="k" * 32, upload_dir=Path("/nonexistent")).max_upload_bytes
    assert limit + 64 * 1024 <= int(size[0]) * 2**20 <= limit + 2 * 2**20


def test_systemd_unit_serves_on_the_instance_port():
    unit = UNIT.read_text()
    assert "ExecStart=/opt/inspect/.venv/bin/inspect-app serve --host 127.0.0.1 --port %i" in unit
    assert "PrivateTmp=yes" in unit and "EnvironmentFile=/etc/inspect/inspect.env" in unit


@pytest.fixture(scope="module")
def moto(tmp_path_factory):
    server = MotoServer(tmp_path_factory.mktemp("moto")).start()
    yield server
    server.stop()


@pytest.mark.slow
def test_sign_in_upload_and_report_through_nginx(settings, make_user, moto, tmp_path, monkeypatch):
    for name, value in S3_ENV.items():
        monkeypatch.setenv(name, value)
    shared = settings.model_copy(
        update={"storage_url": f"s3://{moto.new_bucket()}/c", "s3_endpoint_url": moto.endpoint}
    )
    inspector, office = make_user("inspector"), make_user("office")
    servers = [s3_server(shared, tmp_path / n, moto.endpoint, "--workers", "1") for n in "ab"]
    for server in servers:
        server.env["INSPECT_TRUSTED_PROXIES"] = "127.0.0.1"
    proxy = Nginx(tmp_path / "nginx", [s.port for s in servers])
    checked = proxy.check()
    assert checked.returncode == 0, checked.stderr
    try:
        for server in servers:
            server.start(timeout=180)
        proxy.start()

        # Sign in through nginx with the form, as a browser does; the session works throughout.
        browser = sign_in(proxy.base_url, office.username)
        for _ in range(4):  # round robin: both servers see this session
            assert browser.get("/reports").status_code == 200

        # A photo upload (multipart, larger than nginx's in-memory body buffer).
        auth = bearer(proxy.base_url, inspector.username)
        image = jpeg_bytes(31, size=(3000, 2200))
        r = httpx.post(
            proxy.base_url + "/api/v1/photos",
            headers=auth,
            files={"file": ("p.jpg", image, "image/jpeg")},
            timeout=60,
        )
        assert r.status_code == 201, r.text
        for _ in range(2):
            served = httpx.get(proxy.base_url + r.json()["url"], headers=auth, timeout=30)
            assert served.status_code == 200 and served.content[:3] == b"\xff\xd8\xff"

        # The weekly report, downloaded with the browser's session.
        pdf = browser.get(f"/reports/weekly/{finished_week()}.pdf", timeout=120)
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
        assert pdf.headers["content-type"] == "application/pdf"

        # Over nginx's body limit: refused by nginx before any app server reads it.
        too_big = httpx.post(
            proxy.base_url + "/api/v1/photos",
            headers=auth,
            files={"file": ("big.jpg", b"\xff\xd8\xff" + b"0" * (22 * 2**20), "image/jpeg")},
            timeout=60,
        )
        assert too_big.status_code == 413
    finally:
        proxy.stop()
        for server in servers:
            server.stop()
    # Both app servers answered requests that came through nginx.
    for server in servers:
        log = server.log_tail() if server.starts else ""
        assert re.search(r'"(GET|POST) /(reports|photos|api/v1)', log), log[-500:]
