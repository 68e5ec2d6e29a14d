"""Tables only. Times are timezone-aware UTC; dates (deadlines) are local calendar dates.

Rules live in inspect_app.domain; this module knows nothing of HTTP or templates.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint
from sqlmodel import AutoString, Field, SQLModel


def utcnow() -> datetime:
    """Aware UTC now: SQLModel refuses naive datetimes, and every table stores UTC."""
    return datetime.now(UTC)


# The vocabulary. Columns typed with these enums are stored as VARCHAR (AutoString of the same
# length as before), not as a database enum type: adding a value needs no migration, and rows
# read back compare equal to the members (StrEnum).


class Role(StrEnum):
    inspector = "inspector"
    officer = "officer"
    office = "office"
    admin = "admin"


class Grade(StrEnum):
    general = "general"
    major = "major"


class HazardStatus(StrEnum):
    reported = "reported"
    rectifying = "rectifying"
    rectified = "rectified"
    accepted = "accepted"


class DueStatus(StrEnum):
    """When a site must next be inspected (domain/due.py computes it in SQL)."""

    overdue = "overdue"
    due_soon = "due_soon"
    ok = "ok"
    never = "never"


class InspectionStatus(StrEnum):
    draft = "draft"
    submitted = "submitted"


class InspectionFlag(StrEnum):
    """Why the office should look at an inspection that was stored anyway (synced from a phone)."""

    site_inactive = "site_inactive"  # the site was deactivated while the phone was offline


class ResponseType(StrEnum):
    pass_fail = "pass_fail"
    pass_fail_na = "pass_fail_na"
    yes_no = "yes_no"
    number = "number"
    text = "text"
    choice = "choice"


# --- people and access -------------------------------------------------------------------


class District(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, max_length=100)
    code: str = Field(unique=True, max_length=20)
    boundary: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    centroid_lat: float | None = None
    centroid_lon: float | None = None
    created_at: datetime = Field(default_factory=utcnow)


class User(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(unique=True, index=True, max_length=64)
    display_name: str = Field(default="", max_length=100)
    password_hash: str
    role: Role = Field(sa_type=AutoString(16))
    district_id: int | None = Field(default=None, foreign_key="district.id", index=True)
    is_active: bool = True
    locale: str | None = Field(default=None, max_length=10)
    email: str | None = Field(default=None, max_length=254)  # for notices (inspect-app notify)
    created_at: datetime = Field(default_factory=utcnow)


class AuthSession(SQLModel, table=True):
    """A browser session (cookie) or an API token; only the token's hash is stored."""

    __tablename__ = "auth_session"
    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(unique=True, index=True, max_length=64)
    user_id: int = Field(foreign_key="user.id", index=True)
    kind: str = Field(max_length=10)  # "cookie" | "token"
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime


class LoginAttempt(SQLModel, table=True):
    __tablename__ = "login_attempt"
    __table_args__ = (
        Index("ix_login_attempt_username_at", "username", "at"),
        Index("ix_login_attempt_address_at", "address", "at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64)
    address: str = Field(max_length=64)
    at: datetime = Field(default_factory=utcnow)
    success: bool = False


class LoginThrottle(SQLModel, table=True):
    """Failed sign-ins counted per bucket (a user from one address, an address, a user), updated
    only by one atomic INSERT ... ON CONFLICT DO UPDATE, so that concurrent attempts on several
    workers or servers cannot all pass the same limit. Times are epoch seconds."""

    __tablename__ = "login_throttle"
    # Pruning old buckets: WHERE window_start < ?.
    __table_args__ = (Index("ix_login_throttle_window_start", "window_start"),)
    bucket: str = Field(primary_key=True, max_length=64)  # sha256 of kind|username|address
    failures: int = 0
    window_start: float = 0.0
    not_before: float = 0.0  # the user ceiling: no attempt before this time
    delay: float = 0.0  # the current delay, doubling past the ceiling


class AuditLog(SQLModel, table=True):
    """Who changed what in administration (users, sites, districts, templates)."""

    __tablename__ = "audit_log"
    id: int | None = Field(default=None, primary_key=True)
    actor_id: int | None = Field(default=None, foreign_key="user.id", index=True)
    at: datetime = Field(default_factory=utcnow, index=True)
    action: str = Field(max_length=50)
    object_type: str = Field(max_length=30)
    object_id: int | None = None
    detail: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))


