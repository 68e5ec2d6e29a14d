"""One storage interface, two backends (a local folder, an S3 bucket on moto's server), and
servers that keep nothing of their own: two real app servers on one database and one bucket
share sessions, CSRF secrets, photos and the report archive; migrations run once; a server
killed in the middle of an upload leaves no partial object and no row without its object."""

from __future__ import annotations

import hashlib
import os
import re
import socket
import subprocess
import sys
import threading
import time
import uuid
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy.exc import OperationalError
from sqlmodel import select

from inspect_app.config import DEFAULT_TIMEZONE, Settings
from inspect_app.domain import backup, housekeeping, photos, reports, storage
from inspect_app.domain.errors import DomainError
from inspect_app.main import create_app
from inspect_app.models import Photo, Report
from tests.cluster import (
    S3_ENV,
    MotoServer,
    bearer,
    files_under,
    finished_week,
    s3_server,
    sign_in,
)
from tests.factories import jpeg_bytes
from tests.reliability import free_port

ZONE = ZoneInfo(DEFAULT_TIMEZONE)


@pytest.fixture(scope="module")
def moto(tmp_path_factory):
    server = MotoServer(tmp_path_factory.mktemp("moto")).start()
    yield server
    server.stop()


@pytest.fixture
def s3_env(monkeypatch):
    for name, value in S3_ENV.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def s3_settings(settings, moto, s3_env, tmp_path) -> Settings:
    """The test settings, with photos and reports in a new bucket (and a local folder that
    must stay empty)."""
    bucket = moto.new_bucket()
    return settings.model_copy(
        update={
            "storage_url": f"s3://{bucket}/city",
            "s3_endpoint_url": moto.endpoint,
            "upload_dir": tmp_path / "local-must-stay-empty",
        }
    )


def bucket_of(settings: Settings) -> str:
    return settings.storage_url.removeprefix("s3://").split("/", 1)[0]


# --- the interface, the same on both backends ---------------------------------------------------


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path, moto, s3_env):
    if request.param == "local":
        return storage.LocalStorage(tmp_path / "store")
    return storage.open_storage(f"s3://{moto.new_bucket()}/p", moto.endpoint)


def test_store_contract(store, tmp_path):
    store.write("photos/ab/x.web.jpg", lambda f: f.write(b"web bytes"))
    source = tmp_path / "upload.part"
    source.write_bytes(b"original " * 100_000)
    store.put_file("originals/ab/x.jpg", source)
    assert source.exists()  # copied, not moved

    assert store.read("photos/ab/x.web.jpg") == b"web bytes"
    stream = store.chunks("originals/ab/x.jpg")
    assert stream.size == 900_000  # sent as Content-Length
    assert b"".join(stream) == source.read_bytes()
    assert store.exists("originals/ab/x.jpg") and not store.exists("photos/ab/y.web.jpg")
    listed = {o.key: o for o in store.list()}
    assert set(listed) == {"photos/ab/x.web.jpg", "originals/ab/x.jpg"}
    assert listed["originals/ab/x.jpg"].size == 900_000
    assert [o.key for o in store.list("photos/")] == ["photos/ab/x.web.jpg"]
    before = listed["photos/ab/x.web.jpg"].modified
    time.sleep(1.1)  # S3 keeps whole seconds
    store.touch("photos/ab/x.web.jpg")
    assert next(store.list("photos/")).modified > before
    assert store.read("photos/ab/x.web.jpg") == b"web bytes"

    with pytest.raises(FileNotFoundError):
        store.read("reports/missing.pdf")
    with pytest.raises(FileNotFoundError):
        store.chunks("reports/missing.pdf")
    for bad in ("", "/etc/passwd", "photos/../../x", "photos//x", "./x"):
        with pytest.raises(ValueError):
            store.write(bad, lambda f: f.write(b"x"))
    store.delete("photos/ab/x.web.jpg")
    store.delete("photos/ab/x.web.jpg")  # absent is fine
    assert [o.key for o in store.list()] == ["originals/ab/x.jpg"]


def test_a_failed_write_leaves_nothing(store):
    def half(f):
        f.write(b"half a photo")
        raise RuntimeError("encoder failed")

    with pytest.raises(RuntimeError):
        store.write("photos/cd/y.web.jpg", half)
    assert list(store.list()) == []


