"""Online backup and restore of the database and the photo files.

A backup is a folder: the database (a SQLite copy made with the sqlite3 backup API, or a
`pg_dump -Fc` archive), a copy of the stored files (photos, reports) from the configured
storage, a local folder or an S3 bucket, under their storage keys (so a backup of one backend
restores into the other; copies, not hard links: a link shares the inode, so one in-place
write would damage the backup too), and manifest.json with
their sha256s, written last, so a folder without a manifest is an unfinished backup. The database is copied before the files:
a file added meanwhile is at worst an orphan in the backup (gc removes it), never a missing one.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import sqlite3
import subprocess
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import make_url

from inspect_app import __version__
from inspect_app.config import Settings
from inspect_app.domain import photos
from inspect_app.domain.errors import Conflict, Invalid
from inspect_app.domain.housekeeping import is_temporary
from inspect_app.domain.storage import Storage, for_settings
from inspect_app.i18n import _
from inspect_app.models import Photo

FORMAT = 1
MANIFEST = "manifest.json"
SQLITE_FILE = "database.sqlite3"
PG_FILE = "database.pgdump"
FILES_DIR = "uploads"
# Not data: the development secret key lives beside the uploads.
SKIPPED_NAMES = {".dev-secret-key"}
# A restore waits this long for locks (a running app) before giving up instead of hanging.
PG_LOCK_TIMEOUT = "60s"

Progress = Callable[[str], None]


def _quiet(_msg: str) -> None:
    pass


# --- database helpers --------------------------------------------------------------------------


def _sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise Invalid(_("Only a file SQLite database can be backed up."))
    return Path(database)


def _libpq_url(url: str) -> str:
    """pg_dump and psycopg want a plain libpq URI, without SQLAlchemy's +driver."""
    parsed = make_url(url)
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


def _sqlite_tables(conn: sqlite3.Connection) -> list[str]:
    rows = conn.execute(
        "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
    ).fetchall()
    return [r[0] for r in rows]


def _pg_tables(conn) -> list[str]:
    rows = conn.execute(
        "SELECT table_name FROM information_schema.tables "
        "WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY table_name"
    ).fetchall()
    return [r[0] for r in rows]


def _counts(conn, tables: list[str]) -> dict[str, int]:
    return {t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}


def _revision(conn, tables: list[str]) -> str | None:
    if "alembic_version" not in tables:
        return None
    row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    return row[0] if row else None


def _photo_keys(conn, tables: list[str]) -> list[tuple[str, str]]:
    if "photo" not in tables:
        return []
    return [
        tuple(r)
        for r in conn.execute("SELECT DISTINCT sha256, original_format FROM photo").fetchall()
    ]


def _snapshot(conn, tables: list[str]) -> dict:
    return {
        "tables": _counts(conn, tables),
        "alembic_revision": _revision(conn, tables),
        "photo_keys": _photo_keys(conn, tables),
    }


def _backup_sqlite(settings: Settings, target: Path) -> dict:
    source = _sqlite_path(settings.database_url)
    if not source.exists():
        raise Invalid(_("The database file {path} does not exist.").format(path=source))
    out = target / SQLITE_FILE
    # The backup API copies a consistent snapshot while other connections keep writing (WAL).
    with closing(sqlite3.connect(source, timeout=30)) as src, closing(sqlite3.connect(out)) as dst:
        src.backup(dst)
    with closing(sqlite3.connect(out)) as conn:
        snap = _snapshot(conn, _sqlite_tables(conn))
    return {
        "dialect": "sqlite",
        "file": SQLITE_FILE,
        "sqlite_version": sqlite3.sqlite_version,
        **snap,
    }


def _pg_tool(name: str) -> str:
    path = shutil.which(name)
    if not path:
        raise Invalid(
            _("{tool} is not installed; install the PostgreSQL client tools.").format(tool=name)
        )
    return path


def _run(cmd: list[str], env: dict[str, str] | None = None) -> str:
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise Invalid(
            _("{tool} failed: {why}").format(
                tool=Path(cmd[0]).name, why=done.stderr.strip()[-2000:]
            )
        )
    return done.stdout


