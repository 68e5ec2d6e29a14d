"""The upload-abuse corpus (issue 8) thrown at POST /api/v1/photos: every bad file is refused with
the declared 4xx (never a 500), genuine images are accepted and sanitised, nothing is left on
disk, and decoding a bomb stays within a memory bound."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image
from sqlmodel import select

from inspect_app.main import create_app
from inspect_app.models import Photo
from tests.make_bad_files import PAYLOAD, make_corpus
from tests.test_photos import no_metadata, stored_files

pytestmark = pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")

ROOT = Path(__file__).resolve().parents[1]
LIMIT = 2 * 2**20  # a small byte limit keeps the over-size file small
MEMORY_BOUND = 200 * 2**20


@pytest.fixture
def app(settings):
    """The app with a small byte limit (api_as and client use this one in this module)."""
    return create_app(settings.model_copy(update={"max_upload_bytes": LIMIT}))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("corpus")
    return folder, make_corpus(folder, LIMIT)


def test_every_file_of_the_corpus_gets_its_answer(api_as, session, settings, corpus):
    folder, cases = corpus
    client, _user = api_as("inspector")
    wrong = []
    for case in cases:
        data = (folder / case.name).read_bytes()
        before = stored_files(settings)
        r = client.post(
            "/api/v1/photos", files={"file": (case.upload_name, data, case.content_type)}
        )
        if case.expect == "ok":
            if r.status_code != 201:
                wrong.append(
                    f"{case.name}: {r.status_code} {r.text[:200]} (a genuine image: {case.why})"
                )
                continue
            body = r.json()
            if (body["gps"] is not None) != case.gps:
                wrong.append(f"{case.name}: gps {body['gps']} ({case.why})")
            web = client.get(body["url"]).content
            no_metadata(web)
            assert PAYLOAD not in web and Image.open(io.BytesIO(web)).size == (
                body["width"],
                body["height"],
            )
        else:
            detail = (
                r.json().get("detail")
                if r.headers["content-type"].startswith("application/json")
                else None
            )
            if r.status_code != case.expect or not isinstance(detail, str):
                wrong.append(
                    f"{case.name}: {r.status_code} {r.text[:200]}, "
                    f"expected {case.expect} ({case.why})"
                )
            if stored_files(settings) != before:
                wrong.append(f"{case.name}: left files {set(stored_files(settings)) - set(before)}")
    assert not wrong, "\n".join(wrong)
    # Only finished files remain: web copy, thumbnail and original of each accepted image.
    accepted = {p.sha256 for p in session.exec(select(Photo)).all()}
    assert accepted == {
        hashlib.sha256((folder / c.name).read_bytes()).hexdigest()
        for c in cases
        if c.expect == "ok"
    }
    names = sorted(p.name for p in stored_files(settings))
    assert len(names) == 3 * len(accepted)
    assert all(n.split(".")[0] in accepted for n in names)


def test_the_corpus_script_writes_a_manifest(tmp_path):
    out = subprocess.run(
        [sys.executable, "tests/make_bad_files.py", str(tmp_path), "--limit", "100000"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert f"{len(manifest)} files written" in out.stdout
    assert {m["name"] for m in manifest} <= {p.name for p in tmp_path.iterdir()}
    assert (tmp_path / "oversize.jpg").stat().st_size == 100_001
    assert all(m["expect"] == "ok" or 400 <= m["expect"] < 500 for m in manifest)
    imports = json.loads((tmp_path / "imports" / "manifest.json").read_text())
    assert f"{len(imports)} bad admin imports written" in out.stdout
    assert {m["name"] for m in imports} <= {p.name for p in (tmp_path / "imports").iterdir()}
    assert {m["post_to"] for m in imports} == {
        "/admin/sites/import",
        "/admin/templates/import",
        "/admin/districts/import",
    }


MEASURE = r"""
import json, sys, tempfile, tracemalloc
from pathlib import Path
from sqlmodel import Session, SQLModel, create_engine
from inspect_app.config import Settings
from inspect_app.domain import photos
from inspect_app.domain.errors import DomainError
from inspect_app.models import User

def rss(field):  # bytes, from /proc: ru_maxrss would carry the parent's peak across exec
    lines = Path("/proc/self/status").read_text().splitlines()
    line = next(x for x in lines if x.startswith(field + ":"))
    return int(line.split()[1]) * 1024

folder, limit = Path(sys.argv[1]), int(sys.argv[2])
work = Path(tempfile.mkdtemp())
settings = Settings(upload_dir=work / "uploads", database_url=f"sqlite:///{work}/m.db",
                    secret_key="memory-test-secret-key", max_upload_bytes=limit)
engine = create_engine(settings.database_url)
SQLModel.metadata.create_all(engine)
results = {}
with Session(engine) as session:
    user = User(username="u", password_hash="x", role="inspector")
    session.add(user)
    session.commit()
    Path("/proc/self/clear_refs").write_text("5")  # peak RSS := current RSS
    base_rss = rss("VmRSS")
    tracemalloc.start()
    for name in sys.argv[3:]:
        tracemalloc.reset_peak()
        try:
            photos.ingest(session, settings, user, open(folder / name, "rb"), "photo", None)
            status = "ok"
        except DomainError as exc:
            status = exc.status_code
        results[name] = {"status": status, "traced_peak": tracemalloc.get_traced_memory()[1]}
rss_growth = rss("VmHWM") - base_rss
print(json.dumps({"cases": results, "rss_growth": rss_growth}))
"""


def test_bombs_are_refused_within_a_memory_bound(corpus):
    """tracemalloc sees Python's allocations; Pillow's pixel buffers are plain malloc, so the
    process's peak RSS growth (Linux /proc) is measured too, in a fresh subprocess."""
    folder, cases = corpus
    names = [c.name for c in cases if c.bomb or c.name == "oversize.jpg"]
    out = subprocess.run(
        [sys.executable, "-c", MEASURE, str(folder), str(LIMIT), *names],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    measured = json.loads(out.stdout.strip().splitlines()[-1])
    expected = {c.name: c.expect for c in cases}
    for name, result in measured["cases"].items():
        assert result["status"] == expected[name], name
        assert result["traced_peak"] < MEMORY_BOUND, (name, result)
    assert measured["rss_growth"] < MEMORY_BOUND, measured