def test_object_storage_requires_a_shared_secret_key(tmp_path):
    with pytest.raises(ValueError, match="several servers"):
        Settings(storage_url="s3://b/p", secret_key="", upload_dir=tmp_path, env="development")
    ok = Settings(storage_url="s3://bucket/p", secret_key="k" * 32, upload_dir=tmp_path / "u")
    assert ok.shared_storage and not (tmp_path / "u").exists()


# --- the app on S3: photos, reports, gc, backup ----------------------------------------------------


def test_photos_go_to_the_bucket_and_are_served_only_to_allowed_users(
    s3_settings, session, make_user, moto
):
    owner, other = make_user("inspector"), make_user("inspector")
    photo = photos.ingest_bytes(session, s3_settings, owner, jpeg_bytes(3, size=(800, 600)))
    sha = photo.sha256
    assert moto.keys(bucket_of(s3_settings)) == [
        f"city/originals/{sha[:2]}/{sha}.jpg",
        f"city/photos/{sha[:2]}/{sha}.thumb.jpg",
        f"city/photos/{sha[:2]}/{sha}.web.jpg",
    ]
    assert not s3_settings.upload_dir.exists()  # nothing spooled or kept on this server
    # The same bytes again by another user: the objects are reused, not written twice.
    again = photos.ingest_bytes(session, s3_settings, other, jpeg_bytes(3, size=(800, 600)))
    assert again.id != photo.id and len(moto.keys(bucket_of(s3_settings))) == 3

    from fastapi.testclient import TestClient

    from tests.clients import login

    app = create_app(s3_settings)
    with TestClient(app) as mine, TestClient(app) as theirs:
        login(mine, owner.username)
        r = mine.get(f"/photos/{photo.id}")
        assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
        stored = storage.for_settings(s3_settings).read(photos.key_for(photo, "web"))
        assert r.content == stored and r.headers["cache-control"].startswith("private")
        assert r.headers["content-length"] == str(len(stored))  # a phone can show progress
        assert mine.get(f"/photos/{photo.id}/thumb").content[:3] == b"\xff\xd8\xff"
        login(theirs, make_user("inspector").username)
        assert theirs.get(f"/photos/{photo.id}").status_code == 404
    assert not s3_settings.upload_dir.exists()


def test_a_failed_upload_leaves_no_object(s3_settings, session, make_user, moto, monkeypatch):
    inspector = make_user("inspector")
    with pytest.raises(DomainError):  # refused before anything is stored
        photos.ingest_bytes(session, s3_settings, inspector, b"\xff\xd8\xff" + b"0" * 500)

    def database_gone():
        raise OperationalError("COMMIT", {}, Exception("the database went away"))

    monkeypatch.setattr(session, "commit", database_gone)
    with pytest.raises(OperationalError):  # objects written, row not: they are removed again
        photos.ingest_bytes(session, s3_settings, inspector, jpeg_bytes(5))
    monkeypatch.undo()
    assert moto.keys(bucket_of(s3_settings)) == []
    assert session.exec(select(Photo)).all() == []


def test_report_archive_in_the_bucket(s3_settings, session, make_user, moto):
    office = make_user("office")
    target = reports.check_request(session, office, finished_week(), None, zone=ZONE)
    content, stored = reports.weekly_report(session, s3_settings, target, user=office)
    assert stored is not None
    assert moto.keys(bucket_of(s3_settings)) == [f"city/reports/{stored.sha256}.pdf"]
    assert reports.archived(session, s3_settings, office, stored.id) == (stored, content)
    again, same = reports.weekly_report(session, s3_settings, target, user=office)
    assert again == content and same.id == stored.id  # served from the archive


def test_gc_on_the_bucket(s3_settings, session, make_user, moto):
    inspector = make_user("inspector")
    kept = photos.ingest_bytes(session, s3_settings, inspector, jpeg_bytes(1))
    lost = photos.ingest_bytes(session, s3_settings, inspector, jpeg_bytes(2))
    session.delete(lost)
    session.commit()
    young = housekeeping.gc(session, s3_settings)  # default grace: everything is young
    assert young.orphans == [] and young.kept_young == 3
    dry = housekeeping.gc(session, s3_settings, grace_seconds=0, dry_run=True)
    bucket = bucket_of(s3_settings)
    lost_keys = sorted(photos.key_for(lost, v) for v in ("web", "thumb", "original"))
    assert sorted(dry.orphans) == [f"s3://{bucket}/city/{k}" for k in lost_keys]
    assert len(moto.keys(bucket)) == 6
    done = housekeeping.gc(session, s3_settings, grace_seconds=0)
    assert done.freed_bytes > 0
    assert moto.keys(bucket) == sorted(
        f"city/{photos.key_for(kept, v)}" for v in ("web", "thumb", "original")
    )


