"""Inspections (检查): a draft filled item by item, then submitted with one hazard per failed item.

Every write takes `now` so the demo generator can write history with past clocks. Idempotency
rests on the unique `client_uuid`: a retried start or submission returns the first result.
The internal helpers (_create, _write_answers, _finalise) never commit, so that the API's
one-shot submission stores the inspection, its answers and its hazards in one transaction.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, case, func, or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from inspect_app.domain import checklists, due, geo, hazards, photos, sites
from inspect_app.domain.access import district_scope, require_role
from inspect_app.domain.clock import local_today
from inspect_app.domain.errors import Conflict, Invalid, NotFound
from inspect_app.domain.parsing import parse_id, parse_ids
from inspect_app.i18n import _, current_locale
from inspect_app.models import (
    Answer,
    AnswerPhoto,
    ChecklistTemplate,
    District,
    DueStatus,
    Grade,
    Hazard,
    Inspection,
    InspectionFlag,
    InspectionStatus,
    Photo,
    ResponseType,
    Role,
    Site,
    TemplateItem,
    TemplateSection,
    TemplateVersion,
    User,
    utcnow,
)

RESULTS = ("pass", "fail", "na")
GRADES = tuple(Grade)
MAX_TEXT = 2000
MAX_UUID = 64


# --- reading -------------------------------------------------------------------------------


MAX_ID = 2**63 - 1


def _fetch(session: Session, inspection_id: int) -> Inspection | None:
    """By id; an id no database column can hold simply matches nothing."""
    return session.get(Inspection, inspection_id) if 0 < inspection_id <= MAX_ID else None


def get_inspection(session: Session, user: User, inspection_id: int) -> Inspection:
    """An inspection the user may see: inspectors their own; admin all; office every submitted
    one; officers the submitted ones of their district. Anything else is 404."""
    inspection = _fetch(session, inspection_id)
    if inspection is None or not can_view(session, user, inspection):
        raise NotFound(_("No such inspection."))
    return inspection


def can_view(session: Session, user: User, inspection: Inspection) -> bool:
    if inspection.inspector_id == user.id or user.role == Role.admin:
        return True
    if (
        user.role not in (Role.office, Role.officer)
        or inspection.status != InspectionStatus.submitted
    ):
        return False
    site = session.get(Site, inspection.site_id)
    scope = district_scope(user)
    return scope is None or (site is not None and site.district_id == scope)


def resolve(session: Session, user: User, ref: str) -> int:
    """An inspection's id from a page path: its id, or its client_uuid among the user's own.

    The phone addresses every write by client_uuid, because an inspection started offline has
    no id until the server has it."""
    ref = (ref or "").strip()
    number = _as_id(ref)
    if number is not None:
        return number
    found = session.exec(
        _ID_BY_UUID, params={"client_uuid": ref[:MAX_UUID], "user_id": user.id}
    ).first()
    if found is None:
        raise NotFound(_("No such inspection."))
    return found


def _as_id(ref: str) -> int | None:
    """A page path's reference as an id when it is digits (0 when too long), else None."""
    if ref.isascii() and ref.isdigit():  # not "¹": int() refuses what isdigit() accepts
        return int(ref) if len(ref) < 20 else 0
    return None


# The statements of the answer save, built once: SQLAlchemy caches their compiled SQL, but a
# statement built anew costs its construction and its cache key on every request, nearly as
# much as running it.
_OWN_UUID = (Inspection.client_uuid == bindparam("client_uuid")) & (
    Inspection.inspector_id == bindparam("user_id")
)
_ID_BY_UUID = select(Inspection.id).where(_OWN_UUID)
_DRAFT = select(Inspection, TemplateVersion).join(
    TemplateVersion, TemplateVersion.id == Inspection.template_version_id
)
_DRAFT_BY_ID = _DRAFT.where(Inspection.id == bindparam("id"))
_DRAFT_BY_UUID = _DRAFT.where(_OWN_UUID)
_ANSWERS = select(Answer).where(Answer.inspection_id == bindparam("inspection_id"))


def page_address(inspection: Inspection) -> str:
    """The draft's page by its client_uuid: the one address that works before and after the
    server has it (the version and site let the phone show it offline from the empty form)."""
    return (
        f"/inspections/c/{quote(inspection.client_uuid, safe='')}"
        f"?v={inspection.template_version_id}&site={inspection.site_id}"
    )