# --- sites and checklists ------------------------------------------------------------------


class Site(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200, index=True)
    address: str = Field(default="", max_length=300)
    district_id: int = Field(foreign_key="district.id", index=True)
    risk_class: str = Field(default="C", max_length=10)  # A (highest) .. D
    cadence_days: int = 30
    lat: float | None = None
    lon: float | None = None
    is_active: bool = True
    # Submitted time of the newest inspection: kept by inspection submit, for coverage.
    last_inspected_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)


class ChecklistTemplate(SQLModel, table=True):
    __tablename__ = "checklist_template"
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True, max_length=64)
    name_zh: str = Field(max_length=200)
    name_en: str = Field(default="", max_length=200)
    is_active: bool = True
    created_at: datetime = Field(default_factory=utcnow)


class TemplateVersion(SQLModel, table=True):
    """One version of a checklist: a draft while edited, immutable once published."""

    __tablename__ = "template_version"
    __table_args__ = (UniqueConstraint("template_id", "version"),)
    id: int | None = Field(default=None, primary_key=True)
    template_id: int = Field(foreign_key="checklist_template.id", index=True)
    version: int
    status: str = Field(default="draft", max_length=12)  # draft | published
    note: str = Field(default="", max_length=500)
    created_at: datetime = Field(default_factory=utcnow)
    published_at: datetime | None = None
    published_by: int | None = Field(default=None, foreign_key="user.id")


class TemplateSection(SQLModel, table=True):
    __tablename__ = "template_section"
    id: int | None = Field(default=None, primary_key=True)
    version_id: int = Field(foreign_key="template_version.id", index=True)
    key: str = Field(max_length=64)
    position: int = 0
    title_zh: str = Field(max_length=200)
    title_en: str = Field(default="", max_length=200)


class TemplateItem(SQLModel, table=True):
    __tablename__ = "template_item"
    id: int | None = Field(default=None, primary_key=True)
    version_id: int = Field(foreign_key="template_version.id", index=True)
    section_id: int = Field(foreign_key="template_section.id", index=True)
    key: str = Field(max_length=64)
    position: int = 0
    prompt_zh: str = Field(max_length=500)
    prompt_en: str = Field(default="", max_length=500)
    guidance: str = Field(default="", max_length=2000)
    basis: str = Field(default="", max_length=500)
    response_type: ResponseType = Field(sa_type=AutoString(16))
    choices: list[str] | None = Field(default=None, sa_column=Column(JSON))
    min_value: float | None = None
    max_value: float | None = None
    unit: str = Field(default="", max_length=20)
    photo_required_on_fail: bool = False
    required: bool = True
    default_grade: Grade = Field(default=Grade.general, sa_type=AutoString(10))


# --- inspections and photos ----------------------------------------------------------------


class Photo(SQLModel, table=True):
    """One upload by one user. Files are content-addressed by sha256, so equal bytes share files;
    one user's equal bytes are one row."""

    __table_args__ = (UniqueConstraint("uploaded_by", "sha256"),)
    id: int | None = Field(default=None, primary_key=True)
    sha256: str = Field(index=True, max_length=64)
    uploaded_by: int = Field(foreign_key="user.id", index=True)
    created_at: datetime = Field(default_factory=utcnow)
    width: int
    height: int
    original_format: str = Field(max_length=10)
    original_bytes: int
    taken_at: datetime | None = None
    gps_lat: float | None = None
    gps_lon: float | None = None


