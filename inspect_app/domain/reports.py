"""Weekly reports (周报): which week and district a user may ask for, the archive of finished
weeks, and the PDF itself.

The figures come from inspect_app.domain.stats, the same functions as the dashboard and the
stats API, so that the printed report and the screen never disagree. A finished week's report
is stored (object reports/<sha256>.pdf in the storage, row in Report) with the hash of everything the report
reads; it is served again byte for byte until that hash changes (late data for the week).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, is_dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from inspect_app.config import Settings
from inspect_app.domain import access, report_pdf
from inspect_app.domain.clock import local_today, start_of_day
from inspect_app.domain.errors import Forbidden, Invalid, NotFound
from inspect_app.domain.sites import resolve_district
from inspect_app.domain.storage import for_settings
from inspect_app.i18n import _
from inspect_app.models import District, Report, Role, User, utcnow

# Bump when the layout or the contents change, so that stored reports are made again.
REVISION = "2"  # 2: coverage of late-registered sites, status at the period end, plans
RECENT_WEEKS = 12
WEEK_RE = re.compile(r"^(\d{4})-W(\d{1,2})$")


# --- weeks -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Week:
    """An ISO week (Monday to Sunday) of the city's calendar."""

    year: int
    number: int

    @property
    def label(self) -> str:
        return f"{self.year}-W{self.number:02d}"

    @property
    def start(self) -> date:
        return date.fromisocalendar(self.year, self.number, 1)

    @property
    def end(self) -> date:
        return self.start + timedelta(days=6)

    def previous(self) -> Week:
        return week_of(self.start - timedelta(days=7))


def week_of(day: date) -> Week:
    iso = day.isocalendar()
    return Week(iso.year, iso.week)


def parse_week(text: str) -> Week:
    """'2026-W47' -> Week. Malformed text is 422; a week number the year does not have is 404."""
    match = WEEK_RE.match(text.strip())
    if not match:
        raise Invalid(_("A week is written like 2026-W47 (year, W, ISO week number)."))
    year, number = int(match.group(1)), int(match.group(2))
    try:
        date.fromisocalendar(year, number, 1)
    except ValueError:
        last = date(year, 12, 28).isocalendar().week if 1 <= year <= 9998 else 52
        raise NotFound(
            _("There is no week {week}: {year} has weeks 1 to {last}.").format(
                week=text.strip(), year=year, last=last
            )
        ) from None
    return Week(year, number)


