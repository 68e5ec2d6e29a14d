"""API input and output models (the JSON contract of /api/v1)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, Field

from inspect_app.models import (
    DueStatus,
    Grade,
    HazardStatus,
    InspectionStatus,
    PlanBase,
    ResponseType,
)

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int


# The deepest offset a list accepts: a larger one overflows the database's 64-bit integer (500).
MAX_OFFSET = 1_000_000_000


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"


class LatLon(BaseModel):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class PhotoOut(BaseModel):
    """A stored photo: its web copy and thumbnail URLs; capture time and GPS kept as data."""

    id: int
    width: int
    height: int
    sha256: str
    taken_at: datetime | None = None
    gps: LatLon | None = None
    url: str
    thumb_url: str


class DistrictOut(BaseModel):
    id: int
    name: str
    code: str
    centroid: LatLon | None = None


class SiteOut(BaseModel):
    id: int
    name: str
    address: str
    district_id: int
    district: str
    risk_class: str
    cadence_days: int
    location: LatLon | None = None
    last_inspected_at: datetime | None = None
    next_due: date | None = None  # last inspection + cadence (local day); today if never
    due_status: DueStatus | None = None
    is_active: bool


class ItemOut(BaseModel):
    id: int
    key: str
    prompt_zh: str
    prompt_en: str
    guidance: str
    basis: str
    response_type: ResponseType
    choices: list[str] | None = None
    min_value: float | None = None
    max_value: float | None = None
    unit: str
    photo_required_on_fail: bool
    required: bool
    default_grade: Grade


class SectionOut(BaseModel):
    id: int
    key: str
    title_zh: str
    title_en: str
    items: list[ItemOut]


class TemplateOut(BaseModel):
    id: int
    key: str
    name_zh: str
    name_en: str
    version_id: int
    version: int
    published_at: datetime | None = None


class TemplateDetail(TemplateOut):
    sections: list[SectionOut]


class NamedRef(BaseModel):
    id: int
    name: str


class PlanOut(PlanBase):
    set_at: datetime


class EventOut(BaseModel):
    id: int
    action: str
    from_status: HazardStatus | None
    to_status: HazardStatus
    at: datetime
    actor_id: int
    actor: str
    payload: dict[str, Any] | None = None


class PhotoRef(BaseModel):
    id: int
    url: str
    thumb_url: str
    kind: str = "finding"


class HazardOut(BaseModel):
    id: int
    grade: Grade
    category: str
    description: str
    status: HazardStatus
    overdue: bool
    deadline: date | None = None
    created_at: datetime
    accepted_at: datetime | None = None
    site: NamedRef
    district: NamedRef
    location: LatLon | None = None
    inspection_id: int | None = None
    item_id: int | None = None
    reporter_id: int
    version: int


class HazardDetail(HazardOut):
    plan: PlanOut | None = None
    photos: list[PhotoRef] = []
    events: list[EventOut] = []


# --- hazard loop inputs (POST /api/v1/hazards/{id}/plan|rectify|accept|reject) ---------------


class TransitionIn(BaseModel):
    version: int | None = Field(
        default=None,
        description="the hazard version the client saw; a stale one is refused with 409",
    )


class PlanIn(PlanBase, TransitionIn):
    """The five determinations (五定); funds, interim_measures and stop_production are required
    for major hazards."""


class RectifyIn(TransitionIn):
    note: str = Field(max_length=2000)
    photo_ids: list[int] = Field(default_factory=list, max_length=20)


class RejectIn(TransitionIn):
    reason: str = Field(max_length=2000)


# --- inspections -------------------------------------------------------------------------------


class AnswerIn(BaseModel):
    item_id: int
    result: Literal["pass", "fail", "na"] | None = None
    value: str | float | int | None = Field(
        default=None, description="number, text or choice items"
    )
    note: str = Field(default="", max_length=2000)
    photo_ids: list[int] = Field(default=[], max_length=50)
    hazard_grade: Grade | None = Field(
        default=None, description="when failed: the hazard's grade (default: the item's)"
    )
    hazard_description: str = Field(
        default="", max_length=2000, description="when failed (default: the prompt)"
    )


class InspectionIn(BaseModel):
    """One inspection submitted in one request; the same client_uuid again returns the first result."""

    client_uuid: str = Field(min_length=1, max_length=64)
    template_id: int
    site_id: int
    location: LatLon | None = None
    answers: list[AnswerIn] = Field(default=[], max_length=1000)


class AnswerOut(BaseModel):
    item_id: int
    item_key: str
    result: str | None = None
    value: str | None = None
    note: str = ""
    hazard_grade: Grade | None = None
    hazard_description: str = ""
    photo_ids: list[int] = []
    photos: list[PhotoRef] = []


class InspectionCreated(BaseModel):
    id: int
    status: InspectionStatus
    hazards: list[HazardOut]


class InspectionOut(BaseModel):
    id: int
    client_uuid: str
    status: InspectionStatus
    template_id: int
    template_version_id: int
    site: NamedRef
    district: NamedRef
    inspector: NamedRef
    started_at: datetime
    submitted_at: datetime | None = None
    location: LatLon | None = None
    location_source: str | None = None
    location_district_id: int | None = None
    # Why the office should look at it although it was stored (e.g. "site_inactive": the site
    # was deactivated while the phone that started it was offline).
    flag: str | None = None
    answered: int
    total: int
    failed: int


class InspectionDetail(InspectionOut):
    answers: list[AnswerOut] = []
    hazards: list[HazardOut] = []


# --- routine: hazards reported on their own, inspection plans ----------------------------------


class HazardReportIn(BaseModel):
    """A hazard found outside a checklist (随手拍); the same client_uuid again returns the first."""

    client_uuid: str = Field(min_length=1, max_length=64)
    site_id: int
    grade: Literal["general", "major"]
    category: str = Field(default="", max_length=200)
    description: str = Field(min_length=1, max_length=2000)
    location: LatLon | None = None
    photo_ids: list[int] = Field(default_factory=list, max_length=20)


class InspectionPlanIn(BaseModel):
    """An inspection plan: sites picked by id, or (site_ids empty) every active site of a
    district and optional risk classes; a window of local days; optional inspectors."""

    name: str = Field(min_length=1, max_length=200)
    template_id: int
    site_ids: list[int] = Field(default_factory=list, max_length=5000)
    district: (
        Annotated[int, Field(ge=1, le=2**63 - 1)] | Annotated[str, Field(max_length=100)] | None
    ) = Field(default=None, description="district name or id")
    risk_classes: list[Literal["A", "B", "C", "D"]] = Field(default_factory=list, max_length=4)
    starts: date
    ends: date
    inspector_ids: list[int] = Field(default_factory=list, max_length=500)


class CreatedOut(BaseModel):
    id: int


class InspectionPlanOut(BaseModel):
    id: int
    name: str
    template_id: int
    template: str
    district_id: int | None
    district: str
    starts: date
    ends: date
    state: Literal["upcoming", "running", "finished"]
    inspector_ids: list[int]
    sites_total: int
    sites_done: int
    created_by: int
    created_at: datetime


class PlanSiteOut(BaseModel):
    site: NamedRef
    district: str
    done_at: datetime | None
    inspection_id: int | None


class InspectionPlanDetail(InspectionPlanOut):
    sites: list[PlanSiteOut]