def get_draft(session: Session, user: User, inspection_id: int) -> Inspection:
    """The user's own draft; a submitted inspection cannot change any more (409)."""
    return _own_draft(user, _fetch(session, inspection_id))


def _own_draft(user: User, inspection: Inspection | None) -> Inspection:
    if inspection is None or inspection.inspector_id != user.id:
        raise NotFound(_("No such inspection."))
    if inspection.status != InspectionStatus.draft:
        raise Conflict(_("This inspection is already submitted and can no longer change."))
    return inspection


def _draft_by_ref(session: Session, user: User, ref: str) -> tuple[Inspection, TemplateVersion]:
    """get_draft(resolve(ref)) with the draft's checklist version, in one statement."""
    ref = (ref or "").strip()
    number = _as_id(ref)
    if number is not None and not 0 < number <= MAX_ID:
        raise NotFound(_("No such inspection."))
    found = (
        session.exec(_DRAFT_BY_ID, params={"id": number})
        if number is not None
        else session.exec(
            _DRAFT_BY_UUID, params={"client_uuid": ref[:MAX_UUID], "user_id": user.id}
        )
    ).first()
    return _own_draft(user, found[0] if found else None), found[1]


def list_inspections(
    session: Session, user: User, *, status: str | None = None, limit: int = 50, offset: int = 0
) -> tuple[list[Inspection], int]:
    """The user's own inspections, most recently touched first."""
    query = select(Inspection).where(Inspection.inspector_id == user.id)
    if status:
        query = query.where(Inspection.status == status)
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    rows = session.exec(
        query.order_by(Inspection.updated_at.desc(), Inspection.id.desc())
        .offset(offset)
        .limit(limit)
    ).all()
    return list(rows), total


def hazards_of(session: Session, inspection_id: int) -> list[Hazard]:
    return list(
        session.exec(
            select(Hazard).where(Hazard.inspection_id == inspection_id).order_by(Hazard.id)
        ).all()
    )


@dataclass
class Row:
    """One item of the checklist with its answer (None until answered) and photo ids."""

    item: TemplateItem
    answer: Answer | None
    photo_ids: list[int] = field(default_factory=list)

    @property
    def answered(self) -> bool:
        return is_answered(self.item, self.answer)


@dataclass
class SectionView:
    section: TemplateSection
    rows: list[Row]

    @property
    def answered(self) -> int:
        return sum(1 for r in self.rows if r.answered)

    @property
    def failed(self) -> int:
        return sum(1 for r in self.rows if r.answer is not None and r.answer.result == "fail")


@dataclass
class InspectionView:
    """Everything a page or the API shows of one inspection, fetched in a few queries.

    view(..., full=False) is the progress only (site, inspector, template None; no hazards,
    photos or photo ids): what the answer save sends back, on every tap of an inspector."""

    inspection: Inspection
    site: Site | None
    district: District | None  # None for blank_view's checklist of no site yet
    inspector: User | None
    template: ChecklistTemplate | None
    version: TemplateVersion
    sections: list[SectionView]
    hazards: list[Hazard]
    photos: dict[int, Photo]

    @property
    def rows(self) -> list[Row]:
        return [r for s in self.sections for r in s.rows]

    @property
    def answered(self) -> int:
        return sum(s.answered for s in self.sections)

    @property
    def total(self) -> int:
        return sum(len(s.rows) for s in self.sections)

    @property
    def failed(self) -> int:
        return sum(s.failed for s in self.sections)

    def section_of(self, key: str | None) -> SectionView:
        return next((s for s in self.sections if s.section.key == key), self.sections[0])


def view(session: Session, inspection: Inspection, *, full: bool = True) -> InspectionView:
    version = session.get(TemplateVersion, inspection.template_version_id)
    return _view(session, inspection, version, _answers(session, inspection.id), full=full)


