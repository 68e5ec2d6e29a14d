"""inspect-app gc: orphan photo files and stale temporary files go, everything referenced or
young (an upload about to commit) stays."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from inspect_app.domain import housekeeping, photos
from tests.factories import jpeg_bytes
from tests.reliability import upload_files

HOUR = 3600


def age(path: Path, seconds: float) -> Path:
    then = time.time() - seconds
    os.utime(path, (then, then))
    return path


def put(root: Path, rel: str, data: bytes = b"x", older_than: float = 2 * HOUR) -> Path:
    path = Path(root) / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return age(path, older_than)


@pytest.fixture
def store(session, settings, make_user):
    """Two kept photos, and one whose row vanished (as if the server died before its commit)."""
    inspector = make_user("inspector")
    kept = [photos.ingest_bytes(session, settings, inspector, jpeg_bytes(i)) for i in range(2)]
    lost = photos.ingest_bytes(session, settings, inspector, jpeg_bytes(99))
    lost_files = [photos.path_for(settings, lost, v) for v in ("web", "thumb", "original")]
    session.execute(text("DELETE FROM photo WHERE id = :id"), {"id": lost.id})
    session.commit()
    for path in Path(settings.upload_dir).rglob("*"):
        if path.is_file():
            age(path, 2 * HOUR)
    return {"kept": kept, "lost_files": lost_files}


def test_gc_removes_orphans_and_stale_temporaries_only(store, session, settings):
    root = Path(settings.upload_dir)
    stale_spool = put(root, "tmp/tmp1234.part")
    stale_write = put(root, "photos/ab/.abcd.web.jpg.k2j3.tmp")
    young_spool = put(root, "tmp/tmp5678.part", older_than=60)
    young_orphan = put(root, "photos/cd/" + "cd" * 32 + ".web.jpg", older_than=60)
    elsewhere = put(root, "reports/2026-W47.pdf")  # not the photo store: never touched
    referenced = {
        photos.path_for(settings, p, v) for p in store["kept"] for v in ("web", "thumb", "original")
    }

    result = housekeeping.gc(session, settings)

    assert sorted(result.orphans) == sorted(store["lost_files"])
    assert sorted(result.temporary) == sorted([stale_spool, stale_write])
    assert result.kept_young == 2 and result.freed_bytes > 0
    for path in store["lost_files"] + [stale_spool, stale_write]:
        assert not path.exists()
    for path in [*referenced, young_spool, young_orphan, elsewhere]:
        assert path.exists()
    # The kept photos are still served whole.
    assert all(photos.path_for(settings, p, "web").stat().st_size > 0 for p in store["kept"])


def test_gc_with_no_grace_removes_young_orphans_too(store, session, settings):
    young = put(Path(settings.upload_dir), "originals/ef/" + "ef" * 32 + ".jpg", older_than=0)
    result = housekeeping.gc(session, settings, grace_seconds=0)
    assert young in result.orphans and not young.exists()


def test_gc_dry_run_removes_nothing(store, session, settings):
    before = upload_files(settings.upload_dir)
    result = housekeeping.gc(session, settings, dry_run=True)
    assert len(result.orphans) == 3
    assert upload_files(settings.upload_dir) == before


def test_gc_keeps_files_shared_by_another_uploaders_photo(session, settings, make_user):
    """Two users upload the same bytes: one row goes, the files stay for the other."""
    a, b = make_user("inspector"), make_user("inspector")
    first = photos.ingest_bytes(session, settings, a, jpeg_bytes(7))
    second = photos.ingest_bytes(session, settings, b, jpeg_bytes(7))
    assert first.id != second.id and first.sha256 == second.sha256
    session.execute(text("DELETE FROM photo WHERE id = :id"), {"id": first.id})
    session.commit()
    result = housekeeping.gc(session, settings, grace_seconds=0)
    assert result.orphans == []
    assert photos.path_for(settings, second, "web").exists()


def test_gc_command(store, settings):
    env = {
        **os.environ,
        "INSPECT_DATABASE_URL": settings.database_url,
        "INSPECT_UPLOAD_DIR": str(settings.upload_dir),
        "INSPECT_SECRET_KEY": "x" * 32,
    }

    def run(*args):
        return subprocess.run(
            [sys.executable, "-m", "inspect_app.cli", "gc", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    dry = run("--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.count("would remove") == 3 and all(p.exists() for p in store["lost_files"])
    done = run()
    assert done.returncode == 0, done.stderr
    assert "3 orphan photo files" in done.stdout
    assert not any(p.exists() for p in store["lost_files"])


def test_gc_removes_sign_in_state_that_has_run_out(session, settings, make_user):
    """Expired sessions and tokens, and sign-in limit windows that are over, go; live ones stay
    (a guessing run that never meets a success would otherwise leave its rows for good)."""
    from datetime import timedelta

    from sqlmodel import select

    from inspect_app.domain import accounts, signin_limits
    from inspect_app.models import AuthSession, LoginThrottle, utcnow

    user = make_user("inspector")
    live = accounts.open_session(session, settings, user)
    old = accounts.open_session(session, settings, user, kind="token")
    row = session.exec(select(AuthSession).where(AuthSession.kind == "token")).one()
    row.expires_at = utcnow() - timedelta(minutes=1)
    session.add(row)
    session.commit()
    signin_limits.reserve(session, settings, "guessed-name", "203.0.113.9")  # this window: kept
    window = settings.login_window_minutes * 60
    session.add(LoginThrottle(bucket="over", failures=3, window_start=time.time() - window - 1))
    session.commit()
    buckets = len(session.exec(select(LoginThrottle)).all())

    dry = housekeeping.gc(session, settings, dry_run=True)
    assert (dry.expired_sessions, dry.expired_limits) == (1, 1)
    session.expire_all()
    assert len(session.exec(select(LoginThrottle)).all()) == buckets

    done = housekeeping.gc(session, settings)
    assert (done.expired_sessions, done.expired_limits) == (1, 1)
    session.expire_all()
    assert accounts.user_for_token(session, live, "cookie").id == user.id
    assert accounts.user_for_token(session, old, "token") is None
    assert len(session.exec(select(AuthSession)).all()) == 1
    assert session.get(LoginThrottle, "over") is None
    assert len(session.exec(select(LoginThrottle)).all()) == buckets - 1
