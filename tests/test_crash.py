"""Crash consistency: the real server (`inspect-app serve` in a subprocess, production settings)
takes concurrent submissions with photos and is killed with SIGKILL at random moments, then
restarted. Afterwards every acknowledged submission is stored exactly once and whole, nothing
unacknowledged is half-present, and gc removes the files of uploads cut short.

Runs on the test database (SQLite, or PostgreSQL with INSPECT_TEST_DATABASE_URL).
"""

from __future__ import annotations

import random
import threading
import time

import httpx
import pytest

from tests.reliability import Server, Submission, answers_factory, api_token, check_store

PHONES = 4
KILLS = 6
# Restarting the server dominates the run (imports, migration check): stop killing once this
# much time has gone, whatever the count, so the test stays within about a minute.
BUDGET_SECONDS = 40
SEED = 20261126


@pytest.mark.slow
def test_sigkill_at_random_moments_loses_nothing_acknowledged(
    session, settings, engine, region, make_user, tmp_path
):
    rng = random.Random(SEED)
    version, site = region["template_version"], region["sites"][0]
    answers_for = answers_factory(session, version.id)
    tokens = [api_token(session, settings, make_user("inspector")) for _ in range(PHONES)]
    server = Server(settings, tmp_path / "server")
    submissions: list[Submission] = []
    lock = threading.Lock()
    stop = threading.Event()
    dropped = [0]
    kills = 0

    def phone(n: int) -> None:
        seed = n * 100_000
        with httpx.Client(base_url=server.base_url, timeout=10) as client:
            while not stop.is_set():
                seed += 1
                sub = Submission(seed, tokens[n], region["template_id"], site.id, answers_for)
                with lock:
                    submissions.append(sub)
                while not stop.is_set():
                    try:
                        if sub.step(client) or sub.surprises:
                            break
                    except httpx.TransportError:  # killed mid-request, or down: retry like a phone
                        with lock:
                            dropped[0] += 1
                        time.sleep(0.05)

    server.start()
    phones = [threading.Thread(target=phone, args=(n,)) for n in range(PHONES)]
    try:
        for t in phones:
            t.start()
        started = time.monotonic()
        while kills < KILLS and (kills < 2 or time.monotonic() - started < BUDGET_SECONDS):
            time.sleep(rng.uniform(0.3, 1.5))
            server.kill()
            kills += 1
            server.start()
        time.sleep(1.0)  # a last stretch of normal work after the final restart
    finally:
        stop.set()
        for t in phones:
            t.join(timeout=30)
        server.kill()  # the last one too: whatever was in flight is cut
    figures = check_store(engine, settings, submissions)
    print(
        f"\ncrash: {kills} kills survived, {figures['attempted']} submissions attempted, "
        f"{figures['acked']} acknowledged, {figures['inspections']} stored, {dropped[0]} requests dropped, "
        f"{figures['duplicates']} duplicates, {figures['lost']} lost, "
        f"{figures['orphan_files_removed']} orphan files and {figures['temp_files_removed']} temp files removed by gc"
    )
    assert figures["surprises"] == []
    assert figures["problems"] == []
    assert figures["acked"] >= PHONES  # the test did real work
