"""Escalation (`inspect-app notify`, once a day): overdue hazards are pushed to the people
responsible, not just listed.

- each officer (with an e-mail address): their district's overdue hazards and those due within
  DUE_WITHIN_DAYS days; nothing is sent to an officer with nothing to report;
- each office user: a city digest — overdue hazards by district, major hazards open longer than
  `escalate_days`, sites overdue for inspection, and every hazard overdue by more than
  `escalate_days` named on its own;
- the group robot (`webhook_url`): the city summary as a markdown message.

One message per recipient per local day: each is recorded in the Notice table (unique on day and
recipient) before it goes and marked sent after; a second run that day sends nothing new, and
what failed (or never got marked) is tried again on the next run. An unreachable SMTP server or
webhook is a NotifyError: nothing is marked sent, and the command exits non-zero.
"""

from __future__ import annotations

import json
import smtplib
import ssl
import urllib.error
import urllib.request
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from html import escape
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo

from sqlalchemy import case, func
from sqlmodel import Session, select

from inspect_app import i18n
from inspect_app.domain import due, hazards
from inspect_app.domain.clock import local_today
from inspect_app.i18n import _
from inspect_app.models import (
    District,
    DueStatus,
    Grade,
    Hazard,
    Notice,
    Role,
    Site,
    User,
)

DUE_WITHIN_DAYS = 3  # an officer hears of hazards due within this many days
MAX_LISTED = 20  # hazards named in one message; the rest are counted
SMTP_TIMEOUT = 30
WEBHOOK_TIMEOUT = 15
WEBHOOK = "webhook"


class NotifyError(Exception):
    """A channel cannot be reached (or is not configured): the run fails, nothing is marked."""


@dataclass(frozen=True)
class NotifyConfig:
    """The settings notify needs, passed in from the command line's Settings."""

    smtp_url: str = ""
    mail_from: str = ""
    webhook_url: str = ""
    escalate_days: int = 7
    default_locale: str = "zh_CN"
    timezone: str = "Asia/Shanghai"

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


# --- what there is to say -----------------------------------------------------------------------


@dataclass
class HazardLine:
    id: int
    site: str
    district: str
    grade: str
    description: str
    deadline: date | None
    created: datetime


@dataclass
class CityFacts:
    """Everything the messages say, gathered in a fixed number of queries."""

    today: date
    districts: dict[int, str]
    overdue_by_district: dict[int, int]
    due_soon_by_district: dict[int, int]
    sites_overdue_by_district: dict[int, int]
    overdue: dict[int, list[HazardLine]] = field(default_factory=dict)  # by district, listed
    due_soon: dict[int, list[HazardLine]] = field(default_factory=dict)
    escalated: list[HazardLine] = field(default_factory=list)
    escalated_total: int = 0
    old_major: list[HazardLine] = field(default_factory=list)
    old_major_total: int = 0

    @property
    def overdue_total(self) -> int:
        return sum(self.overdue_by_district.values())

    @property
    def sites_overdue_total(self) -> int:
        return sum(self.sites_overdue_by_district.values())


def _open():
    return Hazard.status.in_(hazards.OPEN_STATUSES)


def _lines(session: Session, query, districts: dict[int, str], limit: int) -> list[HazardLine]:
    rows = session.exec(query.limit(limit)).all()
    names = dict(
        session.exec(select(Site.id, Site.name).where(Site.id.in_({h.site_id for h in rows}))).all()
    )
    return [
        HazardLine(
            h.id,
            names.get(h.site_id, ""),
            districts.get(h.district_id, ""),
            h.grade,
            h.description,
            h.deadline,
            h.created_at,
        )
        for h in rows
    ]


def _counts(session: Session, *conditions) -> dict[int, int]:
    query = select(Hazard.district_id, func.count()).where(*conditions)
    return dict(session.exec(query.group_by(Hazard.district_id)).all())