def test_backup_of_a_bucket_restores_into_a_folder_and_into_another_bucket(
    s3_settings, session, make_user, moto, tmp_path
):
    inspector = make_user("inspector")
    for i in range(3):
        photos.ingest_bytes(session, s3_settings, inspector, jpeg_bytes(i))
    store = storage.for_settings(s3_settings)
    before = {o.key: hashlib.sha256(store.read(o.key)).hexdigest() for o in store.list()}
    session.close()

    manifest = backup.backup(s3_settings, tmp_path / "b")
    assert set(manifest["files"]) == set(before) and manifest["photos"]["missing_files"] == []

    local = s3_settings.model_copy(update={"storage_url": "", "upload_dir": tmp_path / "local"})
    backup.restore(local, tmp_path / "b", force=True)
    assert {
        k: hashlib.sha256((tmp_path / "local" / k).read_bytes()).hexdigest()
        for k in files_under(tmp_path / "local")
    } == before

    other = s3_settings.model_copy(update={"storage_url": f"s3://{moto.new_bucket()}/x"})
    restored = storage.for_settings(other)
    restored.write("photos/zz/stray.web.jpg", lambda f: f.write(b"not in the backup"))
    backup.restore(other, tmp_path / "b", force=True)
    assert {o.key: hashlib.sha256(restored.read(o.key)).hexdigest() for o in restored.list()} == (
        before
    )


# --- migrations: servers starting together migrate once ------------------------------------------