def _view(
    session: Session,
    inspection: Inspection,
    version: TemplateVersion,
    answer_rows: Iterable[Answer],
    *,
    full: bool,
) -> InspectionView:
    """view() of the answers already read (all of the inspection's)."""
    answers = {a.item_id: a for a in answer_rows}
    links = _answer_photo_ids(session, [a.id for a in answers.values()]) if full else {}
    all_ids = [pid for ids in links.values() for pid in ids]
    photo_rows = (
        session.exec(select(Photo).where(Photo.id.in_(all_ids))).all() if all_ids and full else []
    )
    section_rows, items = checklists.structure(session, version)
    rows: dict[int, list[Row]] = {s.id: [] for s in section_rows}
    for i in items:
        answer = answers.get(i.id)
        rows[i.section_id].append(
            Row(item=i, answer=answer, photo_ids=links.get(answer.id, []) if answer else [])
        )
    sections = [SectionView(section=s, rows=rows[s.id]) for s in section_rows]
    site = session.get(Site, inspection.site_id) if full else None
    return InspectionView(
        inspection=inspection,
        site=site,
        district=session.get(District, site.district_id) if site else None,
        inspector=session.get(User, inspection.inspector_id) if full else None,
        template=session.get(ChecklistTemplate, version.template_id) if full else None,
        version=version,
        sections=sections,
        hazards=hazards_of(session, inspection.id) if full else [],
        photos={p.id: p for p in photo_rows},
    )


@dataclass
class InspectionSummary:
    """One row of a list of inspections: its names and counts, not its checklist (the same
    fields as InspectionView that the lists and InspectionOut read)."""

    inspection: Inspection
    site: Site
    district: District
    inspector: User
    template: ChecklistTemplate
    hazards: list[Hazard]
    answered: int = 0
    total: int = 0
    failed: int = 0


def _by_id(session: Session, model, ids) -> dict[int, Any]:
    ids = set(ids)
    return (
        {r.id: r for r in session.exec(select(model).where(model.id.in_(ids))).all()} if ids else {}
    )


def summaries(session: Session, rows: list[Inspection]) -> list[InspectionSummary]:
    """A page of inspections for a list in a fixed number of queries, whatever the page size:
    the names by id (IN), the checklist sizes and the answer counts grouped (is_answered and
    `failed` of InspectionView, written as SQL)."""
    ids = [i.id for i in rows]
    versions = _by_id(session, TemplateVersion, {i.template_version_id for i in rows})
    templates = _by_id(session, ChecklistTemplate, {v.template_id for v in versions.values()})
    site_rows = _by_id(session, Site, {i.site_id for i in rows})
    districts = _by_id(session, District, {s.district_id for s in site_rows.values()})
    users = _by_id(session, User, {i.inspector_id for i in rows})
    sizes = (
        dict(
            session.exec(
                select(TemplateItem.version_id, func.count())
                .where(TemplateItem.version_id.in_(versions))
                .group_by(TemplateItem.version_id)
            ).all()
        )
        if versions
        else {}
    )
    answered = or_(Answer.result.is_not(None), func.trim(func.coalesce(Answer.value, "")) != "")
    counts = (
        {
            iid: (done or 0, failed or 0)
            for iid, done, failed in session.exec(
                select(
                    Answer.inspection_id,
                    func.sum(case((answered, 1), else_=0)),
                    func.sum(case((Answer.result == "fail", 1), else_=0)),
                )
                .where(Answer.inspection_id.in_(ids))
                .group_by(Answer.inspection_id)
            ).all()
        }
        if ids
        else {}
    )
    found: dict[int, list[Hazard]] = {}
    if ids:
        for h in session.exec(
            select(Hazard).where(Hazard.inspection_id.in_(ids)).order_by(Hazard.id)
        ).all():
            found.setdefault(h.inspection_id, []).append(h)
    out = []
    for i in rows:
        site, version = site_rows[i.site_id], versions[i.template_version_id]
        done, failed = counts.get(i.id, (0, 0))
        out.append(
            InspectionSummary(
                inspection=i,
                site=site,
                district=districts[site.district_id],
                inspector=users[i.inspector_id],
                template=templates[version.template_id],
                hazards=found.get(i.id, []),
                answered=done,
                total=sizes.get(version.id, 0),
                failed=failed,
            )
        )
    return out


def blank_view(
    session: Session, user: User, version_id: int, site_id: int | None = None
) -> InspectionView:
    """The empty checklist of a published version (for an inspection the phone started offline
    and the server has not seen yet); the site when given and the user may inspect it."""
    require_role(user, Role.inspector, Role.admin)
    version = session.get(TemplateVersion, version_id) if 0 < version_id <= MAX_ID else None
    if version is None or version.status != "published":
        raise NotFound(_("No such checklist."))
    site = sites.get_site(session, user, site_id) if site_id else Site(name="", district_id=0)
    draft = Inspection(
        client_uuid="",
        template_version_id=version.id,
        site_id=site.id or 0,
        inspector_id=user.id,
    )
    v = view(session, draft)
    v.site = site
    return v