# --- what a user may ask for -------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """One report: a week (up to `until`, which is before its Sunday only for the current
    week, reported "so far") for the whole city (district None) or one district."""

    week: Week
    district: District | None
    until: date
    zone: ZoneInfo  # the city's calendar, in which the week's days are local days

    @property
    def finished(self) -> bool:
        return self.until == self.week.end

    def bounds_utc(self) -> tuple[datetime, datetime]:
        """The UTC instants the period starts and ends (exclusive)."""
        return (
            start_of_day(self.week.start, self.zone),
            start_of_day(self.until + timedelta(days=1), self.zone),
        )


def check_request(
    session: Session,
    user: User | None,
    week_text: str,
    district_ref: str | int | None,
    *,
    zone: ZoneInfo,
    today: date | None = None,
) -> Target:
    """Validate a report request. user None is the command line (the whole city).

    Office and admin: the city or any district. Officers: only their own district (the city
    report is 403). Inspectors: 403. A week that has not begun yet is 422; the current week is
    allowed and covers Monday up to today.
    """
    if user is not None and user.role not in (Role.officer, Role.office, Role.admin):
        raise Forbidden(_("Reports are for district officers and the safety office."))
    week = parse_week(week_text)
    district = resolve_district(session, district_ref)
    if user is not None and user.role == Role.officer:
        if district is None:
            raise Forbidden(
                _("The city report is for the safety office; ask for your district's report.")
            )
        if not access.can_see_district(user, district.id):
            raise Forbidden(_("You may only download your own district's report."))
    today = today or local_today(zone)
    if week.start > today:
        raise Invalid(_("The week {week} has not begun yet.").format(week=week.label))
    return Target(week=week, district=district, until=min(week.end, today), zone=zone)


def filename(target: Target) -> str:
    scope = target.district.code if target.district else "city"
    return f"weekly-{target.week.label}-{scope}.pdf"


# --- archive -------------------------------------------------------------------------------


def report_key(sha256: str) -> str:
    return f"reports/{sha256}.pdf"


def _jsonable(value: Any) -> Any:
    if is_dataclass(value):
        return asdict(value)
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return str(value)


def data_version(data: dict[str, Any]) -> str:
    """The hash of everything the report prints (and the layout revision): a late inspection,
    a newly accepted hazard or a changed plan for that week changes it; the clock does not."""
    blob = json.dumps(
        {"revision": REVISION, "data": data}, sort_keys=True, default=_jsonable, ensure_ascii=False
    )
    return hashlib.sha256(blob.encode()).hexdigest()


def _stored(
    session: Session, settings: Settings, target: Target, version: str
) -> tuple[Report, bytes] | None:
    district_id = target.district.id if target.district else None
    report = session.exec(
        select(Report)
        .where(
            Report.week == target.week.label,
            Report.district_id == district_id,
            Report.data_version == version,
        )
        .order_by(Report.created_at.desc(), Report.id.desc())
    ).first()
    if report is None:
        return None
    try:
        content = for_settings(settings).read(report_key(report.sha256))
    except OSError:
        return None
    if hashlib.sha256(content).hexdigest() != report.sha256:
        return None
    return report, content


def weekly_report(
    session: Session,
    settings: Settings,
    target: Target,
    *,
    user: User | None = None,
    now: datetime | None = None,
) -> tuple[bytes, Report | None]:
    """The PDF for a checked target, and its archive row when the week is finished.

    A finished week is served from the archive while its data version is unchanged; otherwise
    it is made, stored and recorded (one commit). The current week is made on every request.
    """
    data = report_pdf.gather(session, settings, target)
    version = data_version(data)
    if target.finished and (found := _stored(session, settings, target, version)):
        return found[1], found[0]
    content = report_pdf.render(settings, target, data, now=now or utcnow())
    if not target.finished:
        return content, None
    sha = hashlib.sha256(content).hexdigest()
    for_settings(settings).write(report_key(sha), lambda fh: fh.write(content))
    report = Report(
        week=target.week.label,
        district_id=target.district.id if target.district else None,
        data_version=version,
        sha256=sha,
        size=len(content),
        created_by=user.id if user else None,
        created_at=now or utcnow(),
    )
    session.add(report)
    session.commit()
    return content, report


def _visible_reports(user: User):
    query = select(Report)
    scope = access.district_scope(user)
    if scope is not None:
        query = query.where(Report.district_id == scope)
    return query


def archived(
    session: Session, settings: Settings, user: User, report_id: int
) -> tuple[Report, bytes]:
    """A stored report the user may see (officers: their district's), as stored."""
    report = session.exec(_visible_reports(user).where(Report.id == report_id)).first()
    if report is None:
        raise NotFound(_("No such report."))
    try:
        return report, for_settings(settings).read(report_key(report.sha256))
    except OSError:
        raise NotFound(
            _("The stored file of this report is missing; download the week's report again.")
        ) from None


def stored_filename(session: Session, report: Report) -> str:
    district = session.get(District, report.district_id) if report.district_id else None
    return f"weekly-{report.week}-{district.code if district else 'city'}-{report.sha256[:8]}.pdf"


# --- the /reports page ---------------------------------------------------------------------------


def page_context(session: Session, user: User, today: date) -> dict[str, Any]:
    """Recent weeks (newest first, the current one "so far"), the districts the user may ask
    for, and the stored reports the user may download."""
    current = week_of(today)
    weeks = [week_of(today - timedelta(days=7 * n)) for n in range(RECENT_WEEKS + 1)]
    scope = access.district_scope(user)
    query = select(District).order_by(District.code)
    if scope is not None:
        query = query.where(District.id == scope)
    districts = list(session.exec(query).all())
    stored = list(
        session.exec(
            _visible_reports(user).order_by(Report.created_at.desc(), Report.id.desc()).limit(50)
        ).all()
    )
    names = {d.id: d.name for d in session.exec(select(District)).all()}
    makers = {
        u.id: u
        for u in session.exec(
            select(User).where(User.id.in_({r.created_by for r in stored if r.created_by}))
        ).all()
    }
    return {
        "weeks": weeks,
        "current": current,
        "today": today,
        "districts": districts,
        "city": scope is None,
        "stored": stored,
        "district_names": names,
        "makers": makers,
    }
