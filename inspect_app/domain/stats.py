"""District statistics: the one place the dashboard, the map, the API and the weekly report
get their figures from, so that the numbers never disagree.

A period is a range of local calendar days [since, until] (both included). Let END be the
instant the day after `until` begins (clock.start_of_day) and DAY = min(until, today).

Definitions (each figure per district, after the optional grade/category filters):

- new: hazards created within the period.
- closed: hazards accepted (验收) within the period.
- open: hazards created before END and not accepted before END (still open at the period end).
- major / general: the open hazards of that grade.
- overdue: open hazards whose deadline is before DAY (the hazard list's rule, applied on DAY).
- due: hazards whose deadline falls within the period and before today (their outcome is known).
- rectification rate: of the due hazards, the share accepted by the end of their deadline day;
  None when nothing was due.
- coverage: of the district's active sites registered (or inspected) before END, the share with an inspection
  submitted within its cadence (cadence_days) before the end of DAY; None without sites.
- risk level: the four-colour rule (red/orange/yellow/blue) of settings.risk_rule, applied to
  open_major, open_general, overdue (and any figure above) — the first level whose conditions
  all hold.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, fields
from datetime import date, datetime, timedelta
from functools import lru_cache
from itertools import pairwise
from zoneinfo import ZoneInfo

from sqlalchemy import DateTime, and_, case, cast, func, or_
from sqlmodel import Session, select

from inspect_app.config import Settings
from inspect_app.domain.access import district_scope
from inspect_app.domain.clock import local_today, start_of_day
from inspect_app.domain.errors import Invalid, NotFound
from inspect_app.domain.hazards import overdue_clause
from inspect_app.i18n import _, lazy_gettext
from inspect_app.models import District, Grade, Hazard, Inspection, Site, User

RISK_LEVELS = ("red", "orange", "yellow", "blue")
MAX_PERIOD_DAYS = 3660  # ten years
MIN_YEAR = 2000

# What each figure means, shown in the UI beside the numbers (same words as the module doc).
DEFINITIONS = {
    "open": lazy_gettext("Open: created before the period ends and not accepted by then."),
    "closed": lazy_gettext("Closed: accepted within the period."),
    "new": lazy_gettext("New: created within the period."),
    "major": lazy_gettext("Major / general: open hazards of that grade."),
    "overdue": lazy_gettext(
        "Overdue: open and past the deadline on the period's last day (or today)."
    ),
    "rectification_rate": lazy_gettext(
        "Rectification rate: of the hazards whose deadline fell in the period (and has passed), "
        "the share accepted by the end of the deadline day."
    ),
    "coverage": lazy_gettext(
        "Coverage: share of the district's active sites inspected within their cadence "
        "as of the period's end."
    ),
    "risk_level": lazy_gettext(
        "Risk level: the first colour of the four-colour rule whose conditions hold."
    ),
}


@dataclass
class DistrictStats:
    """One district's figures for a period (see the module docstring for the definitions)."""

    district_id: int | None
    name: str
    code: str = ""
    open: int = 0
    closed: int = 0
    new: int = 0
    major: int = 0
    general: int = 0
    overdue: int = 0
    due: int = 0
    on_time: int = 0
    sites: int = 0
    covered_sites: int = 0
    risk_level: str = "blue"

    @property
    def rectification_rate(self) -> float | None:
        return self.on_time / self.due if self.due else None

    @property
    def coverage(self) -> float | None:
        return self.covered_sites / self.sites if self.sites else None

    def as_dict(self) -> dict:
        return {
            **asdict(self),
            "rectification_rate": self.rectification_rate,
            "coverage": self.coverage,
        }


@dataclass
class WeekPoint:
    """One ISO week of a trend: hazards new and closed in the week, and open at its end."""

    week: str  # 2026-W47
    start: date
    end: date  # last day counted (Sunday, or the period's last day)
    new: int = 0
    closed: int = 0
    open: int = 0


# --- the four-colour rule ------------------------------------------------------------------