def _answers(session: Session, inspection_id: int) -> list[Answer]:
    return list(session.exec(_ANSWERS, params={"inspection_id": inspection_id}).all())


def _answer_photo_ids(session: Session, answer_ids: list[int]) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    if not answer_ids:
        return out
    for link in session.exec(
        select(AnswerPhoto)
        .where(AnswerPhoto.answer_id.in_(answer_ids))
        .order_by(AnswerPhoto.position)
    ).all():
        out.setdefault(link.answer_id, []).append(link.photo_id)
    return out


# --- sites to pick -------------------------------------------------------------------------


def pick_sites(
    session: Session,
    user: User,
    *,
    now: datetime,
    soon_days: int,
    zone: ZoneInfo,
    q: str = "",
    lat: float | None = None,
    lon: float | None = None,
    limit: int = 20,
    planned: set[int] | frozenset[int] = frozenset(),
) -> list[due.SiteDue]:
    """Active sites the user may inspect matching the name: the pending sites of their plans
    (`planned`) first, then those due (overdue, never inspected, due soon), then the rest;
    within each, nearest first when a point is given, with their distance."""
    status = due.status_expression(session, now, soon_days).label("due_status")
    query = sites.scoped_sites(select(Site, status), user, None, q)
    first = case((Site.id.in_(list(planned)), 0), else_=1) if planned else None
    urgent = case((status.in_([s.value for s in due.URGENT]), 0), else_=1)
    if lat is not None and lon is not None:
        # Equirectangular distance is plenty to order sites within a city.
        k = math.cos(math.radians(lat))
        dist = (Site.lat - lat) * (Site.lat - lat) + (Site.lon - lon) * k * (Site.lon - lon) * k
        order = [urgent, Site.lat.is_(None), dist, Site.name]
    else:
        order = [urgent, due.urgency_expression(status), Site.name, Site.id]
    query = query.order_by(*([first] if first is not None else []), *order)
    today = local_today(zone, now)
    return [
        due.SiteDue(
            site,
            DueStatus(s),
            due.next_due(site, zone, today),
            distance_km(lat, lon, site.lat, site.lon),
            planned=site.id in planned,
        )
        for site, s in session.exec(query.limit(limit)).all()
    ]


def distance_km(lat1, lon1, lat2, lon2) -> float | None:
    if None in (lat1, lon1, lat2, lon2):
        return None
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = (
        math.sin((p2 - p1) / 2) ** 2
        + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    )
    return 6371.0 * 2 * math.asin(math.sqrt(a))


# --- writing -------------------------------------------------------------------------------


def _check_location(location) -> tuple[float, float] | None:
    """(lat, lon) from a dict, a LatLon-like object or a pair; None when absent."""
    if location is None:
        return None
    if isinstance(location, dict):
        lat, lon = location.get("lat"), location.get("lon")
    elif hasattr(location, "lat"):
        lat, lon = location.lat, location.lon
    else:
        lat, lon = location
    try:
        lat, lon = float(lat), float(lon)
    except (TypeError, ValueError):
        raise Invalid(_("The location is not a latitude and longitude.")) from None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180) or math.isnan(lat) or math.isnan(lon):
        raise Invalid(_("The location is not a latitude and longitude."))
    return lat, lon


def _check_uuid(client_uuid: str) -> str:
    client_uuid = (client_uuid or "").strip()
    if not client_uuid or len(client_uuid) > MAX_UUID:
        raise Invalid(_("A client_uuid of 1 to 64 characters is required."))
    return client_uuid


def _by_uuid(session: Session, user: User, client_uuid: str) -> Inspection | None:
    found = session.exec(select(Inspection).where(Inspection.client_uuid == client_uuid)).first()
    if found is not None and found.inspector_id != user.id:
        raise Conflict(_("This client_uuid is already used."))
    return found


