"""Backup and restore: a consistent online copy of the database and the photo files, restored
and compared row by row and file by file (SQLite, or PostgreSQL with INSPECT_TEST_DATABASE_URL)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, text
from sqlalchemy import select as sa_select
from sqlmodel import Session, select

from inspect_app.config import Settings
from inspect_app.db import make_engine, upgrade
from inspect_app.domain import backup, hazards, photos
from inspect_app.domain.errors import Conflict, Invalid
from inspect_app.models import AuditLog, Hazard, User
from tests.reliability import jpeg_bytes, table_rows, upload_files


def head_revision() -> str:
    """The newest migration: a backup records the schema it was taken at."""
    from alembic.script import ScriptDirectory

    from inspect_app.db import alembic_config

    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def put_file(root: Path, rel: str, data: bytes) -> None:
    path = Path(root) / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


@pytest.fixture
def world(session, region, make_user, settings):
    """Users, hazards with events, photo rows and their files."""
    inspector = make_user("inspector")
    make_user("officer")
    site = region["sites"][0]
    stored = [photos.ingest_bytes(session, settings, inspector, jpeg_bytes(i)) for i in range(3)]
    for grade in ("general", "major"):
        hazards.create_hazard(
            session,
            reporter=inspector,
            site=site,
            grade=grade,
            description=f"{grade} 隐患",
            photo_ids=[p.id for p in stored[:2]],
        )
    session.commit()
    session.close()  # no transaction left open: a PostgreSQL restore drops and recreates tables
    return {"inspector": inspector, "site": site, "photos": stored}


@pytest.fixture
def fresh_settings(database_url, tmp_path):
    """Settings for a second, empty database and upload folder (a restore target)."""
    if database_url.startswith("postgresql"):
        import psycopg

        name = f"inspect_r_{uuid.uuid4().hex[:10]}"
        admin = database_url.rsplit("/", 1)[0] + "/postgres"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        url = database_url.rsplit("/", 1)[0] + "/" + name
    else:
        url = f"sqlite:///{tmp_path / 'restored.db'}"
    yield Settings(
        database_url=url, upload_dir=tmp_path / "restored-uploads", secret_key="x" * 32, env="test"
    )
    if url.startswith("postgresql"):
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_backup_change_restore_gives_back_every_row_and_file(
    world, settings, engine, session, tmp_path
):
    before_rows, before_files = table_rows(engine), upload_files(settings.upload_dir)
    manifest = backup.backup(settings, tmp_path / "b1")

    assert manifest["database"]["alembic_revision"] == head_revision()
    assert (
        manifest["database"]["tables"]["hazard"] == 2
        and manifest["database"]["tables"]["photo"] == 3
    )
    assert (
        manifest["photos"]["missing_files"] == [] and len(manifest["files"]) == 9
    )  # web, thumb, original
    assert {k: v["sha256"] for k, v in manifest["files"].items()} == before_files
    assert json.loads((tmp_path / "b1" / "manifest.json").read_text())["app_version"]

    # Damage: delete a hazard's history and the hazard, add a user, rewrite, delete and add files.
    doomed = session.exec(select(Hazard)).first()
    session.execute(text("DELETE FROM hazard_event WHERE hazard_id = :h"), {"h": doomed.id})
    session.execute(text("DELETE FROM hazard_photo WHERE hazard_id = :h"), {"h": doomed.id})
    session.delete(doomed)
    session.add(User(username="intruder", password_hash="x", role="admin"))
    session.commit()
    session.close()
    files = sorted(before_files)
    put_file(settings.upload_dir, files[0], b"overwritten")
    (Path(settings.upload_dir) / files[1]).unlink()
    put_file(settings.upload_dir, "zz/stray.jpg", b"stray")
    assert table_rows(engine) != before_rows

    with pytest.raises(Conflict):  # the target holds data
        backup.restore(settings, tmp_path / "b1")
    backup.restore(settings, tmp_path / "b1", force=True)

    assert table_rows(engine) == before_rows
    assert upload_files(settings.upload_dir) == before_files
    # The restored database works: sequences continue after the restored ids.
    session.add(User(username="after-restore", password_hash="x", role="office"))
    session.commit()


def test_restore_into_an_empty_database_needs_no_force(
    world, settings, engine, fresh_settings, tmp_path
):
    backup.backup(settings, tmp_path / "b")
    upgrade(fresh_settings.database_url)  # migrated but empty still counts as empty
    backup.restore(fresh_settings, tmp_path / "b")
    restored = make_engine(fresh_settings)
    try:
        assert table_rows(restored) == table_rows(engine)
    finally:
        restored.dispose()
    assert upload_files(fresh_settings.upload_dir) == upload_files(settings.upload_dir)


def test_backup_is_consistent_while_the_app_writes(
    world, settings, engine, fresh_settings, tmp_path
):
    """A writer commits audit rows two at a time; a consistent snapshot holds an even number."""
    stop = threading.Event()
    written = []

    def writer():
        with Session(engine) as s:
            while not stop.is_set():
                s.add(AuditLog(action="pair", object_type="test"))
                s.add(AuditLog(action="pair", object_type="test"))
                s.commit()
                written.append(2)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        while len(written) < 5:
            threading.Event().wait(0.01)
        manifest = backup.backup(settings, tmp_path / "online")
    finally:
        stop.set()
        thread.join()
    in_backup = manifest["database"]["tables"]["audit_log"]
    assert in_backup % 2 == 0 and in_backup >= 10
    backup.restore(fresh_settings, tmp_path / "online")
    restored = make_engine(fresh_settings)
    try:
        with restored.connect() as conn:
            assert (
                conn.execute(sa_select(func.count()).select_from(AuditLog.__table__)).scalar()
                == in_backup
            )
    finally:
        restored.dispose()


def test_backup_refuses_a_folder_that_is_not_empty(world, settings, tmp_path):
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "x").write_text("x")
    with pytest.raises(Conflict):
        backup.backup(settings, tmp_path / "used")


def test_restore_refuses_a_newer_schema(world, settings, fresh_settings, tmp_path):
    backup.backup(settings, tmp_path / "b")
    path = tmp_path / "b" / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["database"]["alembic_revision"] = "9999_from_the_future"
    path.write_text(json.dumps(manifest))
    with pytest.raises(Conflict, match="9999_from_the_future"):
        backup.restore(fresh_settings, tmp_path / "b")
    assert backup.target_is_empty(fresh_settings)


def test_restore_refuses_damaged_files_and_changes_nothing(
    world, settings, fresh_settings, tmp_path
):
    manifest = backup.backup(settings, tmp_path / "b")
    rel = next(iter(manifest["files"]))
    (tmp_path / "b" / "uploads" / rel).write_bytes(b"bit rot")
    with pytest.raises(Invalid) as refused:
        backup.restore(fresh_settings, tmp_path / "b")
    assert len(refused.value.errors) == 1 and rel in refused.value.errors[0]
    assert backup.target_is_empty(fresh_settings)


def test_restore_refuses_an_unfinished_backup_and_another_dialect(
    world, settings, fresh_settings, tmp_path
):
    backup.backup(settings, tmp_path / "b")
    (tmp_path / "half").mkdir()
    with pytest.raises(Invalid, match="manifest"):
        backup.restore(fresh_settings, tmp_path / "half")
    path = tmp_path / "b" / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["database"]["dialect"] = "oracle"
    path.write_text(json.dumps(manifest))
    with pytest.raises(Invalid):
        backup.restore(fresh_settings, tmp_path / "b")


def test_backup_and_restore_commands(world, settings, engine, tmp_path):
    env = {
        **os.environ,
        "INSPECT_DATABASE_URL": settings.database_url,
        "INSPECT_UPLOAD_DIR": str(settings.upload_dir),
        "INSPECT_SECRET_KEY": "x" * 32,
    }
    before = table_rows(engine)

    def run(*args):
        return subprocess.run(
            [sys.executable, "-m", "inspect_app.cli", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    out = run("backup", str(tmp_path / "cli"))
    assert out.returncode == 0, out.stderr
    assert "9 files" in out.stdout and f"schema {head_revision()}" in out.stdout
    again = run("backup", str(tmp_path / "cli"))
    assert again.returncode == 2 and str(tmp_path / "cli") in again.stderr
    refused = run("restore", str(tmp_path / "cli"))
    assert refused.returncode == 2 and "--force" in refused.stderr
    done = run("restore", str(tmp_path / "cli"), "--force")
    assert done.returncode == 0, done.stderr
    assert table_rows(engine) == before


def test_backup_names_photos_whose_files_are_missing(world, settings, tmp_path):
    lost = world["photos"][0]
    photos.path_for(settings, lost, "thumb").unlink()
    manifest = backup.backup(settings, tmp_path / "b")
    assert manifest["photos"]["missing_files"] == [lost.sha256]


def test_backup_leaves_out_temporary_files(world, settings, tmp_path):
    put_file(settings.upload_dir, "tmp/tmpabc.part", b"half an upload")
    put_file(settings.upload_dir, "photos/ab/.ab12.web.jpg.x1.tmp", b"half a write")
    manifest = backup.backup(settings, tmp_path / "b")
    assert not any("tmp" in name for name in manifest["files"])
