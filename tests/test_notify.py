"""`inspect-app notify`: a real SMTP server (aiosmtpd) and a local HTTP receiver stand in for
the mail relay and the group robot; the clock moves through the clock module."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from datetime import UTC, date, datetime, timedelta
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from zoneinfo import ZoneInfo

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from sqlmodel import select

from inspect_app import i18n
from inspect_app.domain import clock, hazards, notify
from inspect_app.models import Hazard, Notice, Site
from tests.clients import form_token
from tests.factories import PASSWORD

NOW = datetime(2026, 11, 20, 0, 30, tzinfo=UTC)  # 08:30 in Asia/Shanghai, a Friday
TODAY = date(2026, 11, 20)
ZONE = ZoneInfo("Asia/Shanghai")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Inbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(
            (envelope.rcpt_tos, message_from_bytes(envelope.content, policy=policy.default))
        )
        return "250 OK"


@pytest.fixture
def smtp():
    """A real SMTP server on 127.0.0.1 that wants user 'relay' / password 'p@ss word'."""
    inbox = Inbox()

    def authenticate(server, session, envelope, mechanism, auth_data):
        ok = auth_data.login == b"relay" and auth_data.password == b"p@ss word"
        return AuthResult(success=ok)

    port = free_port()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        authenticator=authenticate,
        auth_require_tls=False,
    )
    controller.start()
    inbox.url = f"smtp://relay:p%40ss%20word@127.0.0.1:{port}"
    yield inbox
    controller.stop()


@pytest.fixture
def robot():
    """A group robot: records each POSTed JSON and answers as WeCom and DingTalk do."""
    received, answer = [], {"errcode": 0, "errmsg": "ok"}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["content-length"]))
            received.append((self.headers["content-type"], json.loads(body)))
            data = json.dumps(robot.answer).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    robot.answer = answer
    robot.received = received
    robot.url = f"http://127.0.0.1:{server.server_port}/cgi-bin/webhook/send?key=k"
    yield robot
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def english():
    """The run's own messages (errors, progress) in English; each mail in its recipient's."""
    token = i18n.current_locale.set("en")
    yield
    i18n.current_locale.reset(token)


def hazard(session, region, reporter, site_index: int, **values) -> Hazard:
    """A hazard on a site, then moved to the state the test needs (its deadline)."""
    site = region["sites"][site_index]
    h = hazards.create_hazard(
        session,
        reporter=reporter,
        site=site,
        grade=values.pop("grade", "general"),
        description=values.pop("description", "消防通道堵塞"),
        now=values.pop("created_at", NOW - timedelta(days=20)),
    )
    for key, value in {"status": "rectifying", **values}.items():
        setattr(h, key, value)
    session.add(h)
    session.commit()
    return h


@pytest.fixture
def city(session, region, make_user):
    inspector = make_user("inspector", "蒸湘区")
    officer = make_user("officer", "蒸湘区")
    officer.email, officer.locale = "officer@zx.example.cn", "zh_CN"
    quiet = make_user("officer", "珠晖区")
    quiet.email = "quiet@zh.example.cn"  # nothing overdue in 珠晖区: no mail
    silent = make_user("officer", "蒸湘区")  # no e-mail address
    office = make_user("office")
    office.email, office.locale = "office@city.example.cn", "en"
    for u in (officer, quiet, office):
        session.add(u)
    session.commit()
    late = hazard(session, region, inspector, 0, deadline=TODAY - timedelta(days=2))
    very_late = hazard(
        session, region, inspector, 1, deadline=TODAY - timedelta(days=12), description="配电箱损坏"
    )
    soon = hazard(session, region, inspector, 0, deadline=TODAY + timedelta(days=2))
    later = hazard(session, region, inspector, 0, deadline=TODAY + timedelta(days=9))
    major = hazard(session, region, inspector, 1, grade="major", status="reported")
    closed = hazard(
        session, region, inspector, 0, deadline=TODAY - timedelta(days=30), status="accepted"
    )
    return {
        "officer": officer,
        "quiet": quiet,
        "silent": silent,
        "office": office,
        "late": late,
        "very_late": very_late,
        "soon": soon,
        "later": later,
        "major": major,
        "closed": closed,
    }


def config(smtp, robot, **extra) -> notify.NotifyConfig:
    return notify.NotifyConfig(
        smtp_url=smtp.url,
        mail_from="Inspect <inspect@city.example.cn>",
        webhook_url=robot.url,
        escalate_days=7,
        **extra,
    )


def parts(message) -> dict[str, str]:
    return {p.get_content_type(): p.get_content() for p in message.walk() if not p.is_multipart()}


def test_officer_office_and_robot_get_one_message_a_day(session, city, smtp, robot):
    lines = []
    summary = notify.run(session, config(smtp, robot), now=NOW, say=lines.append)
    assert (summary.sent, summary.failed, summary.errors) == (3, 0, [])
    assert summary.without_email == 1 and summary.nothing == 1
    assert len(lines) == 3 and lines[0].startswith("[1/3]")

    mails = {to[0]: m for to, m in smtp.messages}
    assert set(mails) == {"officer@zx.example.cn", "office@city.example.cn"}
    officer = mails["officer@zx.example.cn"]
    assert "蒸湘区" in officer["Subject"] and officer["From"] == "Inspect <inspect@city.example.cn>"
    body = parts(officer)
    assert set(body) == {"text/plain", "text/html"}
    text = body["text/plain"]
    for h in (city["late"], city["very_late"], city["soon"]):
        assert f"#{h.id} " in text
    for h in (city["later"], city["closed"]):
        assert f"#{h.id} " not in text  # not due within 3 days; accepted
    assert "逾期" in text  # the officer's language
    assert "<li>" in body["text/html"] and "配电箱损坏" in body["text/html"]

    office = parts(mails["office@city.example.cn"])["text/plain"]
    assert mails["office@city.example.cn"]["Subject"].startswith("City hazard digest")
    assert "Escalated: overdue by more than 7 days (1)" in office
    assert f"#{city['very_late'].id} " in office  # named on its own
    assert f"#{city['major'].id} " in office  # a major hazard open for 20 days
    assert "蒸湘区: 2 overdue hazards" in office

    ((content_type, payload),) = robot.received
    assert content_type.startswith("application/json")
    assert payload["msgtype"] == "markdown"
    assert payload["markdown"]["content"] == payload["markdown"]["text"]
    assert payload["markdown"]["title"] and "蒸湘区" in payload["markdown"]["content"]

    # A second run the same day sends nothing new.
    again = notify.run(session, config(smtp, robot), now=NOW + timedelta(hours=3), say=lines.append)
    assert (again.sent, again.already) == (0, 3)
    assert len(smtp.messages) == 2 and len(robot.received) == 1
    # The next day is another day.
    notify.run(session, config(smtp, robot), now=NOW + timedelta(days=1), say=lines.append)
    assert len(smtp.messages) == 4 and len(robot.received) == 2
    rows = session.exec(select(Notice).order_by(Notice.id)).all()
    assert [(r.day, r.status) for r in rows] == [(TODAY, "sent")] * 3 + [
        (TODAY + timedelta(days=1), "sent")
    ] * 3


def test_unreachable_smtp_marks_nothing_sent_and_the_next_run_retries(session, city, smtp, robot):
    closed = f"smtp://127.0.0.1:{free_port()}"
    cfg = config(smtp, robot)
    broken = notify.NotifyConfig(**{**cfg.__dict__, "smtp_url": closed})
    summary = notify.run(session, broken, now=NOW, say=lambda _line: None)
    assert summary.failed == 2 and summary.sent == 1  # the robot still got the summary
    assert "Cannot reach the SMTP server 127.0.0.1" in summary.errors[0]
    statuses = {n.recipient: n.status for n in session.exec(select(Notice)).all()}
    assert statuses == {
        f"user:{city['officer'].id}": "failed",
        f"user:{city['office'].id}": "failed",
        "webhook": "sent",
    }
    assert len(notify.failed_notices(session)) == 2
    retry = notify.run(session, cfg, now=NOW + timedelta(hours=1), say=lambda _line: None)
    assert (retry.sent, retry.failed, retry.already) == (2, 0, 1)
    assert len(smtp.messages) == 2 and len(robot.received) == 1
    assert notify.failed_notices(session) == []
    attempts = {n.recipient: n.attempts for n in session.exec(select(Notice)).all()}
    assert attempts[f"user:{city['office'].id}"] == 2


def test_webhook_failures(session, city, smtp, robot):
    robot.answer = {"errcode": 93000, "errmsg": "invalid webhook url"}
    summary = notify.run(session, config(smtp, robot), now=NOW, say=lambda _line: None)
    assert summary.failed == 1 and "invalid webhook url" in summary.errors[0]
    unreachable = notify.NotifyConfig(
        **{**config(smtp, robot).__dict__, "webhook_url": f"http://127.0.0.1:{free_port()}/x"}
    )
    summary = notify.run(session, unreachable, now=NOW, say=lambda _line: None)
    assert summary.failed == 1 and "Cannot reach the webhook 127.0.0.1" in summary.errors[0]
    webhook = session.exec(select(Notice).where(Notice.recipient == "webhook")).one()
    assert webhook.status == "failed" and webhook.attempts == 2


def test_dry_run_sends_and_records_nothing(session, city, smtp, robot):
    lines = []
    summary = notify.run(session, config(smtp, robot), now=NOW, dry_run=True, say=lines.append)
    assert summary.planned == 3 and len(lines) == 3
    assert any("officer@zx.example.cn" in line for line in lines)
    assert "dry run" in summary.line(True)
    assert smtp.messages == [] and robot.received == []
    assert session.exec(select(Notice)).all() == []


def test_bad_smtp_url_is_a_clear_error(session, city, robot):
    cfg = notify.NotifyConfig(smtp_url="mail.example.cn", mail_from="x@example.cn")
    summary = notify.run(session, cfg, now=NOW, say=lambda _line: None)
    assert summary.sent == 0 and "INSPECT_SMTP_URL" in summary.errors[0]


def test_cli_notify_exits_non_zero_when_smtp_is_down(tmp_path, smtp, robot):
    """The command as cron runs it: its own database, settings from the environment."""
    env = {
        **os.environ,
        "INSPECT_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
        "INSPECT_UPLOAD_DIR": str(tmp_path / "up"),
        "INSPECT_SMTP_URL": f"smtp://127.0.0.1:{free_port()}",
        "INSPECT_MAIL_FROM": "inspect@city.example.cn",
        "INSPECT_WEBHOOK_URL": robot.url,
        "LANG": "en_US.UTF-8",
    }

    def cli(*args, stdin=None):
        return subprocess.run(
            [sys.executable, "-m", "inspect_app.cli", *args],
            env=env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
        )

    added = cli(
        "user",
        "add",
        "office1",
        "--role",
        "office",
        "--email",
        "o@city.example.cn",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    assert added.returncode == 0 and "<o@city.example.cn>" in added.stdout
    bad = cli(
        "user",
        "add",
        "office2",
        "--role",
        "office",
        "--email",
        "nope",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    assert bad.returncode != 0 and "e-mail" in bad.stderr
    dry = cli("notify", "--dry-run")
    assert dry.returncode == 0 and "would send to o@city.example.cn" in dry.stdout
    assert "(dry run)" in dry.stdout
    down = cli("notify")
    assert down.returncode != 0
    assert "Cannot reach the SMTP server" in down.stderr
    assert "1 sent, 1 failed" in down.stdout  # the robot's summary went; the mail did not
    env["INSPECT_SMTP_URL"] = smtp.url
    up = cli("notify")
    assert up.returncode == 0, up.stderr
    assert "1 sent, 0 failed, 1 already sent today" in up.stdout
    assert [to for to, _m in smtp.messages] == [["o@city.example.cn"]]


def test_site_overdue_counts_in_the_digest(session, city, smtp, robot):
    for site in session.exec(select(Site)).all():
        site.last_inspected_at = NOW - timedelta(days=1)
    session.commit()
    facts = notify.gather(session, now=NOW, escalate_days=7, zone=ZONE)
    assert facts.sites_overdue_total == 0
    facts = notify.gather(session, now=NOW + timedelta(days=95), escalate_days=7, zone=ZONE)
    assert facts.sites_overdue_total == 3


def test_home_pages_lead_with_what_needs_attention(
    session, city, login_as, robot, region, monkeypatch
):
    monkeypatch.setattr(clock, "now", lambda: NOW)  # the pages count at the clock module's now
    c, _ = login_as("inspector", "蒸湘区")
    home = c.get("/inspections").text
    assert "attention" in home and "<strong>2</strong>" in home  # two sites never inspected
    officer, _ = login_as("officer", "蒸湘区")
    page = officer.get("/hazards").text
    assert 'href="/hazards?overdue=true"><strong>2</strong>' in page
    office, _ = login_as("office")
    dashboard = office.get("/dashboard").text
    assert 'href="/hazards?overdue=true"><strong>2</strong>' in dashboard
    assert "plans-running" in dashboard
    # The admin sees what failed to go.
    broken = notify.NotifyConfig(smtp_url=f"smtp://127.0.0.1:{free_port()}", mail_from="a@b.cn")
    notify.run(session, broken, now=NOW, say=lambda _line: None)
    admin, _ = login_as("admin")
    page = admin.get("/admin").text
    assert 'id="notices"' in page and "officer@zx.example.cn" in page
    assert "Connection refused" in page or "111" in page


def test_admin_sets_an_email_address(session, login_as, make_user, region):
    admin, _ = login_as("admin")
    target = make_user("officer", "蒸湘区")
    page = admin.get(f"/admin/users/{target.id}")
    token = form_token(page.text)
    form = {"csrftoken": token, "role": "officer", "district": "蒸湘区", "display_name": "王科长"}
    r = admin.post(
        f"/admin/users/{target.id}",
        data={**form, "email": "wang@zx.example.cn"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    session.refresh(target)
    assert target.email == "wang@zx.example.cn"
    bad = admin.post(f"/admin/users/{target.id}", data={**form, "email": "wang at zx"})
    assert bad.status_code == 422
    session.refresh(target)
    assert target.email == "wang@zx.example.cn"