def _create(
    session: Session,
    user: User,
    site_id: int,
    template_id: int,
    client_uuid: str,
    location,
    now: datetime,
    version_id: int | None = None,
    queued: bool = False,
) -> Inspection:
    require_role(user, Role.inspector, Role.admin)
    if not 0 < site_id <= MAX_ID:
        raise NotFound(_("No such site."))
    if not 0 < template_id <= MAX_ID:
        raise NotFound(_("No such checklist."))
    site = sites.get_site(session, user, site_id)
    flag = None
    if not site.is_active:
        # Started on a phone offline before the site was deactivated: keep it, flagged.
        if not queued:
            raise Invalid(_("This site is no longer active."))
        flag = InspectionFlag.site_inactive
    _template, version = checklists.get_template(session, template_id)
    if version_id is not None and version_id != version.id:
        # Filled offline on a version replaced since: stored against the version it was filled on.
        pinned = session.get(TemplateVersion, version_id) if 0 < version_id <= MAX_ID else None
        if pinned is None or pinned.template_id != template_id or pinned.status != "published":
            raise NotFound(_("No such checklist."))
        version = pinned
    point = _check_location(location)
    inspection = Inspection(
        client_uuid=client_uuid,
        template_version_id=version.id,
        site_id=site.id,
        inspector_id=user.id,
        status=InspectionStatus.draft,
        started_at=now,
        updated_at=now,
        lat=point[0] if point else None,
        lon=point[1] if point else None,
        location_source="device" if point else None,
        flag=flag,
    )
    session.add(inspection)
    session.flush()
    return inspection


def start_draft(
    session: Session,
    user: User,
    site_id: int,
    template_id: int,
    client_uuid: str,
    location=None,
    now: datetime | None = None,
    version_id: int | None = None,
    queued: bool = False,
) -> Inspection:
    """A new draft for a site the user may inspect, or the one this client_uuid already made.

    queued: sent from the phone's outbox (perhaps started offline hours ago), so a site
    deactivated meanwhile is flagged rather than refused; version_id pins the version filled."""
    client_uuid = _check_uuid(client_uuid)
    existing = _by_uuid(session, user, client_uuid)
    if existing is not None:
        return existing
    try:
        inspection = _create(
            session,
            user,
            site_id,
            template_id,
            client_uuid,
            location,
            now or utcnow(),
            version_id=version_id,
            queued=queued,
        )
        session.commit()
    except IntegrityError:  # the same start raced in; the first one wins
        session.rollback()
        return _by_uuid(session, user, client_uuid)
    except Exception:
        session.rollback()
        raise
    return inspection


def is_answered(item: TemplateItem, answer: Answer | None) -> bool:
    if answer is None:
        return False
    return answer.result is not None or bool((answer.value or "").strip())


