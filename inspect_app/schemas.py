"""API input and output models (the JSON contract of /api/v1)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Generic, Optional, TypeVar

from pydantic import BaseModel, Field

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"


class LatLon(BaseModel):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


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