def _backup_postgres(settings: Settings, target: Path) -> dict:
    import psycopg

    pg_dump = _pg_tool("pg_dump")
    url = _libpq_url(settings.database_url)
    out = target / PG_FILE
    # pg_dump reads the snapshot this transaction exports, so the counts below describe the dump.
    with psycopg.connect(url) as conn:
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        snapshot_id = conn.execute("SELECT pg_export_snapshot()").fetchone()[0]
        _run(
            [
                pg_dump,
                "-Fc",
                "--no-owner",
                "--no-privileges",
                f"--snapshot={snapshot_id}",
                "-f",
                str(out),
                "-d",
                url,
            ]
        )
        snap = _snapshot(conn, _pg_tables(conn))
        server = conn.execute("SHOW server_version").fetchone()[0]
        conn.rollback()
    client = _run([pg_dump, "--version"]).strip()
    return {
        "dialect": "postgresql",
        "file": PG_FILE,
        "server_version": server,
        "pg_dump_version": client,
        **snap,
    }


# --- files -------------------------------------------------------------------------------------


def _sha256(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def data_keys(store: Storage) -> list[str]:
    """Keys of the stored objects that are data (not temporary files, not secrets)."""
    return sorted(
        obj.key
        for obj in store.list()
        if Path(obj.key).name not in SKIPPED_NAMES and not is_temporary(Path(obj.key))
    )


def _copy_out(store: Storage, key: str, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    local = store.local_path(key)
    if local is not None:
        shutil.copy2(local, dst)
        return
    with open(dst, "wb") as out:
        for chunk in store.chunks(key):
            out.write(chunk)


def _backup_files(store: Storage, target: Path) -> dict[str, dict]:
    files = {}
    for key in data_keys(store):
        dst = target / FILES_DIR / key
        try:
            _copy_out(store, key, dst)
        except FileNotFoundError:  # removed (gc) while we walked: not part of the backup
            continue
        files[key] = {"sha256": _sha256(dst), "size": dst.stat().st_size}
    return files


# --- backup ------------------------------------------------------------------------------------


def backup(settings: Settings, target: Path, progress: Progress = _quiet) -> dict:
    """Write a consistent copy of the database and the photo files into the empty folder target."""
    target = Path(target)
    if target.exists() and any(target.iterdir()):
        raise Conflict(
            _("The backup folder {path} is not empty; choose a new folder.").format(path=target)
        )
    target.mkdir(parents=True, exist_ok=True)
    started = datetime.now(UTC)
    progress(_("Copying the database…"))
    if settings.is_sqlite:
        database = _backup_sqlite(settings, target)
    else:
        database = _backup_postgres(settings, target)
    progress(_("Copying the photo files…"))
    files = _backup_files(for_settings(settings), target)
    keys = database.pop("photo_keys")
    manifest = {
        "format": FORMAT,
        "app_version": __version__,
        "python_version": platform.python_version(),
        "created_at": started.isoformat(),
        "finished_at": datetime.now(UTC).isoformat(),
        "database": database,
        "photos": {
            "rows": database["tables"].get("photo", 0),
            "distinct_sha256": len(keys),
            "missing_files": _missing_photo_files(settings, keys, files),
        },
        "files": files,
    }
    (target / MANIFEST).write_text(
        json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8"
    )
    return manifest


def _missing_photo_files(
    settings: Settings, keys: list[tuple[str, str]], files: dict[str, dict]
) -> list[str]:
    """sha256 of the database's photos whose served files the backup lacks (should be none)."""
    missing = []
    for sha, fmt in keys:
        photo = Photo(sha256=sha, original_format=fmt)
        if any(photos.key_for(photo, v) not in files for v in ("web", "thumb")):
            missing.append(sha)
    return missing


# --- restore -----------------------------------------------------------------------------------


def read_manifest(source: Path) -> dict:
    path = Path(source) / MANIFEST
    if not path.exists():
        raise Invalid(
            _("{path} has no manifest.json: it is not a finished backup.").format(path=source)
        )
    manifest = json.loads(path.read_text(encoding="utf-8"))
    if manifest.get("format") != FORMAT:
        raise Invalid(_("Unknown backup format {format}.").format(format=manifest.get("format")))
    return manifest


def _check_schema(revision: str | None) -> None:
    """Refuse a backup whose schema revision this version of the code does not know (newer)."""
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    from inspect_app.db import alembic_config

    if revision is None:
        return
    scripts = ScriptDirectory.from_config(alembic_config("sqlite://"))
    try:
        known = scripts.get_revision(revision)
    except CommandError:
        known = None
    if known is None:
        raise Conflict(
            _(
                "The backup has database schema {revision}, which this version of Inspect does not know: "
                "it was made by a newer version. Upgrade Inspect first."
            ).format(revision=revision)
        )


def _verify_files(source: Path, files: dict[str, dict]) -> None:
    problems = []
    for rel, meta in files.items():
        path = source / FILES_DIR / rel
        if not path.is_file():
            problems.append(_("missing: {file}").format(file=rel))
        elif _sha256(path) != meta["sha256"]:
            problems.append(_("checksum differs: {file}").format(file=rel))
    if problems:
        raise Invalid(_("The backup's files are damaged; nothing was restored."), errors=problems)


def target_is_empty(settings: Settings) -> bool:
    """True when the target database has no rows (migrated or not) and the upload folder no files."""
    if data_keys(for_settings(settings)):
        return False
    if settings.is_sqlite:
        path = _sqlite_path(settings.database_url)
        if not path.exists():
            return True
        with closing(sqlite3.connect(path, timeout=30)) as conn:
            counts = _counts(conn, _sqlite_tables(conn))
    else:
        import psycopg

        with psycopg.connect(_libpq_url(settings.database_url)) as conn:
            counts = _counts(conn, _pg_tables(conn))
    return all(n == 0 for t, n in counts.items() if t != "alembic_version")


def _restore_sqlite(settings: Settings, source: Path) -> None:
    path = _sqlite_path(settings.database_url)
    path.parent.mkdir(parents=True, exist_ok=True)
    # The backup API replaces the whole target database in one transaction, under its locks.
    with (
        closing(sqlite3.connect(source / SQLITE_FILE)) as src,
        closing(sqlite3.connect(path, timeout=30)) as dst,
    ):
        src.backup(dst)


def _restore_postgres(settings: Settings, source: Path) -> None:
    pg_restore = _pg_tool("pg_restore")
    env = {**os.environ, "PGOPTIONS": f"-c lock_timeout={PG_LOCK_TIMEOUT}"}
    _run(
        [
            pg_restore,
            "--clean",
            "--if-exists",
            "--no-owner",
            "--no-privileges",
            "--single-transaction",
            "-d",
            _libpq_url(settings.database_url),
            str(source / PG_FILE),
        ],
        env=env,
    )


def _restore_files(store: Storage, source: Path, files: dict[str, dict]) -> None:
    for key in data_keys(store):
        if key not in files:
            store.delete(key)
    for key in files:
        # All or nothing per file (a dot-file renamed in place, or one S3 PUT): if we die here,
        # at worst a temporary file for gc is left.
        store.put_file(key, source / FILES_DIR / key)


def restore(
    settings: Settings, source: Path, force: bool = False, progress: Progress = _quiet
) -> dict:
    """Put a backup's database and files in place of the configured ones, then migrate to head."""
    from inspect_app.db import upgrade

    source = Path(source)
    manifest = read_manifest(source)
    database = manifest["database"]
    dialect = "sqlite" if settings.is_sqlite else "postgresql"
    if database["dialect"] != dialect:
        raise Invalid(
            _("The backup is of a {backup} database; the configured database is {target}.").format(
                backup=database["dialect"], target=dialect
            )
        )
    _check_schema(database.get("alembic_revision"))
    if not force and not target_is_empty(settings):
        raise Conflict(
            _(
                "The database or the upload folder already holds data; "
                "pass --force to replace it with the backup."
            )
        )
    progress(_("Checking the backup's files…"))
    _verify_files(source, manifest["files"])
    progress(_("Restoring the database…"))
    if dialect == "sqlite":
        _restore_sqlite(settings, source)
    else:
        _restore_postgres(settings, source)
    progress(_("Restoring the photo files…"))
    _restore_files(for_settings(settings), source, manifest["files"])
    upgrade(settings.database_url)
    return manifest
