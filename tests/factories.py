"""Test data in one place: districts, sites, users, checklist versions, inspections, hazards and
photos, made through the domain (or, where a test needs the past, as rows). Test modules import
from here (and tests/clients.py), never from each other or from a conftest."""

from __future__ import annotations

import hashlib
import io
import json
import os
import uuid
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl
from PIL import Image
from sqlmodel import Session, func, select

from inspect_app.config import DEFAULT_TIMEZONE
from inspect_app.domain import (
    accounts,
    checklists,
    geo,
    hazards,
    inspections,
    photos,
    plans,
    reports,
)
from inspect_app.domain.clock import local_today
from inspect_app.models import (
    District,
    Hazard,
    HazardEvent,
    HazardPhoto,
    Inspection,
    Photo,
    RectificationPlan,
    Report,
    Site,
    TemplateItem,
    TemplateSection,
    User,
)
from inspect_app.security import hash_password, new_anonymous_csrf_token

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "inspect_app" / "data"
PASSWORD = "correct horse battery"
ZONE = ZoneInfo(DEFAULT_TIMEZONE)  # the default city calendar the tests run in

# --- photos -----------------------------------------------------------------------------------


def jpeg(color=(200, 30, 30), gps: tuple[float, float] | None = None, size=(64, 48)) -> bytes:
    """A small JPEG of one colour (a name or an RGB tuple), optionally with GPS in its EXIF."""
    im = Image.new("RGB", size, color)
    exif = Image.Exif()
    if gps:

        def dms(v):
            v = abs(v)
            d = int(v)
            m = int((v - d) * 60)
            s = round(((v - d) * 60 - m) * 60, 4)
            return (float(d), float(m), float(s))

        exif[0x8825] = {
            1: "N" if gps[0] >= 0 else "S",
            2: dms(gps[0]),
            3: "E" if gps[1] >= 0 else "W",
            4: dms(gps[1]),
        }
    buf = io.BytesIO()
    im.save(buf, "JPEG", exif=exif)
    return buf.getvalue()