def _clean(item: TemplateItem, raw: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """One answer checked against its item: the values to store and the problems found."""
    problems: list[str] = []
    result = raw.get("result") or None
    value = raw.get("value")
    value = None if value is None else str(value).strip() or None
    kind = item.response_type
    allowed = {
        ResponseType.pass_fail: ("pass", "fail"),
        ResponseType.yes_no: ("pass", "fail"),
    }.get(kind, RESULTS)
    if result is not None and result not in allowed:
        problems.append(_("Not a valid answer for this item: {result}").format(result=result))
    if kind == ResponseType.number and value is not None:
        try:
            number = float(value.replace(",", "."))
            if math.isnan(number) or math.isinf(number):
                raise ValueError
        except ValueError:
            problems.append(_("Enter a number."))
        else:
            outside = (item.min_value is not None and number < item.min_value) or (
                item.max_value is not None and number > item.max_value
            )
            # A value outside the limit fails the item on its own; inside, the inspector decides.
            result = "fail" if outside else (result if result in ("pass", "fail") else "pass")
    elif kind == ResponseType.number and result not in (None, "na"):
        problems.append(_("Enter the measured value."))
    if kind == ResponseType.choice and value is not None:
        if value not in (item.choices or []):
            problems.append(_("Pick one of the offered choices."))
        elif result is None:
            result = "pass"
    grade = raw.get("hazard_grade") or None
    if grade is not None and grade not in GRADES:
        problems.append(_("Unknown grade: {grade}").format(grade=grade))
    note = str(raw.get("note") or "").strip()
    description = str(raw.get("hazard_description") or "").strip()
    if any(len(t or "") > MAX_TEXT for t in (value, note, description)):
        problems.append(_("A text is longer than {n} characters.").format(n=MAX_TEXT))
    clean = {
        "result": result,
        "value": value,
        "note": note,
        "hazard_grade": grade,
        "hazard_description": description,
    }
    return clean, problems


def _write_answers(
    session: Session,
    user: User,
    inspection: Inspection,
    answers: list[dict[str, Any]],
    now: datetime,
    version: TemplateVersion | None = None,
) -> tuple[list[Answer], dict[int, Answer]]:
    """Check every answer, then upsert them all; any problem raises Invalid and writes nothing.
    Returns the answers given, stored, and every answer of the inspection by item id (the
    draft's progress is counted from these, without reading them again).

    An answer's photo_ids replace its photos when given (None leaves them as they are)."""
    version = version or session.get(TemplateVersion, inspection.template_version_id)
    items = {i.id: i for i in checklists.structure(session, version)[1]}
    errors: dict[int, list[str]] = {}
    checked = []
    seen: set[int] = set()
    for raw in answers:
        item = items.get(parse_id(raw.get("item_id"), _("Item")))
        if item is None:
            raise Invalid(
                _("Item {item} is not in this checklist.").format(item=raw.get("item_id"))
            )
        if item.id in seen:
            raise Invalid(_("Item {item} is answered twice.").format(item=item.id))
        seen.add(item.id)
        clean, problems = _clean(item, raw)
        photo_ids = raw.get("photo_ids")
        if photo_ids is not None:
            try:
                if not isinstance(photo_ids, list | tuple):
                    raise Invalid(_("Photo {id} is unknown or not yours.").format(id="?"))
                photo_ids = parse_ids(photo_ids, _("Photo"))
                photos.owned(session, user, photo_ids)
            except Invalid as exc:
                problems.append(exc.message)
        if problems:
            errors[item.id] = problems
        checked.append((item, clean, photo_ids))
    if errors:
        raise Invalid(_("Some answers are not valid; nothing was saved."), errors=errors)
    every = {a.item_id: a for a in _answers(session, inspection.id)}
    stored = []
    for item, clean, photo_ids in checked:
        found = every.get(item.id)
        answer = found or Answer(inspection_id=inspection.id, item_id=item.id)
        for key, value in clean.items():
            setattr(answer, key, value)
        answer.updated_at = now
        session.add(answer)
        if found is None and photo_ids:
            session.flush()  # the new answer's id, for its photo links; the rest at the commit
        every[item.id] = answer
        if photo_ids is not None and found is not None:  # a new answer has no photos yet
            links = session.exec(
                select(AnswerPhoto)
                .where(AnswerPhoto.answer_id == answer.id)
                .order_by(AnswerPhoto.position)
            ).all()
            if [link.photo_id for link in links] == photo_ids:
                photo_ids = None  # unchanged: nothing to rewrite
            else:
                for link in links:
                    session.delete(link)
                session.flush()
        if photo_ids:
            for position, photo_id in enumerate(photo_ids):
                session.add(AnswerPhoto(answer_id=answer.id, photo_id=photo_id, position=position))
        stored.append(answer)
    inspection.updated_at = now
    session.add(inspection)
    return stored, every


def save_answers(
    session: Session,
    user: User,
    inspection_id: int,
    answers: list[dict[str, Any]],
    now: datetime | None = None,
) -> list[Answer]:
    """Save several answers of one draft in one commit (a section of the plain form)."""
    inspection = get_draft(session, user, inspection_id)
    return _save(session, user, inspection, answers, now or utcnow())[0]


def _save(
    session: Session,
    user: User,
    inspection: Inspection,
    answers: list[dict[str, Any]],
    now: datetime,
    version: TemplateVersion | None = None,
) -> tuple[list[Answer], dict[int, Answer]]:
    """_write_answers, committed."""
    try:
        out = _write_answers(session, user, inspection, answers, now, version)
        session.commit()
    except IntegrityError:  # the same answer raced in from another tab: write over it
        session.rollback()
        out = _write_answers(session, user, inspection, answers, now)
        session.commit()
    except Exception:
        session.rollback()
        raise
    return out


def answer_with_progress(
    session: Session, user: User, ref: str, raw: dict[str, Any], now: datetime | None = None
) -> tuple[InspectionView, dict[int, list[str]]]:
    """The checklist page's save of one answer, sent on every tap: (the draft's progress, the
    problems per item id). A refused answer stores nothing; its problems come back with the
    progress of what is stored. `ref` is the page path's id or client_uuid.

    The cheapest write of the app, being the most frequent: one transaction of five statements
    (the draft with its version, its answers, the answer and the draft's time written), the
    progress counted from the rows read (view(full=False))."""
    inspection, version = _draft_by_ref(session, user, ref)
    try:
        every = _save(session, user, inspection, [raw], now or utcnow(), version)[1]
    except Invalid as exc:
        if not isinstance(exc.errors, dict):
            raise
        return view(session, inspection, full=False), exc.errors
    return _view(session, inspection, version, every.values(), full=False), {}


def save_answer(
    session: Session,
    user: User,
    inspection_id: int,
    item_id: int,
    *,
    result: str | None = None,
    value: Any = None,
    note: str = "",
    hazard_grade: str | None = None,
    hazard_description: str = "",
    photo_ids: list[int] | None = None,
    now: datetime | None = None,
) -> Answer:
    """Save one answer as it is given (upsert by inspection and item)."""
    raw = {
        "item_id": item_id,
        "result": result,
        "value": value,
        "note": note,
        "hazard_grade": hazard_grade,
        "hazard_description": hazard_description,
        "photo_ids": photo_ids,
    }
    return save_answers(session, user, inspection_id, [raw], now)[0]


def set_signature(
    session: Session,
    user: User,
    inspection_id: int,
    photo_id: int | None,
    now: datetime | None = None,
) -> Inspection:
    """The site representative's signature (drawn on the phone, uploaded as a photo) on a draft;
    None removes it."""
    inspection = get_draft(session, user, inspection_id)
    if photo_id is not None:
        photos.owned(session, user, [photo_id])
    inspection.signature_photo_id = photo_id
    inspection.updated_at = now or utcnow()
    session.add(inspection)
    session.commit()
    return inspection


def check_complete(session: Session, inspection: Inspection) -> dict[int, list[str]]:
    """Every problem that blocks submission, per item id (empty when the checklist is complete)."""
    return _problems(view(session, inspection))


def _problems(v: InspectionView) -> dict[int, list[str]]:
    problems: dict[int, list[str]] = {}
    for row in v.rows:
        found = []
        if row.answer is None or not row.answered:
            if row.item.required:
                found.append(_("Answer this item."))
        else:
            raw = {
                k: getattr(row.answer, k)
                for k in ("result", "value", "note", "hazard_grade", "hazard_description")
            }
            found += _clean(row.item, raw)[1]
            if (
                row.answer.result == "fail"
                and row.item.photo_required_on_fail
                and not row.photo_ids
            ):
                found.append(_("A failed item needs at least one photo."))
        if found:
            problems[row.item.id] = found
    return problems


def _point_of(photo_rows: list[Photo]) -> tuple[float, float] | None:
    return next(
        (
            (p.gps_lat, p.gps_lon)
            for p in photo_rows
            if p.gps_lat is not None and p.gps_lon is not None
        ),
        None,
    )


def _district_mismatch(
    session: Session, site: Site, point: tuple[float, float] | None
) -> int | None:
    """The district holding the point when it is not the site's (the hazard keeps the site's)."""
    if point is None:
        return None
    found = geo.district_at(session, point[0], point[1])
    return found if found is not None and found != site.district_id else None


def _finalise(
    session: Session, user: User, inspection: Inspection, location, now: datetime
) -> list[Hazard]:
    """Check, place, turn failed items into hazards and mark submitted; raises Invalid with every problem."""
    # Only one submission can flip draft -> submitted; a concurrent second one finds nothing to
    # flip. Flipped first, the checklist is read once, after any answer save that was under way:
    # what is checked is what the hazards are made from (a refusal's rollback undoes the flip).
    flipped = session.execute(
        update(Inspection)
        .where(Inspection.id == inspection.id, Inspection.status == InspectionStatus.draft)
        .values(status=InspectionStatus.submitted)
    ).rowcount
    if not flipped:
        raise _AlreadySubmitted
    v = view(session, inspection)
    problems = _problems(v)
    if problems:
        raise Invalid(_("The checklist is not complete."), errors=problems)
    site = v.site
    device = _check_location(location) or (
        (inspection.lat, inspection.lon) if inspection.location_source == "device" else None
    )
    photo_point = _point_of(list(v.photos.values()))
    site_point = (site.lat, site.lon) if site.lat is not None and site.lon is not None else None
    point, source = next(
        (
            (p, s)
            for p, s in ((device, "device"), (photo_point, "photo"), (site_point, "site"))
            if p is not None
        ),
        (None, None),
    )
    created = []
    for s in v.sections:
        for row in s.rows:
            if row.answer is None or row.answer.result != "fail":
                continue
            own = _point_of([v.photos[p] for p in row.photo_ids if p in v.photos])
            at = device or own or point
            created.append(
                hazards.create_hazard(
                    session,
                    reporter=user,
                    site=site,
                    grade=row.answer.hazard_grade or row.item.default_grade,
                    category=s.section.title_zh,
                    description=row.answer.hazard_description or not_met(row.item),
                    photo_ids=row.photo_ids,
                    lat=at[0] if at else None,
                    lon=at[1] if at else None,
                    location_district_id=_district_mismatch(session, site, at),
                    inspection_id=inspection.id,
                    item_id=row.item.id,
                    now=now,
                )
            )
    inspection.status = InspectionStatus.submitted
    inspection.submitted_at = now
    inspection.updated_at = now
    inspection.lat, inspection.lon = point if point else (None, None)
    inspection.location_source = source
    inspection.location_district_id = _district_mismatch(session, site, point)
    session.add(inspection)
    if site.last_inspected_at is None or _aware(site.last_inspected_at) < now:
        site.last_inspected_at = now
        session.add(site)
    return created


def not_met(item: TemplateItem) -> str:
    """A failed item's finding when the inspector wrote none: the prompt states compliance
    ("应急预案已制定并备案"), so alone it would read as if all were well."""
    prompt = item.prompt_en if current_locale.get() == "en" and item.prompt_en else item.prompt_zh
    return _("Not met: {prompt}").format(prompt=prompt)


def _aware(value: datetime) -> datetime:
    """SQLite hands datetimes back naive; they are UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class _AlreadySubmitted(Exception):
    """Internal: another request submitted this inspection first."""


def submit(
    session: Session, user: User, inspection_id: int, location=None, now: datetime | None = None
) -> tuple[Inspection, list[Hazard], bool]:
    """Submit the user's draft: (inspection, its hazards, whether this call submitted it).

    Submitting an already submitted inspection again returns the first result (a double tap)."""
    inspection = _fetch(session, inspection_id)
    if inspection is None or inspection.inspector_id != user.id:
        raise NotFound(_("No such inspection."))
    if inspection.status == InspectionStatus.submitted:
        return inspection, hazards_of(session, inspection.id), False
    try:
        created = _finalise(session, user, inspection, location, now or utcnow())
        session.commit()
    except _AlreadySubmitted:
        session.rollback()
        session.refresh(inspection)
        return inspection, hazards_of(session, inspection.id), False
    except Exception:
        session.rollback()
        raise
    return inspection, created, True


def submit_payload(
    session: Session,
    user: User,
    payload: dict[str, Any],
    now: datetime | None = None,
) -> tuple[Inspection, list[Hazard], bool]:
    """The API's one-shot submission: create, answer and submit in ONE transaction.

    payload: the POST /inspections body as plain data (client_uuid, template_id, site_id,
    location {lat, lon} or None, answers as save_answers takes them); the API checks its shape
    (schemas.InspectionIn), the rules are checked here.
    The same client_uuid again returns the first result and creates nothing (created=False);
    a draft started with that client_uuid is completed with the payload's answers."""
    now = now or utcnow()
    client_uuid = _check_uuid(str(payload.get("client_uuid") or ""))
    site_id, template_id = payload.get("site_id"), payload.get("template_id")
    if not all(type(v) is int for v in (site_id, template_id)):  # an id no row has is 404 below
        raise Invalid(_("A site_id and a template_id are required."))
    raw_answers = payload.get("answers") or []
    if not isinstance(raw_answers, list) or not all(isinstance(a, dict) for a in raw_answers):
        raise Invalid(_("The answers are a list of objects."))
    location = payload.get("location")
    existing = _by_uuid(session, user, client_uuid)
    if existing is not None and existing.status == InspectionStatus.submitted:
        return existing, hazards_of(session, existing.id), False
    answers = [{"photo_ids": [], **a} for a in raw_answers]  # no photo_ids: none (not "keep")
    try:
        if existing is None:
            inspection = _create(session, user, site_id, template_id, client_uuid, location, now)
        else:
            inspection = existing
            if (inspection.site_id, _template_of(session, inspection)) != (site_id, template_id):
                raise Conflict(
                    _("This client_uuid belongs to an inspection of another site or checklist.")
                )
        _write_answers(session, user, inspection, answers, now)
        created = _finalise(session, user, inspection, location, now)
        session.commit()
    except (
        IntegrityError,
        _AlreadySubmitted,
    ):  # an identical post won the race: answer with its result
        session.rollback()
        first = _by_uuid(session, user, client_uuid)
        if first is None:
            raise
        return first, hazards_of(session, first.id), False
    except Exception:
        session.rollback()
        raise
    return inspection, created, True


def _template_of(session: Session, inspection: Inspection) -> int:
    return session.get(TemplateVersion, inspection.template_version_id).template_id
