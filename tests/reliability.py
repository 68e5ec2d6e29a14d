"""The reliability tests' machinery (backup, gc, crash, retry storm): the real server in a
subprocess, phones submitting over a bad network, and what must be true of the store afterwards.
Their data comes from tests/factories.py."""

from __future__ import annotations

import hashlib
from pathlib import Path

from sqlalchemy import select as sa_select
from sqlmodel import SQLModel

from tests.factories import complete_answers, failable_items, jpeg_bytes


def table_rows(engine) -> dict[str, list[tuple]]:
    """Every row of every table, ordered by primary key, as comparable tuples."""
    out = {}
    with engine.connect() as conn:
        for table in SQLModel.metadata.sorted_tables:
            rows = conn.execute(sa_select(table).order_by(*table.primary_key.columns)).all()
            out[table.name] = [tuple(repr(v) for v in row) for row in rows]
    return out


def upload_files(root: Path) -> dict[str, str]:
    """relative path -> sha256 of every file under the upload folder (but the dev secret key)."""
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(Path(root).rglob("*"))
        if p.is_file() and p.name != ".dev-secret-key"
    }


# --- the real server in a subprocess -------------------------------------------------------------


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`inspect-app serve` in a subprocess on a loopback port, to be started, killed and restarted."""

    def __init__(
        self, settings, workdir: Path, env: str = "production", args: tuple[str, ...] = ()
    ):
        import os

        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.env = {
            **os.environ,
            "INSPECT_DATABASE_URL": settings.database_url,
            "INSPECT_UPLOAD_DIR": str(settings.upload_dir),
            "INSPECT_SECRET_KEY": settings.secret_key,
            "INSPECT_ENV": env,
        }
        # More `serve` options, e.g. ("--workers", "2"). One worker unless asked: SIGKILL must
        # reach the process that serves (a supervisor's workers would outlive it).
        self.args = list(args) or ["--workers", "1"]
        self.process = None
        self.starts = 0

    def command(self) -> list[str]:
        """What start() runs (bench/field.py serves the app its own way on the same port)."""
        import sys

        return [
            sys.executable,
            "-m",
            "inspect_app.cli",
            "serve",
            "--port",
            str(self.port),
            *self.args,
        ]

    def start(self, timeout: float = 30) -> None:
        import subprocess
        import time

        import httpx

        with open(self.workdir / f"server-{self.starts}.log", "wb") as log:
            self.process = subprocess.Popen(
                self.command(),
                cwd=self.workdir,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.starts += 1
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"the server exited with {self.process.returncode}: {self.log_tail()}"
                )
            try:
                if httpx.get(self.base_url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError("the server did not answer /healthz in time: " + self.log_tail())

    def kill(self) -> None:
        """SIGKILL: no shutdown handlers, no flushing, like a power cut of the process."""
        import signal

        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        import subprocess

        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()

    def log_tail(self) -> str:
        logs = sorted(self.workdir.glob("server-*.log"))
        return logs[-1].read_text(errors="replace")[-3000:] if logs else ""


def api_token(session, settings, user) -> str:
    from inspect_app.domain import accounts

    return accounts.open_session(session, settings, user, "token")


# --- phones submitting over a bad network, and what must be true afterwards ---------------------


class Submission:
    """One inspection a phone wants stored: its photos (uploaded first), then the one-shot POST,
    re-sent with the same client_uuid until a 2xx arrives."""

    def __init__(self, seed: int, token: str, template_id: int, site_id: int, answers_for):
        import uuid

        self.client_uuid = str(uuid.uuid4())
        self.token = token
        self.template_id, self.site_id = template_id, site_id
        self.photo_bytes = [jpeg_bytes(seed * 2 + k) for k in range(2)]
        self.photo_ids: list[int | None] = [None, None]
        self.answers_for = answers_for  # photo ids -> the answers list
        self.acks: list[
            tuple[int, int, tuple[int, ...]]
        ] = []  # (status, inspection id, hazard ids)
        self.surprises: list[str] = []  # any answer other than 2xx or a dropped connection

    @property
    def acked(self) -> bool:
        return bool(self.acks)

    def payload(self) -> dict:
        return {
            "client_uuid": self.client_uuid,
            "template_id": self.template_id,
            "site_id": self.site_id,
            "location": None,
            "answers": self.answers_for(self.photo_ids),
        }

    def step(self, client, timeout: float = 10) -> bool:
        """One attempt at the next missing piece; True once the inspection is acknowledged.
        Transport errors (a killed server, a dropped response) propagate to the caller."""
        headers = {"Authorization": f"Bearer {self.token}"}
        for k, data in enumerate(self.photo_bytes):
            if self.photo_ids[k] is None:
                r = client.post(
                    "/api/v1/photos",
                    headers=headers,
                    files={"file": (f"p{k}.jpg", data, "image/jpeg")},
                    timeout=timeout,
                )
                if r.status_code in (200, 201):
                    self.photo_ids[k] = r.json()["id"]
                else:
                    self.surprises.append(f"photo {r.status_code} {r.text[:200]}")
                    return False
        r = client.post(
            "/api/v1/inspections", headers=headers, json=self.payload(), timeout=timeout
        )
        if r.status_code in (200, 201):
            body = r.json()
            self.acks.append(
                (r.status_code, body["id"], tuple(sorted(h["id"] for h in body["hazards"])))
            )
            return True
        self.surprises.append(f"inspection {r.status_code} {r.text[:200]}")
        return False


def answers_factory(session, version_id: int):
    """photo ids -> a complete answer list failing two pass/fail items, one photo each.
    The items are read once here: the returned function is called from many threads."""
    import copy

    failable = [item.id for item in failable_items(session, version_id)[:2]]
    base = complete_answers(session, version_id, {item_id: [] for item_id in failable})

    def answers_for(photo_ids):
        answers = copy.deepcopy(base)
        for answer in answers:
            if answer["item_id"] in failable:
                answer["photo_ids"] = [photo_ids[failable.index(answer["item_id"])]]
        return answers

    return answers_for


def check_store(engine, settings, submissions: list[Submission]) -> dict:
    """Every acknowledged submission stored exactly once, whole; nothing else half-present;
    every photo's files on disk; orphan files removed by gc. Returns the figures."""
    from sqlmodel import Session, func, select

    from inspect_app.domain import housekeeping
    from inspect_app.domain import photos as photo_domain
    from inspect_app.models import (
        Answer,
        AnswerPhoto,
        Hazard,
        HazardEvent,
        HazardPhoto,
        Inspection,
        Photo,
        TemplateItem,
    )

    problems: list[str] = []
    by_uuid = {s.client_uuid: s for s in submissions}
    with Session(engine) as session:
        inspections = session.exec(select(Inspection)).all()
        for inspection in inspections:
            sub = by_uuid.get(inspection.client_uuid)
            where = f"inspection {inspection.id} ({inspection.client_uuid[:8]})"
            if sub is None:
                problems.append(f"{where}: nobody submitted it")
                continue
            items = session.exec(
                select(func.count())
                .select_from(TemplateItem)
                .where(TemplateItem.version_id == inspection.template_version_id)
            ).one()
            answers = session.exec(
                select(Answer).where(Answer.inspection_id == inspection.id)
            ).all()
            failed = [a for a in answers if a.result == "fail"]
            hazards = session.exec(
                select(Hazard).where(Hazard.inspection_id == inspection.id)
            ).all()
            if inspection.status != "submitted" or len(answers) != items:
                problems.append(
                    f"{where}: half-present: {inspection.status}, {len(answers)}/{items} answers"
                )
            if len(failed) != 2 or len(hazards) != 2:
                problems.append(
                    f"{where}: {len(failed)} failed answers, {len(hazards)} hazards (want 2 and 2)"
                )
            for hazard in hazards:
                n_photos = session.exec(
                    select(func.count())
                    .select_from(HazardPhoto)
                    .where(HazardPhoto.hazard_id == hazard.id)
                ).one()
                n_events = session.exec(
                    select(func.count())
                    .select_from(HazardEvent)
                    .where(HazardEvent.hazard_id == hazard.id, HazardEvent.action == "created")
                ).one()
                if n_photos != 1 or n_events != 1:
                    problems.append(
                        f"{where}: hazard {hazard.id} has {n_photos} photos, {n_events} created events"
                    )
            for answer in failed:
                if (
                    session.exec(
                        select(func.count())
                        .select_from(AnswerPhoto)
                        .where(AnswerPhoto.answer_id == answer.id)
                    ).one()
                    != 1
                ):
                    problems.append(f"{where}: failed answer {answer.id} lost its photo")
            if sub.acked:
                ids = {ack[1] for ack in sub.acks}
                hazard_sets = {ack[2] for ack in sub.acks}
                if ids != {inspection.id} or hazard_sets != {tuple(sorted(h.id for h in hazards))}:
                    problems.append(
                        f"{where}: acknowledged as {ids} {hazard_sets}, stored as {inspection.id}"
                    )
        stored = {i.client_uuid for i in inspections}
        lost = [s.client_uuid for s in submissions if s.acked and s.client_uuid not in stored]
        problems += [f"acknowledged but lost: {u}" for u in lost]
        duplicates = len(inspections) - len(stored)
        orphan_hazards = session.exec(
            select(func.count())
            .select_from(Hazard)
            .where(
                Hazard.inspection_id.is_not(None),
                Hazard.inspection_id.not_in(select(Inspection.id)),
            )
        ).one()
        if orphan_hazards:
            problems.append(f"{orphan_hazards} hazards without their inspection")
        gc = housekeeping.gc(session, settings, grace_seconds=0)
        missing = [
            p.id
            for p in session.exec(select(Photo)).all()
            if not all(photo_domain.path_for(settings, p, v).is_file() for v in ("web", "thumb"))
        ]
        if missing:
            problems.append(f"photos without their files: {missing}")
        acked_photos = {pid for s in submissions for pid in s.photo_ids if pid is not None}
        known = set(session.exec(select(Photo.id)).all())
        if acked_photos - known:
            problems.append(f"acknowledged photos lost: {sorted(acked_photos - known)}")
        repeat_201 = [
            s.client_uuid for s in submissions if sum(1 for a in s.acks if a[0] == 201) > 1
        ]
        problems += [f"201 Created more than once for {u}" for u in repeat_201]
    return {
        "problems": problems,
        "inspections": len(inspections),
        "acked": sum(s.acked for s in submissions),
        "attempted": len(submissions),
        "duplicates": duplicates,
        "lost": len(lost),
        "orphan_files_removed": len(gc.orphans),
        "temp_files_removed": len(gc.temporary),
        "surprises": [x for s in submissions for x in s.surprises],
    }