def gather(
    session: Session,
    *,
    now: datetime,
    escalate_days: int,
    zone: ZoneInfo,
    district_ids: set[int] | None = None,
) -> CityFacts:
    """The city's facts at `now`; hazards are listed for `district_ids` (the officers' districts)."""
    today = local_today(zone, now)
    districts = dict(session.exec(select(District.id, District.name).order_by(District.code)).all())
    overdue_cond = (_open(), Hazard.deadline < today)
    soon_cond = (
        _open(),
        Hazard.deadline >= today,
        Hazard.deadline <= today + timedelta(days=DUE_WITHIN_DAYS),
    )
    status = due.status_expression(session, now, 0)
    late_sites = (
        select(Site.district_id, func.count())
        .where(Site.is_active.is_(True), status.in_([DueStatus.overdue, DueStatus.never]))
        .group_by(Site.district_id)
    )
    facts = CityFacts(
        today=today,
        districts=districts,
        overdue_by_district=_counts(session, *overdue_cond),
        due_soon_by_district=_counts(session, *soon_cond),
        sites_overdue_by_district=dict(session.exec(late_sites).all()),
    )
    by_deadline = (Hazard.deadline, Hazard.id)
    lists = (
        (facts.overdue, facts.overdue_by_district, overdue_cond),
        (facts.due_soon, facts.due_soon_by_district, soon_cond),
    )
    for did in sorted(district_ids or ()):
        for target, counts, cond in lists:
            if counts.get(did):
                query = select(Hazard).where(Hazard.district_id == did, *cond)
                target[did] = _lines(session, query.order_by(*by_deadline), districts, MAX_LISTED)
    # The city-wide lists are found by (id, sort key) pairs from the open hazards' indexes and
    # sorted here: an ORDER BY would lure the planner into walking the whole deadline or
    # creation index (every hazard of the years), as stats.py explains.
    escalated = (_open(), Hazard.deadline < today - timedelta(days=escalate_days))
    facts.escalated_total, facts.escalated = _top(session, Hazard.deadline, escalated, districts)
    # coalesce(): the creation time filters the open major hazards, it does not pick the index.
    old_major = (
        _open(),
        Hazard.grade == Grade.major,
        func.coalesce(Hazard.created_at, Hazard.created_at) < now - timedelta(days=escalate_days),
    )
    facts.old_major_total, facts.old_major = _top(session, Hazard.created_at, old_major, districts)
    return facts


def _top(session: Session, key, conditions, districts) -> tuple[int, list[HazardLine]]:
    """How many hazards match, and the first MAX_LISTED by `key` (then id)."""
    pairs = session.exec(select(Hazard.id, key).where(*conditions)).all()
    first = sorted(pairs, key=lambda p: (p[1], p[0]))[:MAX_LISTED]
    if not first:
        return len(pairs), []
    query = select(Hazard).where(Hazard.id.in_([i for i, _k in first])).order_by(key, Hazard.id)
    return len(pairs), _lines(session, query, districts, MAX_LISTED)


# --- the messages -------------------------------------------------------------------------------


@dataclass
class Outgoing:
    recipient: str  # user:ID or webhook
    channel: str  # email | webhook
    address: str
    subject: str
    text: str
    html: str = ""
    user: User | None = None
    summary: str = ""  # what the progress line says about it


@contextmanager
def _locale(locale: str):
    token = i18n.current_locale.set(locale)
    try:
        yield
    finally:
        i18n.current_locale.reset(token)


def _grade(grade: str) -> str:
    return _("Major") if grade == Grade.major else _("General")


def _hazard_text(h: HazardLine, today: date) -> str:
    late = (
        " " + _("({n} days overdue)").format(n=(today - h.deadline).days)
        if h.deadline and h.deadline < today
        else ""
    )
    deadline = h.deadline.isoformat() if h.deadline else "—"
    return (
        f"#{h.id} {h.site}（{h.district}） · {_grade(h.grade)} · {h.description} · "
        + _("deadline {day}").format(day=deadline)
        + late
    )


def _section(title: str, lines: list[str], more: int = 0) -> tuple[str, str]:
    """A titled list as (text, html)."""
    if more > 0:
        lines = [*lines, _("… and {n} more").format(n=more)]
    text = f"{title}\n" + "\n".join(f"- {line}" for line in lines) + "\n"
    html = f"<h3>{escape(title)}</h3><ul>" + "".join(f"<li>{escape(x)}</li>" for x in lines)
    return text, html + "</ul>"


def _join(parts: list[tuple[str, str]], intro: str) -> tuple[str, str]:
    text = intro + "\n\n" + "\n".join(t for t, _h in parts)
    body = "".join(h for _t, h in parts)
    html = (
        '<!doctype html><html><body style="font-family: sans-serif">'
        f"<p>{escape(intro)}</p>{body}</body></html>"
    )
    return text, html