METRICS = ("open", "open_major", "open_general", "overdue", "new", "closed")
_OPS = {
    ">=": lambda a, b: a >= b,
    ">": lambda a, b: a > b,
    "<=": lambda a, b: a <= b,
    "<": lambda a, b: a < b,
    "==": lambda a, b: a == b,
}
_CONDITION = re.compile(r"^\s*(\w+)\s*(>=|<=|==|>|<)\s*(\d+)\s*$")


@dataclass(frozen=True)
class RiskRule:
    """Ordered levels, each with conditions (metric, op, threshold) that must all hold;
    an empty list of conditions ('otherwise') always holds."""

    levels: tuple[tuple[str, tuple[tuple[str, str, int], ...]], ...]
    text: str = ""

    def level(self, figures: dict[str, int]) -> str:
        for name, conditions in self.levels:
            if all(_OPS[op](figures[metric], n) for metric, op, n in conditions):
                return name
        return "blue"


@lru_cache(maxsize=16)
def parse_risk_rule(text: str) -> RiskRule:
    """Read 'red: open_major >= 1; orange: open_general >= 1 and overdue >= 1; ...; blue: otherwise'."""
    levels = []
    for part in filter(None, (p.strip() for p in text.split(";"))):
        name, sep, body = part.partition(":")
        name = name.strip()
        if not sep or name not in RISK_LEVELS:
            raise Invalid(_("Risk rule: unknown level in '{part}'.").format(part=part))
        conditions = []
        if body.strip() != "otherwise":
            for cond in re.split(r"\band\b", body):
                match = _CONDITION.match(cond)
                if not match or match.group(1) not in METRICS:
                    raise Invalid(_("Risk rule: cannot read '{cond}'.").format(cond=cond.strip()))
                conditions.append((match.group(1), match.group(2), int(match.group(3))))
        levels.append((name, tuple(conditions)))
    if not levels:
        raise Invalid(_("Risk rule: no levels."))
    return RiskRule(tuple(levels), text)


def rule_of(settings: Settings) -> RiskRule:
    """The configured four-colour rule (checked when the app or the command starts)."""
    return parse_risk_rule(settings.risk_rule)


def risk_level(row: DistrictStats, rule: RiskRule) -> str:
    return rule.level(
        {
            "open": row.open,
            "open_major": row.major,
            "open_general": row.general,
            "overdue": row.overdue,
            "new": row.new,
            "closed": row.closed,
        }
    )


# --- periods ---------------------------------------------------------------------------------


def check_period(since: date, until: date, today: date) -> None:
    if since > until:
        raise Invalid(_("The period starts after it ends."))
    if since.year < MIN_YEAR or until.year > today.year + 1:
        raise Invalid(
            _("The period must lie between {first} and next year.").format(first=MIN_YEAR)
        )
    if (until - since).days > MAX_PERIOD_DAYS:
        raise Invalid(_("The period is longer than ten years."))


def _next_day(day: date) -> date:
    return day + timedelta(days=1)


def _filtered(query, district_id, grade, category, *, indexed: bool = True):
    """The optional filters. indexed=False writes them as expressions (district_id + 0,
    grade || '') that no index serves, so that they cannot lure the planner away from the
    range the query is built around."""
    district, grade_col = (
        (Hazard.district_id, Hazard.grade)
        if indexed
        else (Hazard.district_id + 0, Hazard.grade + "")
    )
    if district_id is not None:
        query = query.where(district == district_id)
    if grade:
        query = query.where(grade_col == grade)
    if category:
        query = query.where(Hazard.category == category)
    return query


# --- the figures -----------------------------------------------------------------------------


