"""The app as a user installs it: build the wheel, install it into a fresh virtual environment,
and run `inspect-app demo` and `inspect-app serve` from a folder outside the repository.

The fresh environment sees the dependencies of the test environment through a .pth line (so
nothing is downloaded), but not its editable install of inspect_app: a plain path line in a .pth
file adds that folder to sys.path without running the .pth files inside it, which is where the
editable finder hooks in. The test checks that `import inspect_app` comes from the wheel.
Always SQLite in the work folder: this is about the package, not the database.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]
DEMO_PASSWORD = "wheel-demo-password"

pytestmark = pytest.mark.slow


def _run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float = 600) -> str:
    done = subprocess.run(
        cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, f"{cmd} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict:
    """A fresh venv holding only the wheel; its bin folder and a clean environment."""
    base = tmp_path_factory.mktemp("wheel")
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("INSPECT_", "PYTHON", "VIRTUAL_ENV"))
    }
    _run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation"]
        + ["-w", str(base / "dist"), str(ROOT)],
        base,
        env,
    )
    (wheel,) = (base / "dist").glob("inspect_app-*.whl")
    venv = base / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], base, env)
    python = venv / "bin" / "python"
    site = _run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], base, env
    ).strip()
    Path(site, "test-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps"]
        + ["--no-index", str(wheel)],
        base,
        env,
    )
    return {"bin": venv / "bin", "site": Path(site), "env": env, "wheel": wheel}


def test_the_wheel_carries_templates_static_migrations_locales_and_data(installed):
    import zipfile

    names = zipfile.ZipFile(installed["wheel"]).namelist()
    for expected in (
        "inspect_app/templates/base.html",
        "inspect_app/static/vendor/htmx-2.0.11/htmx.min.js",
        "inspect_app/migrations/env.py",
        "inspect_app/migrations/versions/0001_initial.py",
        "inspect_app/locales/zh_CN/core.po",
        "inspect_app/data/routine-checklist.yaml",
        "inspect_app/data/hengyang_districts.geojson",
    ):
        assert expected in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]


def test_installed_app_runs_demo_and_serves_pages_outside_the_repository(installed, tmp_path):
    work = tmp_path / "site"
    work.mkdir()
    assert ROOT not in work.parents
    env = {**installed["env"], "INSPECT_DEMO_PASSWORD": DEMO_PASSWORD}
    where = _run(
        [str(installed["bin"] / "python"), "-c", "import inspect_app; print(inspect_app.__file__)"],
        work,
        env,
    )
    assert Path(where.strip()).is_relative_to(installed["site"]), where

    _run([str(installed["bin"] / "inspect-app"), "demo"], work, env)
    assert (work / "inspect.db").is_file()

    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    with open(tmp_path / "serve.log", "wb") as log:
        server = subprocess.Popen(
            [str(installed["bin"] / "inspect-app"), "serve", "--port", str(port)],
            cwd=work,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
            time.sleep(0.1)

        with httpx.Client(
            base_url=base, headers={"Origin": base}, timeout=30, follow_redirects=True
        ) as browser:
            page = browser.get("/login")
            assert page.status_code == 200 and "<form" in page.text
            token = re.search(r'name="csrftoken" value="([^"]+)"', page.text).group(1)
            signed_in = browser.post(
                "/login",
                data={
                    "username": "office",
                    "password": DEMO_PASSWORD,
                    "csrftoken": token,
                    "next": "/dashboard",
                },
            )
            assert signed_in.status_code == 200, signed_in.text[:2000]
            assert signed_in.url.path == "/dashboard"
            assert "衡阳" in signed_in.text or "珠晖区" in signed_in.text
            hazards = browser.get("/hazards")
            assert hazards.status_code == 200
            for static in re.findall(r'(?:src|href)="(/static/[^"?]+)', page.text + hazards.text):
                assert browser.get(static).status_code == 200, static
            assert browser.get("/static/vendor/leaflet-1.9.4/leaflet.css").status_code == 200
    finally:
        server.terminate()
        server.wait(timeout=20)