def officer_message(user: User, facts: CityFacts) -> Outgoing | None:
    did = user.district_id
    overdue, soon = facts.overdue.get(did, []), facts.due_soon.get(did, [])
    n_overdue = facts.overdue_by_district.get(did, 0)
    n_soon = facts.due_soon_by_district.get(did, 0)
    if not n_overdue and not n_soon:
        return None
    district = facts.districts.get(did, "")
    parts = []
    if n_overdue:
        parts.append(
            _section(
                _("Overdue hazards ({n})").format(n=n_overdue),
                [_hazard_text(h, facts.today) for h in overdue],
                n_overdue - len(overdue),
            )
        )
    if n_soon:
        parts.append(
            _section(
                _("Due within {days} days ({n})").format(days=DUE_WITHIN_DAYS, n=n_soon),
                [_hazard_text(h, facts.today) for h in soon],
                n_soon - len(soon),
            )
        )
    intro = _(
        "{district}, {day}: {overdue} overdue hazards, {soon} due within {days} days."
    ).format(
        district=district,
        day=facts.today.isoformat(),
        overdue=n_overdue,
        soon=n_soon,
        days=DUE_WITHIN_DAYS,
    )
    text, html = _join(parts, intro)
    return Outgoing(
        recipient=f"user:{user.id}",
        channel="email",
        address=user.email or "",
        subject=_("Hazards to follow up in {district} ({day})").format(
            district=district, day=facts.today.isoformat()
        ),
        text=text,
        html=html,
        user=user,
        summary=_("{overdue} overdue, {soon} due soon").format(overdue=n_overdue, soon=n_soon),
    )


def _city_parts(facts: CityFacts, escalate_days: int) -> tuple[str, list[tuple[str, str]]]:
    intro = _(
        "{day}: {overdue} overdue hazards, {escalated} overdue by more than {days} days, "
        "{major} major hazards open longer than {days} days, {sites} sites overdue for inspection."
    ).format(
        day=facts.today.isoformat(),
        overdue=facts.overdue_total,
        escalated=facts.escalated_total,
        major=facts.old_major_total,
        days=escalate_days,
        sites=facts.sites_overdue_total,
    )
    rows = [
        _("{district}: {overdue} overdue hazards, {sites} sites overdue for inspection").format(
            district=name,
            overdue=facts.overdue_by_district.get(did, 0),
            sites=facts.sites_overdue_by_district.get(did, 0),
        )
        for did, name in facts.districts.items()
    ]
    parts = [_section(_("By district"), rows)]
    if facts.escalated_total:
        parts.append(
            _section(
                _("Escalated: overdue by more than {days} days ({n})").format(
                    days=escalate_days, n=facts.escalated_total
                ),
                [_hazard_text(h, facts.today) for h in facts.escalated],
                facts.escalated_total - len(facts.escalated),
            )
        )
    if facts.old_major_total:
        parts.append(
            _section(
                _("Major hazards open longer than {days} days ({n})").format(
                    days=escalate_days, n=facts.old_major_total
                ),
                [_hazard_text(h, facts.today) for h in facts.old_major],
                facts.old_major_total - len(facts.old_major),
            )
        )
    return intro, parts


def office_message(user: User, facts: CityFacts, escalate_days: int) -> Outgoing:
    intro, parts = _city_parts(facts, escalate_days)
    text, html = _join(parts, intro)
    return Outgoing(
        recipient=f"user:{user.id}",
        channel="email",
        address=user.email or "",
        subject=_("City hazard digest ({day})").format(day=facts.today.isoformat()),
        text=text,
        html=html,
        user=user,
        summary=_("{overdue} overdue, {escalated} escalated").format(
            overdue=facts.overdue_total, escalated=facts.escalated_total
        ),
    )


def webhook_payload(title: str, markdown: str) -> dict:
    """The markdown message of a group robot: WeCom reads markdown.content, DingTalk
    markdown.title and markdown.text; each ignores the other's keys."""
    return {
        "msgtype": "markdown",
        "markdown": {"title": title, "text": markdown, "content": markdown},
    }