class Inspection(SQLModel, table=True):
    __table_args__ = (
        Index("ix_inspection_inspector_status", "inspector_id", "status"),
        # Coverage (domain/stats.py): the newest submitted inspection of a site, by one seek.
        Index("ix_inspection_site_submitted", "site_id", "submitted_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    client_uuid: str = Field(unique=True, max_length=64)
    template_version_id: int = Field(foreign_key="template_version.id", index=True)
    site_id: int = Field(foreign_key="site.id", index=True)
    inspector_id: int = Field(foreign_key="user.id")
    status: InspectionStatus = Field(default=InspectionStatus.draft, sa_type=AutoString(12))
    started_at: datetime = Field(default_factory=utcnow)
    submitted_at: datetime | None = Field(default=None, index=True)
    updated_at: datetime = Field(default_factory=utcnow)
    lat: float | None = None
    lon: float | None = None
    location_source: str | None = Field(default=None, max_length=10)  # device | photo | site
    # District whose boundary holds the location when it is not the site's district.
    location_district_id: int | None = Field(default=None, foreign_key="district.id")
    signature_photo_id: int | None = Field(default=None, foreign_key="photo.id")
    flag: str | None = Field(default=None, max_length=20)  # InspectionFlag


class Answer(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("inspection_id", "item_id"),)
    id: int | None = Field(default=None, primary_key=True)
    inspection_id: int = Field(foreign_key="inspection.id", index=True)
    item_id: int = Field(foreign_key="template_item.id")
    result: str | None = Field(default=None, max_length=4)  # pass | fail | na
    value: str | None = Field(default=None, max_length=2000)
    note: str = Field(default="", max_length=2000)
    hazard_grade: Grade | None = Field(default=None, sa_type=AutoString(10))
    hazard_description: str = Field(default="", max_length=2000)
    updated_at: datetime = Field(default_factory=utcnow)


class AnswerPhoto(SQLModel, table=True):
    __tablename__ = "answer_photo"
    answer_id: int = Field(foreign_key="answer.id", primary_key=True)
    photo_id: int = Field(foreign_key="photo.id", primary_key=True)
    position: int = 0


# --- hazards and the closed loop -------------------------------------------------------------


class Hazard(SQLModel, table=True):
    __table_args__ = (
        Index("ix_hazard_district_status", "district_id", "status"),
        Index("ix_hazard_status_deadline", "status", "deadline"),
        Index("ix_hazard_district_created", "district_id", "created_at"),
        Index("ix_hazard_grade_status", "grade", "status"),
        Index("ix_hazard_client_uuid", "client_uuid", unique=True),
        # Covering indexes of the district statistics (domain/stats.py): each figure is one range scan.
        Index(
            "ix_hazard_accepted_cover",
            "accepted_at",
            "created_at",
            "district_id",
            "grade",
            "deadline",
        ),
        Index("ix_hazard_created_cover", "created_at", "district_id", "grade"),
        Index("ix_hazard_deadline_cover", "deadline", "district_id", "grade", "accepted_at"),
        # The map (domain/geo.py hazard_map): open hazards' positions without touching the table.
        Index(
            "ix_hazard_status_map",
            "status",
            "lat",
            "lon",
            "grade",
            "deadline",
            "site_id",
            "district_id",
        ),
    )
    id: int | None = Field(default=None, primary_key=True)
    # A hazard reported on its own (随手拍) carries its phone's id: a retry returns the first one.
    client_uuid: str | None = Field(default=None, max_length=64)
    inspection_id: int | None = Field(default=None, foreign_key="inspection.id", index=True)
    item_id: int | None = Field(default=None, foreign_key="template_item.id")
    site_id: int = Field(foreign_key="site.id", index=True)
    district_id: int = Field(foreign_key="district.id")
    reporter_id: int = Field(foreign_key="user.id", index=True)
    grade: Grade = Field(sa_type=AutoString(10))
    category: str = Field(default="", max_length=200)
    description: str = Field(default="", max_length=2000)
    status: HazardStatus = Field(default=HazardStatus.reported, sa_type=AutoString(12))
    created_at: datetime = Field(default_factory=utcnow, index=True)
    updated_at: datetime = Field(default_factory=utcnow)
    lat: float | None = None
    lon: float | None = None
    # Set when the reported point lies in another district's boundary than the site's.
    location_district_id: int | None = Field(default=None, foreign_key="district.id")
    deadline: date | None = None  # the plan's deadline, copied here for overdue queries
    rectified_at: datetime | None = None
    accepted_at: datetime | None = Field(default=None, index=True)
    version: int = 1  # optimistic lock: every transition bumps it


class HazardPhoto(SQLModel, table=True):
    __tablename__ = "hazard_photo"
    hazard_id: int = Field(foreign_key="hazard.id", primary_key=True)
    photo_id: int = Field(foreign_key="photo.id", primary_key=True)
    kind: str = Field(default="finding", max_length=16)  # finding | rectification
    position: int = 0


class PlanBase(SQLModel):
    """The five determinations (五定), plus what a major-hazard governance plan must state;
    the fields and their limits written once for the table and the API (PlanIn, PlanOut)."""

    responsible_person: str = Field(max_length=100)
    measures: str = Field(max_length=2000)
    deadline: date
    rectifier: str = Field(max_length=100)
    acceptor: str = Field(max_length=100)
    funds: str = Field(default="", max_length=500)
    interim_measures: str = Field(default="", max_length=2000)
    stop_production: bool | None = None


class RectificationPlan(PlanBase, table=True):
    __tablename__ = "rectification_plan"
    id: int | None = Field(default=None, primary_key=True)
    hazard_id: int = Field(foreign_key="hazard.id", unique=True)
    set_by: int = Field(foreign_key="user.id")
    set_at: datetime = Field(default_factory=utcnow)


class HazardEvent(SQLModel, table=True):
    """Append-only history of a hazard: never updated, never deleted."""

    __tablename__ = "hazard_event"
    id: int | None = Field(default=None, primary_key=True)
    hazard_id: int = Field(foreign_key="hazard.id", index=True)
    actor_id: int = Field(foreign_key="user.id")
    at: datetime = Field(default_factory=utcnow)
    action: str = Field(max_length=16)  # created | plan | rectify | accept | reject
    from_status: HazardStatus | None = Field(default=None, sa_type=AutoString(12))
    to_status: HazardStatus = Field(sa_type=AutoString(12))
    payload: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))