def test_servers_starting_together_migrate_once(database_url, tmp_path):
    if not database_url.startswith("postgresql"):
        pytest.skip("the advisory lock is PostgreSQL's (SQLite's write lock serialises anyway)")
    import psycopg

    admin = database_url.rsplit("/", 1)[0] + "/postgres"
    name = f"inspect_mig_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        url = database_url.rsplit("/", 1)[0] + "/" + name
        env = {"INSPECT_DATABASE_URL": url, "INSPECT_UPLOAD_DIR": str(tmp_path)}
        starts = [
            subprocess.Popen(
                [sys.executable, "-m", "inspect_app.cli", "db", "upgrade"],
                env={**os.environ, **env},
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for _ in range(3)
        ]
        outcomes = [(p.wait(timeout=120), p.stdout.read()) for p in starts]
        assert all(code == 0 for code, _out in outcomes), outcomes
        with psycopg.connect(url) as conn:
            assert len(conn.execute("SELECT version_num FROM alembic_version").fetchall()) == 1
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- two real servers, one database, one bucket --------------------------------------------------


@pytest.mark.slow
def test_two_servers_share_sessions_photos_and_reports(s3_settings, make_user, moto, tmp_path):
    inspector, office = make_user("inspector"), make_user("office")
    a = s3_server(s3_settings, tmp_path / "a", moto.endpoint)
    b = s3_server(s3_settings, tmp_path / "b", moto.endpoint, "--workers", "2")
    try:
        a.start(timeout=180)
        b.start(timeout=180)
        assert "with 2 worker processes" in b.log_tail()

        # A session made on A is valid on B, and so is the CSRF token A's pages hand out.
        browser = sign_in(a.base_url, office.username)
        browser.base_url = b.base_url
        assert browser.get("/reports").status_code == 200
        out = browser.post("/logout", data={"csrftoken": browser.cookies["csrftoken"]})
        assert out.status_code == 303 and out.headers["location"] == "/login"
        assert browser.get("/reports").status_code == 303  # the session is gone on both

        # A photo uploaded to A is served by B.
        auth = bearer(a.base_url, inspector.username)
        image = jpeg_bytes(11, size=(900, 700))
        r = httpx.post(
            a.base_url + "/api/v1/photos",
            headers=auth,
            files={"file": ("p.jpg", image, "image/jpeg")},
            timeout=30,
        )
        assert r.status_code == 201, r.text
        served = httpx.get(b.base_url + r.json()["url"], headers=auth, timeout=30)
        assert served.status_code == 200 and served.headers["content-type"] == "image/jpeg"
        sha = hashlib.sha256(image).hexdigest()
        assert served.content == storage.for_settings(s3_settings).read(
            f"photos/{sha[:2]}/{sha}.web.jpg"
        )
        other = bearer(b.base_url, make_user("inspector").username)
        assert httpx.get(b.base_url + r.json()["url"], headers=other).status_code == 404

        # A report archived by A downloads from B.
        office_auth = bearer(a.base_url, office.username)
        made = httpx.get(
            f"{a.base_url}/reports/weekly/{finished_week()}.pdf", headers=office_auth, timeout=120
        )
        assert made.status_code == 200 and made.content.startswith(b"%PDF")
        from sqlmodel import Session

        from inspect_app.db import make_engine

        engine = make_engine(s3_settings)
        with Session(engine) as s:
            report = s.exec(select(Report)).one()
        engine.dispose()
        again = httpx.get(
            f"{b.base_url}/reports/archive/{report.id}.pdf", headers=office_auth, timeout=60
        )
        assert again.status_code == 200 and again.content == made.content
    finally:
        a.stop()
        b.stop()
    # Nothing was written to either server's own folder.
    assert files_under(tmp_path / "a" / "uploads") == []
    assert files_under(tmp_path / "b" / "uploads") == []


class StallingProxy:
    """A TCP proxy in front of the S3 server that forwards everything, except that the first
    PUT of a photo object is cut off halfway through its body and held there (`stalled` is
    set): the app server is then in the middle of an upload to S3."""

    def __init__(self, upstream_port: int):
        self.upstream_port = upstream_port
        self.port = free_port()
        self.stalled = threading.Event()
        self.put_paths: list[str] = []
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._sockets: list[socket.socket] = [self._listener]
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            self._sockets += [client, upstream]
            threading.Thread(target=self._pump, args=(upstream, client), daemon=True).start()
            threading.Thread(target=self._requests, args=(client, upstream), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass

    def _requests(self, client: socket.socket, upstream: socket.socket) -> None:
        buffered = b""
        try:
            while data := client.recv(65536):
                buffered += data
                head, sep, body = buffered.partition(b"\r\n\r\n")
                is_photo_put = head.startswith(b"PUT ") and b"/photos/" in head.split(b"\r\n")[0]
                if sep and is_photo_put and not self.stalled.is_set():
                    length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
                    self.put_paths.append(head.split(b" ")[1].decode())
                    upstream.sendall(head + sep + body[: length // 2])
                    self.stalled.set()
                    return  # hold: the rest of the body never arrives
                if sep:
                    upstream.sendall(buffered)
                    buffered = b""
        except OSError:
            pass

    def close(self) -> None:
        for s in self._sockets:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()


@pytest.mark.slow
def test_sigkill_during_an_upload_to_s3_leaves_no_partial_object_and_no_row(
    s3_settings, session, make_user, moto, tmp_path
):
    inspector = make_user("inspector")
    proxy = StallingProxy(moto.port)
    server = s3_server(s3_settings, tmp_path / "a", proxy.endpoint)
    image = jpeg_bytes(21, size=(2000, 1500))
    sha = hashlib.sha256(image).hexdigest()
    try:
        server.start(timeout=180)
        auth = bearer(server.base_url, inspector.username)
        upload = threading.Thread(
            target=lambda: _swallow(
                lambda: httpx.post(
                    server.base_url + "/api/v1/photos",
                    headers=auth,
                    files={"file": ("p.jpg", image, "image/jpeg")},
                    timeout=60,
                )
            ),
            daemon=True,
        )
        upload.start()
        assert proxy.stalled.wait(60), "the upload never reached S3"
        assert proxy.put_paths and sha in proxy.put_paths[0]
        server.kill()
        upload.join(30)
    finally:
        server.stop()
        proxy.close()
    time.sleep(0.5)  # let the S3 server notice the cut connection
    bucket = bucket_of(s3_settings)
    assert [k for k in moto.keys(bucket) if sha in k] == []  # no partial object visible
    session.expire_all()
    rows = session.exec(select(Photo)).all()
    store = storage.for_settings(s3_settings)
    assert all(store.exists(photos.key_for(p, v)) for p in rows for v in ("web", "thumb")), (
        "a row points at a missing object"
    )
    assert [p for p in rows if p.sha256 == sha] == []
    assert files_under(tmp_path / "a" / "uploads") == []


def _swallow(call) -> None:
    try:
        call()
    except httpx.HTTPError:
        pass