def webhook_message(facts: CityFacts, escalate_days: int) -> Outgoing:
    intro, parts = _city_parts(facts, escalate_days)
    title = _("City hazard digest ({day})").format(day=facts.today.isoformat())
    markdown = f"### {title}\n\n{intro}\n\n" + "\n".join(t for t, _h in parts)
    return Outgoing(
        recipient=WEBHOOK,
        channel="webhook",
        address="",
        subject=title,
        text=json.dumps(webhook_payload(title, markdown), ensure_ascii=False),
        summary=_("{overdue} overdue, {escalated} escalated").format(
            overdue=facts.overdue_total, escalated=facts.escalated_total
        ),
    )


# --- the channels -------------------------------------------------------------------------------


class Mailer:
    """One SMTP connection for a run: smtp://[user:password@]host[:25] (STARTTLS when the server
    offers it) or smtps://[user:password@]host[:465]."""

    def __init__(self, url: str, mail_from: str):
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise NotifyError(
                _("INSPECT_SMTP_URL must look like smtp://user:password@host:587 or smtps://…")
            )
        if not mail_from:
            raise NotifyError(_("INSPECT_MAIL_FROM is not set."))
        self.parts, self.mail_from = parts, mail_from
        self.where = f"{parts.hostname}:{parts.port or (465 if parts.scheme == 'smtps' else 25)}"
        self.smtp: smtplib.SMTP | None = None

    def __enter__(self) -> Mailer:
        p = self.parts
        try:
            if p.scheme == "smtps":
                self.smtp = smtplib.SMTP_SSL(
                    p.hostname,
                    p.port or 465,
                    timeout=SMTP_TIMEOUT,
                    context=ssl.create_default_context(),
                )
            else:
                self.smtp = smtplib.SMTP(p.hostname, p.port or 25, timeout=SMTP_TIMEOUT)
                self.smtp.ehlo()
                if self.smtp.has_extn("starttls"):
                    self.smtp.starttls(context=ssl.create_default_context())
                    self.smtp.ehlo()
            if p.username:
                self.smtp.login(unquote(p.username), unquote(p.password or ""))
        except (OSError, smtplib.SMTPException) as exc:
            raise NotifyError(
                _("Cannot reach the SMTP server {where}: {error}").format(
                    where=self.where, error=exc
                )
            ) from exc
        return self

    def __exit__(self, *exc_info) -> None:
        if self.smtp is not None:
            try:
                self.smtp.quit()
            except (OSError, smtplib.SMTPException):
                pass

    def send(self, out: Outgoing) -> None:
        msg = EmailMessage()
        msg["From"] = self.mail_from
        msg["To"] = formataddr((out.user.display_name if out.user else "", out.address))
        msg["Subject"] = out.subject
        msg["Message-ID"] = make_msgid(domain=self.parts.hostname)
        msg.set_content(out.text)
        msg.add_alternative(out.html, subtype="html")
        try:
            self.smtp.send_message(msg)
        except (OSError, smtplib.SMTPException) as exc:
            raise NotifyError(
                _("The SMTP server {where} refused the message: {error}").format(
                    where=self.where, error=exc
                )
            ) from exc


