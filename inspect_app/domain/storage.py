"""Where photos and stored reports live: one interface, two backends.

Keys are relative, content-addressed paths, the same on both backends (so a backup made from
one restores into the other):

    photos/ab/<sha>.web.jpg · photos/ab/<sha>.thumb.jpg · originals/ab/<sha>.<ext> · reports/<sha>.pdf

- LocalStorage: a folder (INSPECT_STORAGE_URL unset or a path; default the upload folder).
  Every write goes through a temporary file beside the target, fsync, rename.
- S3Storage: a bucket and prefix (INSPECT_STORAGE_URL=s3://BUCKET/PREFIX) on any S3-compatible
  store (INSPECT_S3_ENDPOINT_URL for MinIO, OSS, OBS, Ceph RGW; credentials from AWS_*). One
  PUT per object (every file we store is far below S3's 5 GB single-PUT limit): S3 makes an
  object visible only once its PUT has completed, so an object is complete or absent, and a
  killed upload leaves nothing to clean up. boto3 is the client: maintained by AWS, the
  reference implementation of the protocol every S3-compatible store tests against, and
  synchronous like our domain code (our routes run in FastAPI's thread pool).

Both are private: nothing is served from storage directly; the app streams objects to users
it has authorised (see web/photos.py for why not presigned URLs).
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import IO, Protocol
from urllib.parse import urlsplit

from inspect_app.config import Settings

CHUNK = 256 * 1024


@dataclass(frozen=True)
class ObjectStream:
    """An object being read: its size (a response's Content-Length) and its chunks."""

    size: int
    chunks: Iterator[bytes]

    def __iter__(self) -> Iterator[bytes]:
        return self.chunks


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    modified: float  # seconds since the epoch


class Storage(Protocol):
    """What the domain needs from a store of immutable, content-addressed objects."""

    def write(self, key: str, save: Callable[[IO[bytes]], None]) -> None:
        """Store what `save` writes to the file object it is given, all or nothing."""

    def put_file(self, key: str, source: Path, *, move: bool = False) -> None:
        """Store a local file, all or nothing; `move` lets a local store rename it in place."""

    def read(self, key: str) -> bytes:
        """The whole object; FileNotFoundError when absent."""

    def chunks(self, key: str) -> ObjectStream:
        """The object's size and chunks, for streaming a response; FileNotFoundError when absent."""

    def exists(self, key: str) -> bool: ...

    def touch(self, key: str) -> None:
        """Mark the object as just written (gc's grace period covers reused objects too)."""

    def delete(self, key: str) -> None:
        """Remove the object; absent is fine."""

    def list(self, prefix: str = "") -> Iterator[StoredObject]:
        """Every object whose key starts with prefix (temporary files included, see is_temporary)."""

    def local_path(self, key: str) -> Path | None:
        """A file the web server may send directly, or None when the store is remote."""

    def location(self, key: str) -> Path | str:
        """Where the object is, for people: a file path or an s3:// URL."""

    @property
    def spool_dir(self) -> Path | None:
        """Where an upload is spooled before it is stored: beside the store on a local folder
        (so the kept original is a rename), the system's temporary folder otherwise."""


def write_atomic(target: Path, save: Callable[[IO[bytes]], None]) -> None:
    """Write through a temporary file beside the target, fsync, rename: readers never see half a file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            save(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _check_key(key: str) -> str:
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"bad storage key {key!r}")
    return key


class LocalStorage:
    """A folder on this machine (or a shared mount)."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"LocalStorage({str(self.root)!r})"

    def path(self, key: str) -> Path:
        return self.root / _check_key(key)

    def write(self, key: str, save: Callable[[IO[bytes]], None]) -> None:
        write_atomic(self.path(key), save)

    def put_file(self, key: str, source: Path, *, move: bool = False) -> None:
        target = self.path(key)
        if move:
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(source, "rb+") as f:
                os.fsync(f.fileno())
            os.replace(source, target)
            return

        def copy(out: IO[bytes]) -> None:
            with open(source, "rb") as f:
                while chunk := f.read(CHUNK):
                    out.write(chunk)

        write_atomic(target, copy)

    def read(self, key: str) -> bytes:
        return self.path(key).read_bytes()

    def chunks(self, key: str) -> ObjectStream:
        f = open(self.path(key), "rb")  # opened now: a missing file fails before streaming

        def gen() -> Iterator[bytes]:
            with f:
                while chunk := f.read(CHUNK):
                    yield chunk

        return ObjectStream(os.fstat(f.fileno()).st_size, gen())

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def touch(self, key: str) -> None:
        os.utime(self.path(key))

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    def list(self, prefix: str = "") -> Iterator[StoredObject]:
        top = self.root / prefix if prefix else self.root
        if not top.is_dir():
            return
        for dirpath, _dirs, files in os.walk(top):
            for name in files:
                path = Path(dirpath) / name
                try:
                    stat = path.stat()
                except FileNotFoundError:  # renamed or removed meanwhile
                    continue
                yield StoredObject(
                    path.relative_to(self.root).as_posix(), stat.st_size, stat.st_mtime
                )

    def local_path(self, key: str) -> Path | None:
        return self.path(key)

    def location(self, key: str) -> Path:
        return self.path(key)

    @property
    def spool_dir(self) -> Path:
        return self.root / "tmp"


class S3Storage:
    """A bucket and key prefix on an S3-compatible object store."""

    def __init__(self, bucket: str, prefix: str = "", endpoint_url: str | None = None):
        import boto3
        from botocore.config import Config

        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.client = boto3.client(
            "s3",
            endpoint_url=endpoint_url or None,
            config=Config(
                retries={"max_attempts": 5, "mode": "standard"},
                max_pool_connections=32,
                # Path-style addressing works with every S3-compatible store (MinIO, Ceph).
                s3={"addressing_style": "path"},
            ),
        )

    def __repr__(self) -> str:
        return f"S3Storage(s3://{self.bucket}/{self.prefix})"

    def _key(self, key: str) -> str:
        return self.prefix + _check_key(key)

    def write(self, key: str, save: Callable[[IO[bytes]], None]) -> None:
        buffer = io.BytesIO()
        save(buffer)
        self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=buffer.getvalue())

    def put_file(self, key: str, source: Path, *, move: bool = False) -> None:
        with open(source, "rb") as f:
            self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=f)

    def _get(self, key: str) -> dict:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self._key(key))
        except self.client.exceptions.NoSuchKey:
            raise FileNotFoundError(key) from None

    def read(self, key: str) -> bytes:
        with self._get(key)["Body"] as body:
            return body.read()

    def chunks(self, key: str) -> ObjectStream:
        got = self._get(key)
        body = got["Body"]

        def gen() -> Iterator[bytes]:
            with body:
                yield from body.iter_chunks(CHUNK)

        return ObjectStream(int(got["ContentLength"]), gen())

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(key))
            return True
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise

    def touch(self, key: str) -> None:
        # S3 has no utime: copying an object onto itself with new metadata renews LastModified.
        full = self._key(key)
        self.client.copy_object(
            Bucket=self.bucket,
            Key=full,
            CopySource={"Bucket": self.bucket, "Key": full},
            Metadata={"touched": datetime.now(UTC).isoformat()},
            MetadataDirective="REPLACE",
        )

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._key(key))

    def list(self, prefix: str = "") -> Iterator[StoredObject]:
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.prefix + prefix
        )
        for page in pages:
            for obj in page.get("Contents", []):
                yield StoredObject(
                    obj["Key"][len(self.prefix) :], obj["Size"], obj["LastModified"].timestamp()
                )

    def local_path(self, key: str) -> Path | None:
        return None

    def location(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._key(key)}"

    @property
    def spool_dir(self) -> None:
        return None


def is_remote(url: str) -> bool:
    return url.startswith("s3://")


@lru_cache(maxsize=16)
def open_storage(url: str, endpoint_url: str | None = None) -> LocalStorage | S3Storage:
    """The store for a storage URL: s3://BUCKET/PREFIX, or a folder. One per process and URL
    (a boto3 client is thread-safe and keeps its connection pool)."""
    if is_remote(url):
        parts = urlsplit(url)
        if not parts.netloc:
            raise ValueError(f"INSPECT_STORAGE_URL {url!r} names no bucket (s3://BUCKET/PREFIX)")
        return S3Storage(parts.netloc, parts.path, endpoint_url)
    return LocalStorage(Path(url.removeprefix("file://")))


def for_settings(settings: Settings) -> LocalStorage | S3Storage:
    """The configured store: INSPECT_STORAGE_URL, or the upload folder when it is unset."""
    return open_storage(settings.storage_url or str(settings.upload_dir), settings.s3_endpoint_url)
