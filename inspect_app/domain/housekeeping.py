"""Garbage collection of the upload folder.

A photo's files are written before its row is committed (photos._store), so a crash or a
killed server between the two leaves files no row refers to, and an interrupted upload leaves
its temporary file. Both are removed here, but only once older than a grace period: a file
that young may belong to an upload that is about to commit.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from sqlmodel import Session, select

from inspect_app.config import Settings
from inspect_app.domain import photos
from inspect_app.models import Photo

# The folders of the photo store (see photos.path_for and photos.Incoming); nothing else in
# the upload folder is touched.
STORE_DIRS = ("photos", "originals")
TEMP_DIR = "tmp"
DEFAULT_GRACE_SECONDS = 3600


def is_temporary(rel: Path) -> bool:
    """A file being written: an upload's spool file (tmp/) or an atomic write's dot-file."""
    return (rel.parts[:1] == (TEMP_DIR,) or rel.name.startswith(".")) and rel.suffix in (
        ".part",
        ".tmp",
    )


@dataclass
class GcResult:
    orphans: list[Path] = field(default_factory=list)
    temporary: list[Path] = field(default_factory=list)
    kept_young: int = 0
    freed_bytes: int = 0


def expected_files(session: Session, settings: Settings) -> set[Path]:
    """Every file some Photo row refers to."""
    rows = session.exec(select(Photo.sha256, Photo.original_format).distinct()).all()
    paths = set()
    for sha, fmt in rows:
        photo = Photo(sha256=sha, original_format=fmt)
        paths.update(photos.path_for(settings, photo, v) for v in ("web", "thumb", "original"))
    return paths


def gc(
    session: Session,
    settings: Settings,
    grace_seconds: float = DEFAULT_GRACE_SECONDS,
    dry_run: bool = False,
) -> GcResult:
    """Remove orphan photo files and stale temporary files older than grace_seconds."""
    root = Path(settings.upload_dir)
    cutoff = time.time() - grace_seconds
    # The expected set is read before the walk: a photo committed during the walk has files
    # younger than the cutoff (unless grace_seconds is 0, which is for a stopped server).
    expected = expected_files(session, settings)
    result = GcResult()
    for top in (*STORE_DIRS, TEMP_DIR):
        for path in sorted((root / top).rglob("*")) if (root / top).is_dir() else []:
            if not path.is_file() or path in expected:
                continue
            try:
                stat = path.stat()
            except FileNotFoundError:  # renamed or removed meanwhile
                continue
            if stat.st_mtime > cutoff:
                result.kept_young += 1
                continue
            bucket = (
                result.temporary
                if is_temporary(path.relative_to(root)) or top == TEMP_DIR
                else result.orphans
            )
            bucket.append(path)
            result.freed_bytes += stat.st_size
            if not dry_run:
                path.unlink(missing_ok=True)
    return result
