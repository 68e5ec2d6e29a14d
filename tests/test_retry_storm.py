"""Retry storm: many clients re-send the same submissions (photos, then the one-shot inspection)
with random delays, abandoning most requests before the answer (a client-side timeout drops the
connection). Zero duplicates, zero lost, one 201 at most per client_uuid.

Runs the real server (`inspect-app serve`, production settings) on the test database.
"""

from __future__ import annotations

import random
import threading
import time

import httpx
import pytest
from sqlmodel import Session, func, select

from inspect_app.models import Photo
from tests.reliability import Server, Submission, answers_factory, api_token, check_store

SUBMISSIONS = 10
CLIENTS = 8
STORM_SECONDS = 12
SEED = 4711


@pytest.mark.slow
def test_retry_storm_neither_duplicates_nor_loses(
    session, settings, engine, region, make_user, tmp_path
):
    version, site = region["template_version"], region["sites"][0]
    answers_for = answers_factory(session, version.id)
    tokens = [api_token(session, settings, make_user("inspector")) for _ in range(3)]
    submissions = [
        Submission(n, tokens[n % len(tokens)], region["template_id"], site.id, answers_for)
        for n in range(SUBMISSIONS)
    ]
    server = Server(settings, tmp_path / "server")
    stop = threading.Event()
    counts = {"sent": 0, "dropped": 0}
    lock = threading.Lock()

    def client(n: int) -> None:
        rng = random.Random(SEED + n)
        with httpx.Client(base_url=server.base_url) as http:
            while not stop.is_set():
                sub = rng.choice(submissions)
                time.sleep(rng.uniform(0, 0.03))
                # Most attempts give up long before the server answers: the response is dropped.
                timeout = rng.choice([0.001, 0.005, 0.02, 0.05, 10])
                with lock:
                    counts["sent"] += 1
                try:
                    sub.step(http, timeout=timeout)
                except httpx.TransportError:
                    with lock:
                        counts["dropped"] += 1

    server.start()
    try:
        threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
        for t in threads:
            t.start()
        time.sleep(STORM_SECONDS)
        stop.set()
        for t in threads:
            t.join(timeout=30)
        # The storm is over: each phone finally gets through (with patience) and is acknowledged.
        with httpx.Client(base_url=server.base_url) as http:
            for sub in submissions:
                while not sub.step(http, timeout=30) and not sub.surprises:
                    pass
    finally:
        server.stop()
    figures = check_store(engine, settings, submissions)
    with Session(engine) as s:
        photo_rows = s.exec(select(func.count()).select_from(Photo)).one()
        photo_keys = s.exec(
            select(func.count()).select_from(
                select(Photo.uploaded_by, Photo.sha256).distinct().subquery()
            )
        ).one()
    print(
        f"\nretry storm: {counts['sent']} requests from {CLIENTS} clients for {SUBMISSIONS} submissions, "
        f"{counts['dropped']} dropped by the client; {figures['inspections']} stored, "
        f"{figures['duplicates']} duplicates, {figures['lost']} lost; "
        f"{sum(len(s.acks) for s in submissions)} acknowledgements; "
        f"photo rows {photo_rows} for {photo_keys} distinct (uploader, bytes)"
    )
    assert figures["surprises"] == []
    assert figures["problems"] == []
    assert figures["inspections"] == SUBMISSIONS and figures["acked"] == SUBMISSIONS
    assert counts["dropped"] > SUBMISSIONS  # the storm really dropped responses