def district_stats(
    session: Session,
    *,
    zone: ZoneInfo,
    rule: RiskRule,
    since: date,
    until: date,
    district_id: int | None = None,
    grade: str | None = None,
    category: str | None = None,
    today: date | None = None,
) -> list[DistrictStats]:
    """One row per district (or only `district_id`), ordered by district code.

    Each figure is an index range scan (see the covering indexes on Hazard), so the cost
    follows the hazards of the period and those still open, not the years of history.
    """
    today = today or local_today(zone)
    check_period(since, until, today)
    if grade and grade not in Grade.__members__:
        raise Invalid(_("Unknown grade: {grade}").format(grade=grade))
    start, end = start_of_day(since, zone), start_of_day(_next_day(until), zone)
    day = min(until, today)

    districts = select(District.id, District.name, District.code).order_by(
        District.code
    )  # not the boundaries
    if district_id is not None:
        districts = districts.where(District.id == district_id)
    rows = {
        did: DistrictStats(did, name, code) for did, name, code in session.exec(districts).all()
    }
    if district_id is not None and not rows:
        raise Invalid(_("Unknown district: {name}").format(name=district_id))

    def scoped(query):
        return _filtered(query, district_id, grade, category)

    for did, g, n, overdue in _open_at(session, end, day, district_id, grade, category):
        if did in rows:
            r = rows[did]
            r.open += n
            r.overdue += overdue
            if g == "major":
                r.major += n
            else:
                r.general += n

    for attr, col in (("new", Hazard.created_at), ("closed", Hazard.accepted_at)):
        query = scoped(select(Hazard.district_id, func.count()).where(col >= start, col < end))
        for did, n in session.exec(query.group_by(Hazard.district_id)).all():
            if did in rows:
                setattr(rows[did], attr, n)

    last_due = min(until, today - timedelta(days=1))
    if last_due >= since:
        for did, due, on_time in _due_and_on_time(session, since, last_due, scoped, zone):
            if did in rows:
                rows[did].due, rows[did].on_time = due, on_time or 0

    for did, sites, covered in _coverage(session, day, end, district_id, zone):
        if did in rows:
            rows[did].sites, rows[did].covered_sites = sites, covered

    for r in rows.values():
        r.risk_level = risk_level(r, rule)
    return list(rows.values())


def _open_at(session: Session, end: datetime, day: date, district_id, grade, category):
    """(district, grade, open at END, of which overdue on DAY).

    Open = accepted_at NULL or >= END: two ranges of the covering index, costing the open
    hazards plus those closed since END. created_at < END is counted, not filtered, and the
    district is grouped and filtered as an expression (district_id + 0), so that the planner
    has nothing but that range to choose (SQLite would otherwise walk a district index)."""
    created = Hazard.created_at < end
    district = (Hazard.district_id + 0).label("district")
    # Rows are selected as open at END below; the overdue rule then needs no status test.
    is_overdue = case((overdue_clause(day, still_open=created), 1), else_=0)
    columns = (district, Hazard.grade, func.sum(case((created, 1), else_=0)), func.sum(is_overdue))
    for still_open in (Hazard.accepted_at.is_(None), Hazard.accepted_at >= end):
        query = _filtered(
            select(*columns).where(still_open), district_id, grade, category, indexed=False
        )
        query = query.group_by(district, Hazard.grade)
        for did, row_grade, n, overdue in session.exec(query).all():
            yield did, row_grade, n or 0, overdue or 0


def _due_and_on_time(session: Session, first: date, last: date, scoped, zone: ZoneInfo):
    """Per district: hazards with a deadline in [first, last] and how many were accepted
    before the end of that local day — one range scan of the deadline index."""
    day_end = _day_end(session, first, last, zone)
    on_time = case(
        (and_(Hazard.accepted_at.is_not(None), Hazard.accepted_at < day_end), 1), else_=0
    )
    query = scoped(
        select(Hazard.district_id, func.count(), func.sum(on_time)).where(
            Hazard.deadline >= first, Hazard.deadline <= last
        )
    )
    return session.exec(query.group_by(Hazard.district_id)).all()


