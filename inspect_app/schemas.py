"""API input and output models (the JSON contract of /api/v1)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Generic, Literal, Optional, TypeVar

from pydantic import BaseModel, Field

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
    taken_at: Optional[datetime] = None
    gps: Optional[LatLon] = None
    url: str
    thumb_url: str


class DistrictOut(BaseModel):
    id: int
    name: str
    code: str
    centroid: Optional[LatLon] = None


class SiteOut(BaseModel):
    id: int
    name: str
    address: str
    district_id: int
    district: str
    risk_class: str
    cadence_days: int
    location: Optional[LatLon] = None
    last_inspected_at: Optional[datetime] = None
    is_active: bool


class ItemOut(BaseModel):
    id: int
    key: str
    prompt_zh: str
    prompt_en: str
    guidance: str
    basis: str
    response_type: str
    choices: Optional[list[str]] = None
    min_value: Optional[float] = None
    max_value: Optional[float] = None
    unit: str
    photo_required_on_fail: bool
    required: bool
    default_grade: str


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
    published_at: Optional[datetime] = None


class TemplateDetail(TemplateOut):
    sections: list[SectionOut]


class NamedRef(BaseModel):
    id: int
    name: str


class PlanOut(BaseModel):
    responsible_person: str
    measures: str
    deadline: date
    rectifier: str
    acceptor: str
    funds: str = ""
    interim_measures: str = ""
    stop_production: Optional[bool] = None
    set_at: datetime


class EventOut(BaseModel):
    id: int
    action: str
    from_status: Optional[str]
    to_status: str
    at: datetime
    actor_id: int
    actor: str
    payload: Optional[dict[str, Any]] = None


class PhotoRef(BaseModel):
    id: int
    url: str
    thumb_url: str
    kind: str = "finding"


class HazardOut(BaseModel):
    id: int
    grade: str
    category: str
    description: str
    status: str
    overdue: bool
    deadline: Optional[date] = None
    created_at: datetime
    accepted_at: Optional[datetime] = None
    site: NamedRef
    district: NamedRef
    location: Optional[LatLon] = None
    inspection_id: Optional[int] = None
    item_id: Optional[int] = None
    reporter_id: int
    version: int


class HazardDetail(HazardOut):
    plan: Optional[PlanOut] = None
    photos: list[PhotoRef] = []
    events: list[EventOut] = []


# --- hazard loop inputs (POST /api/v1/hazards/{id}/plan|rectify|accept|reject) ---------------


class TransitionIn(BaseModel):
    version: Optional[int] = Field(
        default=None, description="the hazard version the client saw; a stale one is refused with 409"
    )


class PlanIn(TransitionIn):
    """The five determinations (五定); funds, interim_measures and stop_production are required
    for major hazards."""

    responsible_person: str = Field(max_length=100)
    measures: str = Field(max_length=2000)
    deadline: date
    rectifier: str = Field(max_length=100)
    acceptor: str = Field(max_length=100)
    funds: str = Field(default="", max_length=500)
    interim_measures: str = Field(default="", max_length=2000)
    stop_production: Optional[bool] = None


class RectifyIn(TransitionIn):
    note: str = Field(max_length=2000)
    photo_ids: list[int] = Field(default_factory=list, max_length=20)


class RejectIn(TransitionIn):
    reason: str = Field(max_length=2000)


# --- inspections -------------------------------------------------------------------------------


class AnswerIn(BaseModel):
    item_id: int
    result: Optional[Literal["pass", "fail", "na"]] = None
    value: Optional[str | float | int] = Field(default=None, description="number, text or choice items")
    note: str = Field(default="", max_length=2000)
    photo_ids: list[int] = Field(default=[], max_length=50)
    hazard_grade: Optional[Literal["general", "major"]] = Field(
        default=None, description="when failed: the hazard's grade (default: the item's)"
    )
    hazard_description: str = Field(default="", max_length=2000, description="when failed (default: the prompt)")


class InspectionIn(BaseModel):
    """One inspection submitted in one request; the same client_uuid again returns the first result."""

    client_uuid: str = Field(min_length=1, max_length=64)
    template_id: int
    site_id: int
    location: Optional[LatLon] = None
    answers: list[AnswerIn] = Field(default=[], max_length=1000)


class AnswerOut(BaseModel):
    item_id: int
    item_key: str
    result: Optional[str] = None
    value: Optional[str] = None
    note: str = ""
    hazard_grade: Optional[str] = None
    hazard_description: str = ""
    photo_ids: list[int] = []
    photos: list[PhotoRef] = []


class InspectionCreated(BaseModel):
    id: int
    status: str
    hazards: list[HazardOut]


class InspectionOut(BaseModel):
    id: int
    client_uuid: str
    status: str
    template_id: int
    template_version_id: int
    site: NamedRef
    district: NamedRef
    inspector: NamedRef
    started_at: datetime
    submitted_at: Optional[datetime] = None
    location: Optional[LatLon] = None
    location_source: Optional[str] = None
    location_district_id: Optional[int] = None
    answered: int
    total: int
    failed: int


class InspectionDetail(InspectionOut):
    answers: list[AnswerOut] = []
    hazards: list[HazardOut] = []
