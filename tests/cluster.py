"""Real components for the scale-out tests: an S3 server (moto's server mode, a separate HTTP
process standing in for MinIO, which no registry we reach offers) and app servers sharing it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

import httpx

from tests.factories import PASSWORD
from tests.reliability import Server, free_port

# moto accepts any credentials; boto3 insists on having some.
S3_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


class MotoServer:
    """`moto_server` on a loopback port, in its own process (an S3 endpoint over HTTP)."""

    def __init__(self, workdir: Path):
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.workdir = Path(workdir)
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 60) -> MotoServer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        moto = Path(sys.executable).with_name("moto_server")
        command = [str(moto)] if moto.exists() else [sys.executable, "-m", "moto.server"]
        with open(self.workdir / "moto.log", "wb") as log:
            self.process = subprocess.Popen(
                [*command, "-H", "127.0.0.1", "-p", str(self.port)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **S3_ENV},
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("moto_server exited: " + (self.workdir / "moto.log").read_text())
            try:
                httpx.get(self.endpoint + "/moto-api/", timeout=1)
                return self
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("moto_server did not answer in time")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, **_credentials())

    def new_bucket(self) -> str:
        name = f"inspect-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        pages = (
            self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        )
        return sorted(o["Key"] for page in pages for o in page.get("Contents", []))


def _credentials() -> dict[str, str]:
    return {
        "aws_access_key_id": S3_ENV["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": S3_ENV["AWS_SECRET_ACCESS_KEY"],
        "region_name": S3_ENV["AWS_DEFAULT_REGION"],
    }


def s3_environment(storage_url: str, endpoint: str) -> dict[str, str]:
    """What a server needs to use the bucket (merged into its environment)."""
    return {**S3_ENV, "INSPECT_STORAGE_URL": storage_url, "INSPECT_S3_ENDPOINT_URL": endpoint}


def files_under(root: Path) -> list[str]:
    """Every file below root (relative), or [] when root does not exist."""
    root = Path(root)
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def finished_week() -> str:
    """Last week in the city's zone: finished, so its report is archived."""
    from zoneinfo import ZoneInfo

    from inspect_app.config import DEFAULT_TIMEZONE
    from inspect_app.domain import reports
    from inspect_app.domain.clock import local_today

    return reports.week_of(local_today(ZoneInfo(DEFAULT_TIMEZONE)) - timedelta(days=7)).label


def s3_server(settings, workdir: Path, endpoint: str, *args: str) -> Server:
    """`inspect-app serve` on the bucket, with an upload folder of its own that must stay empty."""
    server = Server(settings, workdir, env="test", args=args)
    server.env.update(s3_environment(settings.storage_url, endpoint))
    server.env["INSPECT_UPLOAD_DIR"] = str(workdir / "uploads")
    return server


def sign_in(base_url: str, username: str) -> httpx.Client:
    """A browser's sign-in on one server: the CSRF cookie and form token, then the form."""
    client = httpx.Client(base_url=base_url, timeout=30, headers={"accept": "text/html"})
    page = client.get("/login")
    token = re.search(r'name="csrftoken" value="([^"]+)"', page.text).group(1)
    r = client.post(
        "/login", data={"username": username, "password": PASSWORD, "csrftoken": token, "next": "/"}
    )
    assert r.status_code == 303, r.text
    return client


def bearer(base_url: str, username: str) -> dict[str, str]:
    r = httpx.post(
        base_url + "/api/v1/auth/token",
        data={"username": username, "password": PASSWORD},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}