def _day_end(session: Session, first: date, last: date, zone: ZoneInfo):
    """SQL for the UTC instant the day after Hazard.deadline begins in the city's time zone.

    PostgreSQL converts exactly (timezone()). SQLite has no time zones: the days are split
    into runs of one UTC offset (one run unless daylight saving changes within the period)
    and each run shifts the date by its offset; the text compares as SQLAlchemy stores it."""
    if session.get_bind().dialect.name == "postgresql":
        return func.timezone(str(zone), cast(Hazard.deadline + 1, DateTime))
    runs: list[tuple[date, int]] = []  # (first day of the run, minutes east of UTC)
    day = first
    while day <= last:
        minutes = int(
            start_of_day(_next_day(day), zone).astimezone(zone).utcoffset().total_seconds() // 60
        )
        if not runs or runs[-1][1] != minutes:
            runs.append((day, minutes))
        day = _next_day(day)
    shifted = [
        func.datetime(Hazard.deadline, "+1 day", f"{-minutes:+d} minutes") for _day, minutes in runs
    ]
    if len(runs) == 1:
        return shifted[0]
    return case(
        *[(Hazard.deadline < runs[n + 1][0], shifted[n]) for n in range(len(runs) - 1)],
        else_=shifted[-1],
    )


def _newest_inspection(as_of: datetime):
    """The time of a site's newest inspection submitted up to `as_of` (one index seek per site)."""
    return (
        select(func.max(Inspection.submitted_at))
        .where(Inspection.site_id == Site.id, Inspection.submitted_at <= as_of)
        .scalar_subquery()
    )


def _active_sites(query, as_of: datetime, district_id: int | None):
    """Active sites that existed at `as_of`: registered before it, or inspected before it (a
    register imported today still covers the weeks in which its sites were inspected)."""
    inspected = (
        select(Inspection.id)
        .where(Inspection.site_id == Site.id, Inspection.submitted_at <= as_of)
        .exists()
    )
    query = query.where(Site.is_active.is_(True), or_(Site.created_at < as_of, inspected))
    return query.where(Site.district_id == district_id) if district_id is not None else query


def last_inspections(session: Session, as_of: datetime, district_id: int | None = None):
    """(Site, time of its newest inspection up to `as_of`) for the active sites registered
    before `as_of` — the population of coverage."""
    query = _active_sites(select(Site, _newest_inspection(as_of)), as_of, district_id)
    return session.exec(query.order_by(Site.district_id, Site.name)).all()


def _within_cadence(cadence_days: int, last: datetime | None, as_of: datetime) -> bool:
    return last is not None and last > as_of - timedelta(days=cadence_days)


def is_covered(site: Site, last: datetime | None, as_of: datetime) -> bool:
    """Inspected within its cadence before `as_of`."""
    return _within_cadence(site.cadence_days, last, as_of)


def overdue_sites(
    session: Session, as_of: datetime, district_id: int | None = None
) -> list[tuple[Site, datetime | None]]:
    """The sites not covered at `as_of` with their last inspection, never-inspected first.
    Checked on plain tuples; only the late sites are loaded as objects."""
    query = _active_sites(
        select(Site.id, Site.cadence_days, _newest_inspection(as_of)), as_of, district_id
    )
    late = {
        sid: last
        for sid, cadence, last in session.exec(query).all()
        if not _within_cadence(cadence, last, as_of)
    }
    sites = session.exec(select(Site).where(Site.id.in_(late))).all() if late else []
    return sorted(
        ((site, late[site.id]) for site in sites),
        key=lambda pair: (pair[1] is not None, pair[1] or as_of, pair[0].name),
    )


def _coverage(session: Session, day: date, end: datetime, district_id: int | None, zone: ZoneInfo):
    as_of = min(start_of_day(_next_day(day), zone), end)
    query = _active_sites(
        select(Site.district_id, Site.cadence_days, _newest_inspection(as_of)), as_of, district_id
    )
    counts: dict[int, list[int]] = {}
    for did, cadence, last in session.exec(query).all():
        c = counts.setdefault(did, [0, 0])
        c[0] += 1
        c[1] += _within_cadence(cadence, last, as_of)
    return [(did, n, covered) for did, (n, covered) in counts.items()]


