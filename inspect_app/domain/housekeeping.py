"""Garbage collection of the photo store (a local folder or an S3 bucket, domain/storage.py),
and of sign-in state that has run out (expired sessions and tokens, sign-in limit buckets whose
window is over: a password-guessing run that never meets a success would otherwise leave its
buckets for good).

A photo's files are written before its row is committed (photos._store), so a crash or a
killed server between the two leaves files no row refers to, and an interrupted upload leaves
its temporary file (local folder only: an S3 object is complete or absent). Both are removed
here, but only once older than a grace period: a file that young may belong to an upload that
is about to commit.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from sqlmodel import Session, select

from inspect_app.config import Settings
from inspect_app.domain import accounts, photos, signin_limits
from inspect_app.domain.storage import for_settings
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
    orphans: list[Path | str] = field(default_factory=list)  # store.location() of each
    temporary: list[Path | str] = field(default_factory=list)
    kept_young: int = 0
    freed_bytes: int = 0
    expired_sessions: int = 0
    expired_limits: int = 0


def expected_keys(session: Session) -> set[str]:
    """The storage key of every file some Photo row refers to."""
    rows = session.exec(select(Photo.sha256, Photo.original_format).distinct()).all()
    keys = set()
    for sha, fmt in rows:
        photo = Photo(sha256=sha, original_format=fmt)
        keys.update(photos.key_for(photo, v) for v in ("web", "thumb", "original"))
    return keys


def gc(
    session: Session,
    settings: Settings,
    grace_seconds: float = DEFAULT_GRACE_SECONDS,
    dry_run: bool = False,
) -> GcResult:
    """Remove orphan photo files and stale temporary files older than grace_seconds, and
    sign-in state that has run out."""
    store = for_settings(settings)
    cutoff = time.time() - grace_seconds
    # The expected set is read before the walk: a photo committed during the walk has files
    # younger than the cutoff (unless grace_seconds is 0, which is for a stopped server).
    expected = expected_keys(session)
    result = GcResult()
    for top in (*STORE_DIRS, TEMP_DIR):
        for obj in sorted(store.list(top + "/"), key=lambda o: o.key):
            if obj.key in expected:
                continue
            if obj.modified > cutoff:
                result.kept_young += 1
                continue
            temporary = top == TEMP_DIR or is_temporary(Path(obj.key))
            (result.temporary if temporary else result.orphans).append(store.location(obj.key))
            result.freed_bytes += obj.size
            if not dry_run:
                store.delete(obj.key)
    result.expired_sessions = accounts.prune_expired_sessions(session, dry_run=dry_run)
    result.expired_limits = signin_limits.prune(session, settings, dry_run=dry_run)
    return result