def jpeg_bytes(seed: int, size: tuple[int, int] = (64, 48)) -> bytes:
    """A small valid JPEG whose bytes differ per seed (so each is its own content-addressed photo)."""
    image = Image.new("RGB", size, ((seed * 37) % 256, (seed * 91) % 256, (seed * 13) % 256))
    image.putpixel((seed % size[0], (seed // size[0]) % size[1]), (255 - seed % 256, 0, 0))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=80)
    return out.getvalue()


def camera_jpeg(path: Path) -> Path:
    """A 12:9 landscape-stored camera JPEG that EXIF says to turn 90° (orientation 6), with GPS."""
    im = Image.new("RGB", (2400, 1800), (90, 120, 160))
    for x in range(0, 2400, 200):  # some structure, so the JPEG is not trivially small
        im.paste((230, 60, 40), (x, 0, x + 100, 1800))
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x8825] = {1: "N", 2: (26.0, 53.0, 48.48), 3: "E", 4: (112.0, 34.0, 18.84)}
    im.save(path, "JPEG", exif=exif, quality=90)
    return path


_colors = iter(f"#{n:06x}" for n in range(0x102030, 0xFFFFFF, 0x010203))


def photo_of(session: Session, settings, user: User) -> int:
    """A real stored photo uploaded by the user (distinct bytes each time)."""
    return photos.ingest_bytes(session, settings, user, jpeg(next(_colors))).id


def stored_files(settings) -> list[Path]:
    """Every file under the upload folder except the development secret the app keeps there."""
    root = Path(settings.upload_dir)
    return sorted(
        Path(d) / f for d, _dirs, files in os.walk(root) for f in files if f != ".dev-secret-key"
    )


def no_metadata(data: bytes) -> None:
    """A served JPEG carries no EXIF, ICC profile or smuggled payload."""
    im = Image.open(io.BytesIO(data))
    assert im.format == "JPEG"
    assert not im.getexif() and "exif" not in im.info and "icc_profile" not in im.info
    assert b"Exif" not in data and b"PhoneMaker" not in data and b"<script>" not in data


def assert_refused(r, status: int, session, settings):
    """The contract for a refused photo: the status, a JSON detail, no row and no file left."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    assert isinstance(r.json()["detail"], str) and r.json()["detail"]
    session.expire_all()
    assert session.exec(select(Photo)).all() == []
    assert stored_files(settings) == []


def is_red(pixel) -> bool:
    r, g, b = pixel
    return r > 180 and g < 80 and b < 80


def is_blue(pixel) -> bool:
    r, _g, b = pixel
    return b > 180 and r < 80


# --- districts and sites ----------------------------------------------------------------------


def load_districts(session: Session, names: tuple[str, ...] | None = None) -> None:
    """Districts with their real boundaries from the demo's GeoJSON (all, or those named)."""
    data = json.loads((DATA / "hengyang_districts.geojson").read_text(encoding="utf-8"))
    if names:
        data["features"] = [f for f in data["features"] if f["properties"]["name"] in names]
    geo.import_districts(session, data)


def region(session: Session) -> dict:
    """Two districts with real boundaries, three sites, the routine checklist."""
    load_districts(session, ("蒸湘区", "珠晖区"))
    districts = {d.name: d for d in session.exec(select(District)).all()}
    z, h = districts["蒸湘区"], districts["珠晖区"]
    sites = [
        Site(
            name="蒸湘化工仓库",
            address="蒸湘区长丰大道1号",
            district_id=z.id,
            risk_class="A",
            cadence_days=30,
            lat=26.8968,
            lon=112.5719,
        ),
        Site(
            name="蒸湘超市",
            address="蒸湘区华新开发区",
            district_id=z.id,
            risk_class="C",
            cadence_days=90,
            lat=26.9001,
            lon=112.5702,
        ),
        Site(
            name="珠晖机械厂",
            address="珠晖区东风路",
            district_id=h.id,
            risk_class="B",
            cadence_days=60,
            lat=26.8984,
            lon=112.6150,
        ),
    ]
    for s in sites:
        session.add(s)
    session.commit()
    version = routine_version(session)
    return {
        "districts": districts,
        "sites": sites,
        "template_version": version,
        "template_id": version.template_id,
    }


def site_count(session: Session) -> int:
    return session.exec(select(func.count()).select_from(Site)).one()


SITES_HEADER = ["name", "address", "district", "risk_class", "cadence", "lat", "lon"]


def sites_sheet(rows, header=SITES_HEADER) -> bytes:
    """A site register workbook: a header row, then rows."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(header)
    for row in rows:
        ws.append(row)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


# --- users ------------------------------------------------------------------------------------


def user(session: Session, role: str, district: str | None = None, username: str = "") -> User:
    """A user with PASSWORD; inspectors and officers belong to 蒸湘区 unless told otherwise."""
    if district is None and role in ("inspector", "officer"):
        district = "蒸湘区"
    return accounts.create_user(
        session, username or f"{role}-{next(_serial)}", PASSWORD, role, district
    )


_serial = iter(range(1, 1_000_000))


# --- checklist versions -----------------------------------------------------------------------


def routine_version(session: Session):
    """The demo's routine checklist, published (a TemplateVersion)."""
    return checklists.import_yaml_file(session, DATA / "routine-checklist.yaml")


CHECKLIST_HEADER = list(checklists.XLSX_COLUMNS)
CHECKLIST_ROW = [
    "fire",
    "消防安全",
    "Fire",
    "F1",
    "灭火器有效",
    "Extinguishers valid",
    "pass_fail",
    None,
    None,
    None,
    None,
    "yes",
    "major",
    "yes",
    "GB 50140",
    "看压力表",
]


def checklist_workbook(rows, header=CHECKLIST_HEADER, settings=None) -> bytes:
    """A checklist workbook (sheet "checklist", optional sheet "settings": key, names)."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "checklist"
    ws.append(header)
    for row in rows:
        ws.append(row)
    if settings:
        s = wb.create_sheet("settings")
        s.append(["key", "name_zh", "name_en"])
        s.append(settings)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


# --- inspections ------------------------------------------------------------------------------


def items_by_key(session: Session, region) -> dict[str, TemplateItem]:
    rows = session.exec(
        select(TemplateItem).where(TemplateItem.version_id == region["template_version"].id)
    ).all()
    return {i.key: i for i in rows}


def all_pass(items: dict[str, TemplateItem], **overrides) -> list[dict]:
    """An answer for every item: pass, the number within its limit, a text for text items."""
    out = []
    for key, item in items.items():
        answer = {"item_id": item.id, "result": "pass"}
        if item.response_type == "number":
            answer = {"item_id": item.id, "value": 1}
        elif item.response_type == "text":
            answer = {"item_id": item.id, "value": "无"}
        answer.update(overrides.get(key, {}))
        out.append(answer)
    return out


def first_item(session: Session, region) -> TemplateItem:
    """The first item of the region's checklist version."""
    return session.exec(
        select(TemplateItem).where(TemplateItem.version_id == region["template_version"].id)
    ).first()


def complete_answers(
    session, version_id: int, fail: dict[int, list[int]] | None = None
) -> list[dict]:
    """An answer for every item of a checklist version: pass (or a valid value), except the
    items in fail (item id -> photo ids), which fail with those photos."""
    fail = fail or {}
    out = []
    for item in session.exec(
        select(TemplateItem).where(TemplateItem.version_id == version_id).order_by(TemplateItem.id)
    ).all():
        answer: dict = {"item_id": item.id, "result": "pass"}
        if item.response_type == "number":
            low = item.min_value if item.min_value is not None else 0
            answer = {"item_id": item.id, "value": low}
        elif item.response_type == "text":
            answer = {"item_id": item.id, "value": "无"}
        elif item.response_type == "choice":
            answer = {"item_id": item.id, "value": (item.choices or [""])[0]}
        if item.id in fail:
            answer = {
                "item_id": item.id,
                "result": "fail",
                "photo_ids": fail[item.id],
                "hazard_description": "消防通道堵塞",
            }
        out.append(answer)
    return out


def failable_items(session, version_id: int) -> list[TemplateItem]:
    """The pass/fail items of a checklist version, in order."""
    return session.exec(
        select(TemplateItem)
        .where(
            TemplateItem.version_id == version_id,
            TemplateItem.response_type.in_(("pass_fail", "pass_fail_na")),
        )
        .order_by(TemplateItem.id)
    ).all()


# --- hazards ----------------------------------------------------------------------------------

# How far the closed loop must go to reach each status.
PATH = {
    "reported": [],
    "rectifying": ["plan"],
    "rectified": ["plan", "rectify"],
    "accepted": ["plan", "rectify", "accept"],
}


def new_hazard(
    session: Session,
    region,
    reporter: User,
    *,
    grade: str = "general",
    site: int = 0,
    settings=None,
    with_photo: bool = False,
) -> Hazard:
    """A hazard reported on its own at one of the region's sites, through the domain."""
    s = region["sites"][site]
    photo_ids = [photo_of(session, settings, reporter)] if with_photo else []
    hazard = hazards.create_hazard(
        session,
        reporter=reporter,
        site=s,
        grade=grade,
        description="消防通道堵塞，灭火器过期",
        category="消防安全",
        photo_ids=photo_ids,
        lat=s.lat,
        lon=s.lon,
    )
    session.commit()
    return hazard


def plan_fields(grade: str = "general", deadline: date | None = None) -> dict:
    """Valid five determinations (a major hazard also needs funds and interim measures)."""
    fields = {
        "responsible_person": "张经理",
        "measures": "清理通道，更换灭火器",
        "deadline": deadline or local_today(ZONE) + timedelta(days=7),
        "rectifier": "李师傅",
        "acceptor": "王科长",
    }
    if grade == "major":
        fields |= {
            "funds": "5000元，灭火器10具",
            "interim_measures": "设置警戒区，专人看守",
            "stop_production": True,
        }
    return fields


def act(session: Session, settings, user: User, hazard_id: int, action: str, **extra) -> Hazard:
    """Perform one transition with valid input."""
    if action == "plan":
        grade = session.get(Hazard, hazard_id).grade
        return hazards.set_plan(
            session, user, hazard_id, settings=settings, **(plan_fields(grade) | extra)
        )
    if action == "rectify":
        return hazards.rectify(
            session,
            user,
            hazard_id,
            note="已清理并更换",
            photo_ids=[photo_of(session, settings, user)],
            **extra,
        )
    if action == "accept":
        return hazards.accept(session, user, hazard_id, settings=settings, **extra)
    return hazards.reject(session, user, hazard_id, reason="灭火器仍未更换", **extra)


def advance(session: Session, settings, user: User, hazard_id: int, status: str) -> Hazard:
    """Walk a hazard through the loop until it has the status."""
    for action in PATH[status]:
        act(session, settings, user, hazard_id, action)
    return session.get(Hazard, hazard_id)


def snapshot(session: Session, hazard_id: int) -> tuple:
    """What a refused transition must leave unchanged."""
    session.expire_all()
    h = session.get(Hazard, hazard_id)
    events = session.exec(
        select(func.count()).select_from(HazardEvent).where(HazardEvent.hazard_id == hazard_id)
    ).one()
    return h.status, h.version, h.deadline, h.rectified_at, h.accepted_at, events


def at(day, hour=10):
    """An instant on a local calendar day."""
    return datetime.combine(day, time(hour), tzinfo=ZONE)


def add_hazard(
    session,
    site,
    reporter,
    *,
    created,
    grade="general",
    deadline=None,
    accepted=None,
    plan=True,
    photo=None,
    description="消防通道堵塞",
):
    """A hazard written as rows, backdated to `created` (with a plan unless plan=False)."""
    status = "accepted" if accepted else ("rectifying" if plan else "reported")
    h = Hazard(
        site_id=site.id,
        district_id=site.district_id,
        reporter_id=reporter.id,
        grade=grade,
        category="消防安全",
        description=description,
        status=status,
        created_at=created,
        updated_at=accepted or created,
        deadline=deadline,
        accepted_at=accepted,
    )
    session.add(h)
    session.flush()
    if plan:
        session.add(
            RectificationPlan(
                hazard_id=h.id,
                responsible_person="张三",
                measures="清理通道，设置标识",
                deadline=deadline or created.date() + timedelta(days=7),
                rectifier="李四",
                acceptor="王五",
                set_by=reporter.id,
                set_at=created,
            )
        )
    if photo is not None:
        session.add(HazardPhoto(hazard_id=h.id, photo_id=photo.id, kind="finding"))
    session.commit()
    return h


LAST_WEEK = reports.week_of(local_today(ZONE) - timedelta(days=14))


def week_of_hazards(session: Session, settings, region, inspector: User) -> dict:
    """Last-but-one week: hazards in both districts, a major one with a photo, an overdue one,
    one closed, a major one without a plan; one inspection (蒸湘超市 is then covered, the
    others are not)."""
    zx_plant, zx_shop, zh_plant = region["sites"]
    w = LAST_WEEK
    for site in region["sites"]:  # registered long before the week, so coverage counts them
        site.created_at = at(w.start - timedelta(days=120))
        session.add(site)
    photo = photos.ingest_bytes(session, settings, inspector, jpeg((200, 40, 40), size=(640, 480)))
    major = add_hazard(
        session,
        zx_plant,
        inspector,
        created=at(w.start),
        grade="major",
        deadline=w.start + timedelta(days=3),
        photo=photo,
        description="液氨储罐泄漏报警器失效",
    )
    general = add_hazard(
        session,
        zh_plant,
        inspector,
        created=at(w.start + timedelta(days=1)),
        deadline=w.start + timedelta(days=2),
        description="配电箱未上锁",
    )
    closed = add_hazard(
        session,
        zx_shop,
        inspector,
        created=at(w.start + timedelta(days=1)),
        deadline=w.end,
        accepted=at(w.start + timedelta(days=4)),
    )
    unplanned = add_hazard(
        session,
        zh_plant,
        inspector,
        created=at(w.start + timedelta(days=2)),
        plan=False,
        grade="major",
        description="未设置安全出口指示",
    )
    previous = add_hazard(session, zx_shop, inspector, created=at(w.previous().start))
    session.add(
        Inspection(
            client_uuid="wk-1",
            template_version_id=region["template_version"].id,
            site_id=zx_shop.id,
            inspector_id=inspector.id,
            status="submitted",
            started_at=at(w.start),
            submitted_at=at(w.start, 11),
        )
    )
    session.commit()
    return {
        "inspector": inspector,
        "major": major,
        "general": general,
        "closed": closed,
        "unplanned": unplanned,
        "previous": previous,
        "photo": photo,
    }


# --- a small world with one object of each kind, owned by known principals ---------------------

# Who calls: the owner is "inspector" (of 蒸湘区, where the world's objects are); "inspector_other"
# is a second inspector of the same district; "officer_other" is the officer of another district.
PRINCIPALS = (
    "anonymous",
    "inspector",
    "inspector_other",
    "officer",
    "officer_other",
    "office",
    "admin",
)
_ROLES = {
    "inspector": ("inspector", "蒸湘区"),
    "inspector_other": ("inspector", "蒸湘区"),
    "officer": ("officer", "蒸湘区"),
    "officer_other": ("officer", "珠晖区"),
    "office": ("office", None),
    "admin": ("admin", None),
    "victim": ("inspector", "珠晖区"),
}
_PASSWORD_HASH: list[str] = []


def password_hash() -> str:
    """One hash of PASSWORD, reused: a benchmark making many users hashes with production cost."""
    if not _PASSWORD_HASH:
        _PASSWORD_HASH.append(hash_password(PASSWORD))
    return _PASSWORD_HASH[0]


def build_world(session, settings, region) -> dict:
    """Users for every principal (with API tokens), and, in 蒸湘区, the owner's photo, submitted
    inspection (one failed item -> one hazard), draft, and a stored district report."""
    districts = region["districts"]
    users, tokens = {}, {}
    for name, (role, district) in _ROLES.items():
        user = User(
            username=f"w_{name}",
            display_name=name,
            password_hash=password_hash(),
            role=role,
            district_id=districts[district].id if district else None,
        )
        session.add(user)
        session.commit()
        users[name] = user
        tokens[name] = accounts.open_session(session, settings, user, "token")
    owner = users["inspector"]
    version = region["template_version"]
    site = region["sites"][0]
    photo = photos.ingest_bytes(session, settings, owner, jpeg_bytes(1))
    item = failable_items(session, version.id)[0]
    payload = {
        "client_uuid": str(uuid.uuid4()),
        "template_id": region["template_id"],
        "site_id": site.id,
        "location": None,
        "answers": complete_answers(session, version.id, {item.id: [photo.id]}),
    }
    submitted, _created, _new = inspections.submit_payload(session, owner, payload)
    hazard = session.exec(select(Hazard).where(Hazard.inspection_id == submitted.id)).one()
    draft = inspections.start_draft(
        session, owner, site.id, region["template_id"], str(uuid.uuid4())
    )
    section = session.exec(
        select(TemplateSection)
        .where(TemplateSection.version_id == version.id)
        .order_by(TemplateSection.position)
    ).first()
    plan = plans.create_plan(  # a 蒸湘区 plan assigned to nobody: its inspectors follow it
        session,
        users["officer"],
        name="world plan",
        template_id=region["template_id"],
        starts=date.today(),
        ends=date.today() + timedelta(days=30),
        site_ids=[site.id],
        zone=settings.zone,
    )
    pdf = b"%PDF-1.4\n% a stored report\n%%EOF\n"
    sha = hashlib.sha256(pdf).hexdigest()
    report = Report(
        week="2026-W47",
        district_id=districts["蒸湘区"].id,
        data_version="w",
        sha256=sha,
        size=len(pdf),
    )
    session.add(report)
    session.commit()
    path = Path(settings.upload_dir) / "reports" / f"{sha}.pdf"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pdf)
    return {
        "users": users,
        "tokens": tokens,
        "site": site,
        "photo": photo,
        "hazard": hazard,
        "item": item,
        "submitted": submitted,
        "draft": draft,
        "section": section,
        "version": version,
        "report": report,
        # What GET /login hands a browser: the signed CSRF token of its cookie and form.
        "csrftoken": new_anonymous_csrf_token(settings.secret_key),
        "ids": {
            "plan_id": plan.id,
            "inspection_id": submitted.id,
            "client_uuid": draft.client_uuid,
            "hazard_id": hazard.id,
            "photo_id": photo.id,
            "item_id": item.id,
            "template_id": region["template_id"],
            "section_id": section.id,
            "version_id": version.id,
            "site_id": site.id,
            "user_id": users["victim"].id,
            "report_id": report.id,
            "week": "2026-W47",
            "code": "en",
            "key": section.key,
            "kind": "items",
            "object_id": item.id,
        },
    }