def city_totals(rows: list[DistrictStats], rule: RiskRule) -> DistrictStats:
    """The sum over the rows, with the rates recomputed from the summed parts."""
    total = DistrictStats(None, _("City total"))
    for f in fields(DistrictStats):
        if f.type == "int" and f.name != "district_id":
            setattr(total, f.name, sum(getattr(r, f.name) for r in rows))
    total.risk_level = risk_level(total, rule)
    return total


# --- trends ----------------------------------------------------------------------------------


def week_label(day: date) -> str:
    year, week, _weekday = day.isocalendar()
    return f"{year}-W{week:02d}"


def weekly_series_by_district(
    session: Session,
    *,
    zone: ZoneInfo,
    weeks: int,
    until: date,
    district_id: int | None = None,
    grade: str | None = None,
    category: str | None = None,
) -> dict[int, list[WeekPoint]]:
    """For each district, the last `weeks` ISO weeks up to `until` (the last one may be
    partial): new, closed, and open at the week's end.

    Two small range counts per week (cheaper than one scan bucketed by CASE), then the open
    count is walked back from the period end: open(w-1) = open(w) - new(w) + closed(w).
    """
    if not 1 <= weeks <= 520:
        raise Invalid(_("Weeks must be between 1 and 520."))
    first_monday = until - timedelta(days=until.weekday() + 7 * (weeks - 1))
    check_period(first_monday, until, local_today(zone))
    starts = [first_monday + timedelta(days=7 * n) for n in range(weeks)]
    bounds = [start_of_day(d, zone) for d in starts] + [start_of_day(_next_day(until), zone)]

    def scoped(query):
        return _filtered(query, district_id, grade, category)

    districts = select(District.id).order_by(District.code)
    if district_id is not None:
        districts = districts.where(District.id == district_id)
    series = {
        did: [WeekPoint(week_label(s), s, min(s + timedelta(days=6), until)) for s in starts]
        for did in session.exec(districts).all()
    }
    for n, (low, high) in enumerate(pairwise(bounds)):
        for attr, col in (("new", Hazard.created_at), ("closed", Hazard.accepted_at)):
            query = scoped(select(Hazard.district_id, func.count()).where(col >= low, col < high))
            for did, count in session.exec(query.group_by(Hazard.district_id)).all():
                if did in series:
                    setattr(series[did][n], attr, count)
    for did, _grade, n, _overdue in _open_at(
        session, bounds[-1], until, district_id, grade, category
    ):
        if did in series:
            series[did][-1].open += n
    for points in series.values():
        for earlier, later in reversed(list(pairwise(points))):
            earlier.open = later.open - later.new + later.closed
    return series


def weekly_series(
    session: Session,
    *,
    zone: ZoneInfo,
    weeks: int,
    until: date,
    district_id: int | None = None,
    grade: str | None = None,
    category: str | None = None,
) -> list[WeekPoint]:
    """The city's (or one district's) weekly trend: the per-district series summed."""
    return sum_series(
        weekly_series_by_district(
            session,
            zone=zone,
            weeks=weeks,
            until=until,
            district_id=district_id,
            grade=grade,
            category=category,
        )
    )


def sum_series(by_district: dict[int, list[WeekPoint]]) -> list[WeekPoint]:
    total: list[WeekPoint] = []
    for points in by_district.values():
        if not total:
            total = [WeekPoint(p.week, p.start, p.end) for p in points]
        for t, p in zip(total, points):
            t.new += p.new
            t.closed += p.closed
            t.open += p.open
    return total


def resolve_period(since: date | None, until: date | None, today: date) -> tuple[date, date]:
    """The period asked for, by default the seven days up to `until` (default today); checked."""
    until = until or today
    since = since or until - timedelta(days=6)
    check_period(since, until, today)
    return since, until


def district_for(user: User, district_id: int | None) -> int | None:
    """The district whose figures the user asks for: officers only ever their own (another
    district is NotFound, as for any object they may not see); city-wide roles any or all."""
    scope = district_scope(user)
    if scope is None:
        return district_id
    if scope < 0 or (district_id is not None and district_id != scope):  # -1: no district at all
        raise NotFound(_("No such district."))
    return scope
