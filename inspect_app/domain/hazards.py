"""Hazards (隐患): listing with filters, overdue, reading one with its history, and the
closed loop (闭环) as an explicit state machine.

Overdue is computed from the deadline and the clock, never stored as a flag.

The loop: reported -plan-> rectifying -rectify-> rectified -accept-> accepted, and
rectified -reject-> rectifying. The plan (五定) may also be revised while rectifying (after a
rejection, or when the enterprise needs other measures): that is the same "plan" transition
from rectifying to rectifying, recorded as an event like any other. Every other move is a
Conflict. Each transition is one conditional UPDATE on (id, version, status) so that two
officers acting at once cannot both win; the loser gets a Conflict and writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, update
from sqlmodel import Session, select

from inspect_app.config import Settings
from inspect_app.domain import photos
from inspect_app.domain.access import district_scope
from inspect_app.domain.clock import local_today, start_of_day
from inspect_app.domain.errors import Conflict, Forbidden, Invalid, NotFound
from inspect_app.domain.parsing import check_date, parse_date, parse_id
from inspect_app.domain.sites import resolve_district
from inspect_app.i18n import _
from inspect_app.models import (
    District,
    Grade,
    Hazard,
    HazardEvent,
    HazardPhoto,
    HazardStatus,
    Photo,
    RectificationPlan,
    Role,
    Site,
    User,
    utcnow,
)

OPEN_STATUSES = (HazardStatus.reported, HazardStatus.rectifying, HazardStatus.rectified)
STATUS_FILTERS = {"open", *HazardStatus.__members__}


OVERDUE_CHOICES = {
    "": None,
    **dict.fromkeys(("true", "1", "yes", "on"), True),
    **dict.fromkeys(("false", "0", "no", "off"), False),
}


@dataclass
class HazardFilters:
    """The filters of the hazard list, shared by the API, the pages, the map and the exports.

    zone: the city's calendar, in which since/until are local days and overdue is judged.
    Built from request text by `parse` (the one parser of these filters, see filters.py)."""

    zone: ZoneInfo
    district_id: int | None = None
    status: str | None = None  # a status, or "open" (not yet accepted)
    grade: str | None = None
    overdue: bool | None = None
    since: date | None = None  # created on or after (local date)
    until: date | None = None  # created on or before (local date)
    site_id: int | None = None
    category: str | None = None
    inspection_id: int | None = None

    @classmethod
    def parse(
        cls,
        session: Session,
        zone: ZoneInfo,
        *,
        district: str | None = None,
        status: str | None = None,
        grade: str | None = None,
        overdue: str | None = None,
        since: str | None = None,
        until: str | None = None,
        site: str | None = None,
        category: str | None = None,
    ) -> HazardFilters:
        """The filters from text as a form or a query string sends them: empty means any;
        the district by id or name; ids, dates and choices strictly (else Invalid)."""
        overdue_text = (overdue or "").strip().lower()
        if overdue_text not in OVERDUE_CHOICES:
            raise Invalid(_("Unknown overdue choice."))
        found = resolve_district(session, district)
        return cls(
            zone=zone,
            district_id=found.id if found else None,
            status=(status or "").strip() or None,
            grade=(grade or "").strip() or None,
            overdue=OVERDUE_CHOICES[overdue_text],
            since=parse_date(since, _("Since")),
            until=parse_date(until, _("Until")),
            site_id=parse_id(site, _("Site")),
            category=(category or "").strip() or None,
        ).check()

    def as_query(self) -> dict[str, str]:
        """The filters as query parameters (the list page's links and form, the map's URL)."""
        values = {
            "district": self.district_id,
            "status": self.status,
            "grade": self.grade,
            "overdue": None if self.overdue is None else str(self.overdue).lower(),
            "site": self.site_id,
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "category": self.category,
        }
        return {k: str(v) for k, v in values.items() if v is not None}

    def check(self) -> HazardFilters:
        if self.status and self.status not in STATUS_FILTERS:
            raise Invalid(_("Unknown status: {status}").format(status=self.status))
        if self.grade and self.grade not in Grade.__members__:
            raise Invalid(_("Unknown grade: {grade}").format(grade=self.grade))
        for day in (self.since, self.until):
            if day is not None:
                check_date(day, _("Period"))
        if self.since and self.until and self.since > self.until:
            raise Invalid(_("The period starts after it ends."))
        return self


# --- overdue: the one rule, in SQL and in Python ---------------------------------------------
# A hazard is overdue on a local day when it is still open then and its deadline lies before
# that day. "Still open" is the status (lists, map, exports) or, for a past period, not
# accepted by the period's end (stats and the weekly report pass their own condition).


def overdue_clause(today: date, still_open=None):
    """SQL: open (default: not accepted) and past its deadline on `today`."""
    if still_open is None:
        still_open = Hazard.status != HazardStatus.accepted
    return and_(still_open, Hazard.deadline.is_not(None), Hazard.deadline < today)


def overdue(status: str | None, deadline: date | None, today: date, *, still_open=None) -> bool:
    """The Python twin of overdue_clause, on plain values (export rows, report items)."""
    if still_open is None:
        still_open = status != HazardStatus.accepted
    return bool(still_open) and deadline is not None and deadline < today


def is_overdue(hazard: Hazard, today: date) -> bool:
    return overdue(hazard.status, hazard.deadline, today)


def visible_hazards_query(user: User):
    """Hazards the user may see: city-wide roles all; officers their district; inspectors
    the hazards they reported."""
    query = select(Hazard)
    if user.role == Role.inspector:
        return query.where(Hazard.reporter_id == user.id)
    scope = district_scope(user)
    if scope is not None:
        query = query.where(Hazard.district_id == scope)
    return query


def apply_filters(query, filters: HazardFilters, today: date | None = None):
    f = filters
    today = today or local_today(f.zone)
    if f.district_id is not None:
        query = query.where(Hazard.district_id == f.district_id)
    if f.status == "open":
        query = query.where(Hazard.status.in_(OPEN_STATUSES))
    elif f.status:
        query = query.where(Hazard.status == f.status)
    if f.grade:
        query = query.where(Hazard.grade == f.grade)
    if f.overdue is True:
        query = query.where(overdue_clause(today))
    elif f.overdue is False:
        query = query.where(~overdue_clause(today))
    if f.since:
        query = query.where(Hazard.created_at >= start_of_day(f.since, f.zone))
    if f.until:
        query = query.where(
            Hazard.created_at < start_of_day(date.fromordinal(f.until.toordinal() + 1), f.zone)
        )
    if f.site_id is not None:
        query = query.where(Hazard.site_id == f.site_id)
    if f.category:
        query = query.where(Hazard.category == f.category)
    if f.inspection_id is not None:
        query = query.where(Hazard.inspection_id == f.inspection_id)
    return query


def list_hazards(
    session: Session, user: User, filters: HazardFilters, *, limit: int = 50, offset: int = 0
) -> tuple[list[Hazard], int]:
    """One page of visible hazards matching the filters, newest first, and the total."""
    query = apply_filters(visible_hazards_query(user), filters.check())
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    rows = session.exec(
        query.order_by(Hazard.created_at.desc(), Hazard.id.desc()).offset(offset).limit(limit)
    ).all()
    return list(rows), total


def get_hazard(session: Session, user: User, hazard_id: int) -> Hazard:
    """A hazard the user may see; 404 otherwise (not revealing that it exists)."""
    hazard = session.exec(visible_hazards_query(user).where(Hazard.id == hazard_id)).first()
    if hazard is None:
        raise NotFound(_("No such hazard."))
    return hazard


def hazard_context(session: Session, hazards: list[Hazard]) -> dict[str, dict[int, Any]]:
    """Names of the sites and districts of a page of hazards, fetched in two queries."""
    site_ids = {h.site_id for h in hazards}
    district_ids = {h.district_id for h in hazards}
    sites = (
        {s.id: s for s in session.exec(select(Site).where(Site.id.in_(site_ids))).all()}
        if site_ids
        else {}
    )
    districts = (
        {d.id: d for d in session.exec(select(District).where(District.id.in_(district_ids))).all()}
        if district_ids
        else {}
    )
    return {"sites": sites, "districts": districts}


def hazard_events(session: Session, hazard_id: int) -> list[HazardEvent]:
    return list(
        session.exec(
            select(HazardEvent)
            .where(HazardEvent.hazard_id == hazard_id)
            .order_by(HazardEvent.at, HazardEvent.id)
        ).all()
    )


def hazard_plan(session: Session, hazard_id: int) -> RectificationPlan | None:
    return session.exec(
        select(RectificationPlan).where(RectificationPlan.hazard_id == hazard_id)
    ).first()


def hazard_photos(session: Session, hazard_id: int, kind: str | None = None) -> list[Photo]:
    query = (
        select(Photo)
        .join(HazardPhoto, HazardPhoto.photo_id == Photo.id)
        .where(HazardPhoto.hazard_id == hazard_id)
    )
    if kind:
        query = query.where(HazardPhoto.kind == kind)
    return list(session.exec(query.order_by(HazardPhoto.position)).all())


def create_hazard(
    session: Session,
    *,
    reporter: User,
    site: Site,
    grade: str,
    description: str,
    category: str = "",
    photo_ids: list[int] | tuple[int, ...] = (),
    lat: float | None = None,
    lon: float | None = None,
    location_district_id: int | None = None,
    inspection_id: int | None = None,
    item_id: int | None = None,
    now: datetime | None = None,
) -> Hazard:
    """Record a new hazard with its finding photos and its 'created' event.

    Does not commit: the caller (an inspection submit, or a stand-alone report) owns the
    transaction, so that the inspection and its hazards are stored together or not at all.
    """
    now = now or utcnow()
    if grade not in Grade.__members__:
        raise Invalid(_("Unknown grade: {grade}").format(grade=grade))
    hazard = Hazard(
        inspection_id=inspection_id,
        item_id=item_id,
        site_id=site.id,
        district_id=site.district_id,
        reporter_id=reporter.id,
        grade=grade,
        category=category,
        description=description,
        status=HazardStatus.reported,
        created_at=now,
        updated_at=now,
        lat=lat,
        lon=lon,
        location_district_id=location_district_id,
    )
    session.add(hazard)
    session.flush()
    for position, photo_id in enumerate(photo_ids):
        session.add(
            HazardPhoto(hazard_id=hazard.id, photo_id=photo_id, kind="finding", position=position)
        )
    session.add(
        HazardEvent(
            hazard_id=hazard.id,
            actor_id=reporter.id,
            at=now,
            action="created",
            from_status=None,
            to_status=HazardStatus.reported,
            payload={"grade": grade, "description": description, "inspection_id": inspection_id},
        ),
    )
    return hazard


# --- the closed loop ---------------------------------------------------------------------------

# action -> (statuses it may start from, status it leads to)
TRANSITIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "plan": ((HazardStatus.reported, HazardStatus.rectifying), HazardStatus.rectifying),
    "rectify": ((HazardStatus.rectifying,), HazardStatus.rectified),
    "accept": ((HazardStatus.rectified,), HazardStatus.accepted),
    "reject": ((HazardStatus.rectified,), HazardStatus.rectifying),
}
ACTING_ROLES = (Role.officer, Role.office, Role.admin)
PLAN_TEXT_FIELDS = {  # field -> max length, from the table (models.PlanBase writes them once)
    name: RectificationPlan.__table__.c[name].type.length
    for name in (
        "responsible_person",
        "measures",
        "rectifier",
        "acceptor",
        "funds",
        "interim_measures",
    )
}
MAJOR_ONLY_FIELDS = ("funds", "interim_measures")
MAX_NOTE = 2000
MAX_RECTIFY_PHOTOS = 20


def allowed_actions(hazard: Hazard, user: User) -> list[str]:
    """The transitions this user may attempt on this hazard now (what the page offers)."""
    if user.role not in ACTING_ROLES:
        return []
    return [action for action, (sources, _to) in TRANSITIONS.items() if hazard.status in sources]


def _acting_hazard(session: Session, user: User, hazard_id: int, action: str) -> Hazard:
    """The hazard if the user may act on it and the action is legal from its status."""
    hazard = get_hazard(session, user, hazard_id)  # other district -> NotFound
    if user.role not in ACTING_ROLES:
        raise Forbidden(
            _("Only officers of the district, the safety office and admin act on hazards.")
        )
    sources, _to = TRANSITIONS[action]
    if hazard.status not in sources:
        raise Conflict(
            _("This hazard is {status}: that step is not possible now.").format(
                status=status_label(hazard.status)
            )
        )
    return hazard


def grade_label(grade: str) -> str:
    return {Grade.major: _("Major"), Grade.general: _("General")}.get(grade, grade)


def status_label(status: str) -> str:
    return {
        HazardStatus.reported: _("Reported"),
        HazardStatus.rectifying: _("Rectifying"),
        HazardStatus.rectified: _("Rectified"),
        HazardStatus.accepted: _("Accepted"),
    }.get(status, status)


def _transition(
    session: Session,
    user: User,
    hazard: Hazard,
    action: str,
    *,
    payload: dict[str, Any],
    values: dict[str, Any],
    expected_version: int | None,
    now: datetime,
) -> None:
    """Move the hazard with one conditional UPDATE and append its event (not committed).

    The UPDATE matches the version and status read (or the version the client saw): if anyone
    moved the hazard meanwhile it matches no row, and nothing is written.
    """
    version = hazard.version if expected_version is None else expected_version
    from_status = hazard.status
    to_status = TRANSITIONS[action][1]
    result = session.execute(
        update(Hazard)
        .where(Hazard.id == hazard.id, Hazard.version == version, Hazard.status == from_status)
        .values(status=to_status, version=version + 1, updated_at=now, **values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        session.rollback()
        raise Conflict(_("Someone else changed this hazard meanwhile. Reload it and try again."))
    session.add(
        HazardEvent(
            hazard_id=hazard.id,
            actor_id=user.id,
            at=now,
            action=action,
            from_status=from_status,
            to_status=to_status,
            payload=payload,
        )
    )


def _finish(session: Session, hazard: Hazard) -> Hazard:
    session.commit()
    session.refresh(hazard)
    return hazard


def _text(value: Any) -> str:
    return str(value or "").strip()


def _parse_deadline(value: date | str | None) -> date | None:
    """The deadline by the shared date parser (bounds included); None when empty or bad."""
    try:
        return parse_date(value, _("Deadline"))
    except Invalid:
        return None


def set_plan(
    session: Session,
    user: User,
    hazard_id: int,
    *,
    responsible_person: str,
    measures: str,
    deadline: date | str | None,
    rectifier: str,
    acceptor: str,
    funds: str = "",
    interim_measures: str = "",
    stop_production: bool | None = None,
    settings: Settings,
    expected_version: int | None = None,
    now: datetime | None = None,
) -> Hazard:
    """Set (or, while rectifying, revise) the five determinations (五定).

    All five are required; a major hazard also needs funds and materials, interim safety
    measures and the stop-production decision. A new deadline may not lie in the past (local
    date); a revision may keep the deadline it had.
    """
    now = now or utcnow()
    hazard = _acting_hazard(session, user, hazard_id, "plan")
    fields = {
        name: _text(value)
        for name, value in {
            "responsible_person": responsible_person,
            "measures": measures,
            "rectifier": rectifier,
            "acceptor": acceptor,
            "funds": funds,
            "interim_measures": interim_measures,
        }.items()
    }
    day = _parse_deadline(deadline)
    errors: dict[str, str] = {}
    required = ["responsible_person", "measures", "rectifier", "acceptor"]
    if hazard.grade == "major":
        required += MAJOR_ONLY_FIELDS
        if stop_production is None:
            errors["stop_production"] = _(
                "A major hazard needs the decision whether production must stop."
            )
    for name in required:
        if not fields[name]:
            errors[name] = _("Required.")
    for name, limit in PLAN_TEXT_FIELDS.items():
        if len(fields[name]) > limit:
            errors[name] = _("At most {n} characters.").format(n=limit)
    if day is None:
        errors["deadline"] = (
            _("A deadline (YYYY-MM-DD) is required.") if not deadline else _("Not a date.")
        )
    elif day < local_today(settings.zone, now) and day != hazard.deadline:
        errors["deadline"] = _("The deadline may not be in the past.")
    if (
        settings.acceptor_must_differ
        and fields["acceptor"]
        and fields["acceptor"] == fields["rectifier"]
    ):
        errors["acceptor"] = _("The acceptor must be another person than the rectifier.")
    if errors:
        raise Invalid(_("The plan is incomplete or wrong."), errors=errors)

    revision = hazard.status == HazardStatus.rectifying
    plan_values = {**fields, "deadline": day, "stop_production": stop_production}
    _transition(
        session,
        user,
        hazard,
        "plan",
        payload={
            **fields,
            "deadline": day.isoformat(),
            "stop_production": stop_production,
            "revision": revision,
        },
        values={"deadline": day},
        expected_version=expected_version,
        now=now,
    )
    plan = hazard_plan(session, hazard.id)
    if plan is None:
        plan = RectificationPlan(hazard_id=hazard.id, set_by=user.id, set_at=now, **plan_values)
    else:
        for name, value in plan_values.items():
            setattr(plan, name, value)
        plan.set_by, plan.set_at = user.id, now
    session.add(plan)
    return _finish(session, hazard)


def rectify(
    session: Session,
    user: User,
    hazard_id: int,
    *,
    note: str,
    photo_ids: list[int] | tuple[int, ...],
    expected_version: int | None = None,
    now: datetime | None = None,
) -> Hazard:
    """Record the rectification: a note and at least one after-photo uploaded by this user."""
    now = now or utcnow()
    hazard = _acting_hazard(session, user, hazard_id, "rectify")
    note = _text(note)
    ids = list(dict.fromkeys(photo_ids))  # a double-tapped upload counts once
    errors: dict[str, str] = {}
    if not note:
        errors["note"] = _("Describe what was done.")
    elif len(note) > MAX_NOTE:
        errors["note"] = _("At most {n} characters.").format(n=MAX_NOTE)
    if not ids:
        errors["photo_ids"] = _("Add at least one photo of the rectified place.")
    elif len(ids) > MAX_RECTIFY_PHOTOS:
        errors["photo_ids"] = _("At most {n} photos.").format(n=MAX_RECTIFY_PHOTOS)
    if errors:
        raise Invalid(_("The rectification is incomplete."), errors=errors)
    photos.owned(session, user, ids)
    _transition(
        session,
        user,
        hazard,
        "rectify",
        payload={"note": note, "photo_ids": ids},
        values={"rectified_at": now},
        expected_version=expected_version,
        now=now,
    )
    attached = set(
        session.exec(select(HazardPhoto.photo_id).where(HazardPhoto.hazard_id == hazard.id)).all()
    )
    start = len(attached)
    for offset, photo_id in enumerate(i for i in ids if i not in attached):
        session.add(
            HazardPhoto(
                hazard_id=hazard.id,
                photo_id=photo_id,
                kind="rectification",
                position=start + offset,
            )
        )
    return _finish(session, hazard)


def rectified_by(session: Session, hazard_id: int) -> int | None:
    """Who recorded the latest rectification (the acceptor should be someone else)."""
    return session.exec(
        select(HazardEvent.actor_id)
        .where(HazardEvent.hazard_id == hazard_id, HazardEvent.action == "rectify")
        .order_by(HazardEvent.at.desc(), HazardEvent.id.desc())
    ).first()


def accept(
    session: Session,
    user: User,
    hazard_id: int,
    *,
    settings: Settings,
    expected_version: int | None = None,
    now: datetime | None = None,
) -> Hazard:
    """Accept the rectification and close the loop.

    Accepting one's own rectification is refused when settings.acceptor_must_differ, and
    otherwise allowed but marked in the event (the page warns before).
    """
    now = now or utcnow()
    hazard = _acting_hazard(session, user, hazard_id, "accept")
    same_person = rectified_by(session, hazard.id) == user.id
    if same_person and settings.acceptor_must_differ:
        raise Forbidden(_("You recorded this rectification: another officer must accept it."))
    _transition(
        session,
        user,
        hazard,
        "accept",
        payload={"same_person": same_person},
        values={"accepted_at": now},
        expected_version=expected_version,
        now=now,
    )
    return _finish(session, hazard)


def reject(
    session: Session,
    user: User,
    hazard_id: int,
    *,
    reason: str,
    expected_version: int | None = None,
    now: datetime | None = None,
) -> Hazard:
    """Send a rectified hazard back to rectifying; the reason is required and kept."""
    now = now or utcnow()
    hazard = _acting_hazard(session, user, hazard_id, "reject")
    reason = _text(reason)
    if not reason:
        raise Invalid(_("Give the reason for rejecting."), errors={"reason": _("Required.")})
    if len(reason) > MAX_NOTE:
        raise Invalid(
            _("The reason is too long."),
            errors={"reason": _("At most {n} characters.").format(n=MAX_NOTE)},
        )
    _transition(
        session,
        user,
        hazard,
        "reject",
        payload={"reason": reason},
        values={"rectified_at": None},
        expected_version=expected_version,
        now=now,
    )
    return _finish(session, hazard)