# --- reports ---------------------------------------------------------------------------------


class Report(SQLModel, table=True):
    """A stored weekly report: served again until the data of its week changes."""

    __table_args__ = (Index("ix_report_week_district", "week", "district_id"),)
    id: int | None = Field(default=None, primary_key=True)
    week: str = Field(max_length=8)  # 2026-W47
    district_id: int | None = Field(default=None, foreign_key="district.id")
    data_version: str = Field(max_length=64)
    sha256: str = Field(max_length=64)
    size: int
    created_at: datetime = Field(default_factory=utcnow)
    created_by: int | None = Field(default=None, foreign_key="user.id")


# --- routine: inspection plans and notices -------------------------------------------------


class InspectionPlan(SQLModel, table=True):
    """An inspection plan or special campaign (检查计划 / 专项检查): sites to inspect with one
    checklist within a window of local days. A site is done when an inspection of it with the
    plan's checklist is submitted inside the window (domain/plans.py)."""

    __tablename__ = "inspection_plan"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    template_id: int = Field(foreign_key="checklist_template.id", index=True)
    # The officer's district when an officer made it; None for a city-wide (office) plan.
    district_id: int | None = Field(default=None, foreign_key="district.id", index=True)
    starts: date = Field(index=True)
    ends: date = Field(index=True)
    # The window as UTC instants (start of `starts`, start of the day after `ends`, in the
    # city's time zone), so that progress compares submission times in one SQL join.
    window_start: datetime
    window_end: datetime
    created_by: int = Field(foreign_key="user.id")
    created_at: datetime = Field(default_factory=utcnow)


class PlanSite(SQLModel, table=True):
    __tablename__ = "plan_site"
    plan_id: int = Field(foreign_key="inspection_plan.id", primary_key=True)
    site_id: int = Field(foreign_key="site.id", primary_key=True, index=True)


class PlanInspector(SQLModel, table=True):
    __tablename__ = "plan_inspector"
    plan_id: int = Field(foreign_key="inspection_plan.id", primary_key=True)
    user_id: int = Field(foreign_key="user.id", primary_key=True, index=True)


class Notice(SQLModel, table=True):
    """One message of `inspect-app notify` to one recipient on one local day: the unique key
    makes a second run that day send nothing new; a failed one is retried on the next run."""

    __table_args__ = (UniqueConstraint("day", "recipient"),)
    id: int | None = Field(default=None, primary_key=True)
    day: date = Field(index=True)
    recipient: str = Field(max_length=300)  # user:ID or webhook
    user_id: int | None = Field(default=None, foreign_key="user.id")
    channel: str = Field(max_length=10)  # email | webhook
    address: str = Field(default="", max_length=300)  # the e-mail address (the webhook: empty)
    subject: str = Field(default="", max_length=300)
    status: str = Field(default="pending", max_length=10)  # pending | sent | failed
    attempts: int = 0
    error: str = Field(default="", max_length=1000)
    created_at: datetime = Field(default_factory=utcnow)
    sent_at: datetime | None = None