def post_webhook(url: str, out: Outgoing) -> None:
    """POST the robot message; the robots answer HTTP 200 with {"errcode": 0} when they take it."""
    request = urllib.request.Request(
        url,
        data=out.text.encode("utf-8"),
        headers={"Content-Type": "application/json; charset=utf-8"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT) as response:
            body = response.read(65536)
    except (OSError, urllib.error.URLError) as exc:
        raise NotifyError(
            _("Cannot reach the webhook {host}: {error}").format(
                host=urlsplit(url).hostname, error=exc
            )
        ) from exc
    try:
        answer = json.loads(body or b"{}")
    except ValueError:
        answer = {}
    if isinstance(answer, dict) and answer.get("errcode", 0) != 0:
        raise NotifyError(
            _("The webhook refused the message: {error}").format(
                error=answer.get("errmsg", answer.get("errcode"))
            )
        )


# --- the run ------------------------------------------------------------------------------------


@dataclass
class RunSummary:
    day: date
    sent: int = 0
    failed: int = 0
    already: int = 0
    without_email: int = 0
    nothing: int = 0
    planned: int = 0
    errors: list[str] = field(default_factory=list)

    def line(self, dry_run: bool) -> str:
        if dry_run:
            return _(
                "notify {day} (dry run): {n} messages would go, {already} already sent today, "
                "{noemail} users without e-mail, {nothing} with nothing to report."
            ).format(
                day=self.day.isoformat(),
                n=self.planned,
                already=self.already,
                noemail=self.without_email,
                nothing=self.nothing,
            )
        return _(
            "notify {day}: {sent} sent, {failed} failed, {already} already sent today, "
            "{noemail} users without e-mail, {nothing} with nothing to report."
        ).format(
            day=self.day.isoformat(),
            sent=self.sent,
            failed=self.failed,
            already=self.already,
            noemail=self.without_email,
            nothing=self.nothing,
        )


def _recipients(session: Session) -> list[User]:
    return list(
        session.exec(
            select(User)
            .where(User.is_active.is_(True), User.role.in_((Role.officer, Role.office)))
            .order_by(User.role, User.district_id, User.username)
        ).all()
    )


def compose(
    session: Session, config: NotifyConfig, now: datetime, summary: RunSummary
) -> list[Outgoing]:
    """Every message of the day, each in its recipient's language."""
    users = _recipients(session)
    with_email = [u for u in users if u.email]
    summary.without_email = len(users) - len(with_email)
    officers = [u for u in with_email if u.role == Role.officer and u.district_id is not None]
    facts = gather(
        session,
        now=now,
        escalate_days=config.escalate_days,
        zone=config.zone,
        district_ids={u.district_id for u in officers},
    )
    out: list[Outgoing] = []
    for user in with_email:
        with _locale(user.locale or config.default_locale):
            if user.role == Role.office:
                out.append(office_message(user, facts, config.escalate_days))
            elif user in officers:
                message = officer_message(user, facts)
                if message is None:
                    summary.nothing += 1
                else:
                    out.append(message)
    if config.webhook_url:
        with _locale(config.default_locale):
            out.append(webhook_message(facts, config.escalate_days))
    return out


def _record(session: Session, day: date, out: Outgoing) -> Notice:
    notice = session.exec(
        select(Notice).where(Notice.day == day, Notice.recipient == out.recipient)
    ).first()
    if notice is None:
        notice = Notice(day=day, recipient=out.recipient, channel=out.channel)
    notice.user_id = out.user.id if out.user else None
    notice.address, notice.subject = out.address[:300], out.subject[:300]
    notice.status = "pending"
    notice.attempts += 1
    session.add(notice)
    session.commit()
    return notice


def _mark(session: Session, notice: Notice, error: str | None, now: datetime) -> None:
    notice.status = "failed" if error else "sent"
    notice.error = (error or "")[:1000]
    notice.sent_at = None if error else now
    session.add(notice)
    session.commit()


def run(
    session: Session,
    config: NotifyConfig,
    *,
    now: datetime,
    dry_run: bool = False,
    say: Callable[[str], None] = print,
) -> RunSummary:
    """Send the day's messages not yet sent; returns the summary (errors listed in it)."""
    day = local_today(config.zone, now)
    summary = RunSummary(day)
    outgoing = compose(session, config, now, summary)
    done = set(
        session.exec(
            select(Notice.recipient).where(Notice.day == day, Notice.status == "sent")
        ).all()
    )
    pending = [o for o in outgoing if o.recipient not in done]
    summary.already = len(outgoing) - len(pending)
    summary.planned = len(pending)
    total = len(pending)
    if dry_run:
        for n, o in enumerate(pending, 1):
            say(
                f"[{n}/{total}] "
                + _("would send to {to}: {subject} — {what}").format(
                    to=o.address or o.recipient, subject=o.subject, what=o.summary
                )
            )
        return summary
    mails = [o for o in pending if o.channel == "email"]
    hooks = [o for o in pending if o.channel == "webhook"]
    position = 0

    def deliver(o: Outgoing, send: Callable[[Outgoing], None]) -> None:
        nonlocal position
        position += 1
        notice = _record(session, day, o)
        try:
            send(o)
        except NotifyError as exc:
            _mark(session, notice, str(exc), now)
            summary.failed += 1
            summary.errors.append(str(exc))
            say(
                f"[{position}/{total}] "
                + _("FAILED {to}: {error}").format(to=o.address or o.recipient, error=exc)
            )
            return
        _mark(session, notice, None, now)
        summary.sent += 1
        say(
            f"[{position}/{total}] "
            + _("sent to {to}: {what}").format(to=o.address or o.recipient, what=o.summary)
        )

    if mails:
        try:
            with Mailer(config.smtp_url, config.mail_from) as mailer:
                for o in mails:
                    deliver(o, mailer.send)
        except NotifyError as exc:  # cannot connect: every mail of the run failed
            for o in mails[position:]:
                position += 1
                _mark(session, _record(session, day, o), str(exc), now)
                summary.failed += 1
            summary.errors.append(str(exc))
            say(str(exc))
    for o in hooks:
        deliver(o, lambda out: post_webhook(config.webhook_url, out))
    return summary


# --- what needs attention (home pages, admin) ---------------------------------------------------


def failed_notices(session: Session, limit: int = 50) -> list[Notice]:
    """Messages whose last attempt failed and that no later message to the same recipient
    replaced: what the admin should look at."""
    latest = (
        select(Notice.recipient, func.max(Notice.day).label("day")).group_by(Notice.recipient)
    ).subquery()
    return list(
        session.exec(
            select(Notice)
            .join(latest, (latest.c.recipient == Notice.recipient) & (latest.c.day == Notice.day))
            .where(Notice.status != "sent")
            .order_by(Notice.day.desc(), Notice.id)
            .limit(limit)
        ).all()
    )


@dataclass
class AttentionItem:
    label: str
    count: int
    link: str


def attention(
    session: Session,
    user: User,
    *,
    now: datetime,
    soon_days: int,
    escalate_days: int,
    zone: ZoneInfo,
    planned: int = 0,
) -> list[AttentionItem]:
    """The counts a user's home page leads with: what needs them now (zero counts left out).
    `planned`: the pending sites of the user's running plans (domain/plans.py)."""
    today = local_today(zone, now)
    items: list[AttentionItem] = []
    if user.role == Role.inspector:
        status = due.status_expression(session, now, soon_days)
        # Summed CASEs, not GROUP BY the status: PostgreSQL cannot match a parameterised
        # expression in GROUP BY with the same one in SELECT.
        wanted = (DueStatus.overdue, DueStatus.never, DueStatus.due_soon)
        sums = session.exec(
            select(*[func.sum(case((status == s.value, 1), else_=0)) for s in wanted]).where(
                Site.is_active.is_(True), Site.district_id == (user.district_id or -1)
            )
        ).one()
        counts = {s: n or 0 for s, n in zip(wanted, sums)}
        items = [
            AttentionItem(_("Sites in your plans to inspect"), planned, "/plans"),
            AttentionItem(
                _("Sites overdue for inspection"),
                counts.get(DueStatus.overdue, 0) + counts.get(DueStatus.never, 0),
                "/inspections/new",
            ),
            AttentionItem(
                _("Sites due within {n} days").format(n=soon_days),
                counts.get(DueStatus.due_soon, 0),
                "/inspections/new",
            ),
        ]
    else:
        district = (
            [Hazard.district_id == (user.district_id or -1)] if user.role == Role.officer else []
        )
        overdue = session.exec(
            select(func.count()).where(_open(), Hazard.deadline < today, *district)
        ).one()
        soon = session.exec(
            select(func.count()).where(
                _open(),
                Hazard.deadline >= today,
                Hazard.deadline <= today + timedelta(days=DUE_WITHIN_DAYS),
                *district,
            )
        ).one()
        items = [
            AttentionItem(_("Overdue hazards"), overdue, "/hazards?overdue=true"),
            AttentionItem(
                _("Hazards due within {n} days").format(n=DUE_WITHIN_DAYS),
                soon,
                "/hazards?status=open",
            ),
        ]
        if user.role in (Role.office, Role.admin):
            escalated = session.exec(
                select(func.count()).where(
                    _open(), Hazard.deadline < today - timedelta(days=escalate_days)
                )
            ).one()
            items.append(
                AttentionItem(
                    _("Overdue by more than {n} days").format(n=escalate_days),
                    escalated,
                    "/hazards?overdue=true",
                )
            )
        if user.role == Role.admin:
            items.append(
                AttentionItem(
                    _("Notices that failed"), len(failed_notices(session)), "/admin#notices"
                )
            )
    return [i for i in items if i.count]
