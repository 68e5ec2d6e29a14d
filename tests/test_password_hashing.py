"""The suite hashes passwords with argon2's cheapest parameters (tests/conftest.py); the app
itself, started as a user starts it, still hashes with the strong ones."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from argon2 import extract_parameters
from argon2.profiles import CHEAPEST, RFC_9106_LOW_MEMORY
from sqlalchemy import create_engine, text

from inspect_app import security

ROOT = Path(__file__).resolve().parents[1]


def test_the_suite_hashes_cheaply_and_verifies():
    stored = security.hash_password("pw")
    assert extract_parameters(stored) == CHEAPEST
    assert security.verify_password(stored, "pw")
    assert not security.verify_password(stored, "other")
    assert not security.verify_password(None, "pw")


def test_the_command_line_stores_hashes_with_the_production_parameters(tmp_path):
    db = tmp_path / "prod.db"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("INSPECT_")},
        "INSPECT_DATABASE_URL": f"sqlite:///{db}",
        "INSPECT_UPLOAD_DIR": str(tmp_path / "uploads"),
        "PYTHONPATH": str(ROOT),
    }
    done = subprocess.run(
        [sys.executable, "-m", "inspect_app.cli", "user", "add", "chief", "--role", "admin"]
        + ["--password-stdin"],
        input="a strong password\n",
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    engine = create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        stored = conn.execute(
            text("SELECT password_hash FROM \"user\" WHERE username = 'chief'")
        ).scalar_one()
    engine.dispose()
    assert extract_parameters(stored) == RFC_9106_LOW_MEMORY
    assert security.verify_password(stored, "a strong password")
