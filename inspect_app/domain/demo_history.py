"""About eight weeks of inspections, hazards and their closed loops for the demo city.

Made through the domain functions with past clocks (inspections.submit_payload, hazards.set_plan,
rectify, accept, reject, photos.ingest_bytes), so the history obeys the product's rules: some
sites are overdue for inspection, some hazards are overdue, a few are major, some were rejected.
"""

from __future__ import annotations

import io
import random
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont
from sqlalchemy import func
from sqlmodel import Session, select

from inspect_app.config import Settings
from inspect_app.domain import checklists, hazards, inspections, photos
from inspect_app.domain.clock import local_today
from inspect_app.models import Hazard, Inspection, Role, Site, TemplateVersion, User, utcnow

WEEKS = 8
FONT_PATHS = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
)
FINDINGS = {
    "F1": "灭火器压力不足,已过检验期",
    "F2": "安全出口被货物堵塞",
    "F3": "应急照明灯不亮",
    "F4": "消防栓箱内水带缺失",
    "F5": "仓库内设有员工宿舍",
    "E1": "配电箱未上锁,无警示标识",
    "E2": "车间内私拉乱接电线",
    "E3": "设备漏电保护器失效",
    "E4": "接地电阻超标",
    "C1": "危化品与普通物品混放",
    "C2": "部分化学品无安全标签",
    "C4": "可燃气体报警器故障",
    "S1": "叉车定期检验已过期",
    "S3": "冲床防护罩缺失",
    "L2": "有限空间作业无监护人",
    "L3": "污水池未设警示标识",
    "M3": "应急物资箱空置",
}
MEASURES = [
    "立即清理并设置标识,落实专人管理",
    "更换损坏设施并建立检查台账",
    "停用相关设备,委托有资质单位检修",
    "重新规范布线,加装漏电保护",
    "开展专项培训并完善管理制度",
]
PEOPLE = ["王建国", "李明", "张伟", "刘洋", "陈静", "杨帆", "赵磊", "黄敏", "周强", "吴芳"]


def _font(size: int):
    for path in FONT_PATHS:
        if Path(path).exists():
            return ImageFont.truetype(path, size)
    return ImageFont.load_default()


def make_photo(rng: random.Random, caption: str, after: bool = False) -> bytes:
    """A plausible site photo: a scene of shapes, the caption and a time stamp, as a phone JPEG."""
    w, h = 1280, 960
    base = (
        (70, 120, 80)
        if after
        else rng.choice([(120, 110, 100), (95, 105, 125), (140, 120, 90), (110, 110, 110)])
    )
    im = Image.new("RGB", (w, h), base)
    draw = ImageDraw.Draw(im)
    for _ in range(14):  # shelves, walls, machines
        x, y = rng.randint(0, w), rng.randint(0, h)
        shade = tuple(max(0, min(255, c + rng.randint(-60, 60))) for c in base)
        draw.rectangle([x, y, x + rng.randint(60, 420), y + rng.randint(40, 300)], fill=shade)
    if not after:
        cx, cy = rng.randint(300, 980), rng.randint(250, 700)
        draw.ellipse([cx - 120, cy - 120, cx + 120, cy + 120], outline=(230, 40, 30), width=12)
    draw.rectangle([0, h - 90, w, h], fill=(0, 0, 0))
    draw.text((24, h - 78), caption, fill=(255, 255, 255), font=_font(44))
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=82)
    return buf.getvalue()


def ensure_history(
    session: Session,
    settings: Settings,
    rng: random.Random,
    version: TemplateVersion,
    sites: list[Site],
    users: list[User],
    progress: Callable[[str], None],
) -> tuple[int, int]:
    """Inspections and hazards of the last weeks, once: skipped when the demo already has some."""
    done = session.exec(select(func.count()).select_from(Inspection)).one()
    if done:
        total_hazards = session.exec(select(func.count()).select_from(Hazard)).one()
        progress(f"[5/5] history: already there ({done} inspections), nothing added")
        return done, total_hazards
    inspector_of = {u.district_id: u for u in users if u.role == Role.inspector}
    officer_of = {u.district_id: u for u in users if u.role == Role.officer}
    items = [
        (s, i)
        for s in checklists.sections_of(session, version.id)
        for i in checklists.items_of(session, version.id, s.id)
    ]
    now = utcnow()
    start = now - timedelta(weeks=WEEKS)
    visits = _schedule(rng, sites, start, now)
    progress(f"[5/5] history: {len(visits)} inspections over {WEEKS} weeks")
    created: list[tuple[Hazard, datetime]] = []
    for n, (when, site) in enumerate(visits, start=1):
        inspector = inspector_of[site.district_id]
        answers = [
            _answer(session, settings, rng, inspector, site, section, item, when)
            for section, item in items
        ]
        location = {
            "lat": site.lat + rng.uniform(-0.0004, 0.0004),
            "lon": site.lon + rng.uniform(-0.0004, 0.0004),
        }
        payload = {
            "client_uuid": f"demo-{site.id}-{when:%Y%m%d%H%M}",
            "template_id": version.template_id,
            "site_id": site.id,
            "location": location,
            "answers": answers,
        }
        _, new_hazards, _ = inspections.submit_payload(session, inspector, payload, now=when)
        created += [(h, when) for h in new_hazards]
        if n % 20 == 0 or n == len(visits):
            progress(f"      {n}/{len(visits)} inspections, {len(created)} hazards")
    for n, (hazard, when) in enumerate(created, start=1):
        _follow_up(session, settings, rng, hazard, officer_of[hazard.district_id], when, now)
        if n % 25 == 0 or n == len(created):
            progress(f"      {n}/{len(created)} hazards followed up")
    return len(visits), len(created)


def _schedule(
    rng: random.Random, sites: list[Site], start: datetime, now: datetime
) -> list[tuple[datetime, Site]]:
    """Visits at each site's cadence, with jitter; about one site in six falls behind."""
    visits = []
    for site in sites:
        behind = rng.random() < 0.17
        when = start + timedelta(days=rng.uniform(0, min(site.cadence_days, 40)))
        while when < now - timedelta(hours=2):
            if behind and when > now - timedelta(days=site.cadence_days * 1.2):
                break
            visits.append((_working_hours(rng, when), site))
            when += timedelta(days=site.cadence_days * rng.uniform(0.7, 1.05))
    return sorted(visits, key=lambda v: v[0])


def _working_hours(rng: random.Random, when: datetime) -> datetime:
    """Inspectors work 08:30–17:30 local (UTC+8): 00:30–09:30 UTC."""
    day = when.replace(hour=0, minute=30, second=0, microsecond=0)
    return day + timedelta(minutes=rng.randint(0, 9 * 60))


def _answer(session, settings, rng, inspector, site, section, item, when) -> dict:
    answer = {"item_id": item.id, "result": "pass", "value": None, "note": "", "photo_ids": []}
    if item.response_type == "number":
        value = round(rng.uniform(0.8, 3.6) if rng.random() > 0.08 else rng.uniform(4.2, 9.0), 1)
        answer.update(value=value, result=None)
        failed = item.max_value is not None and value > item.max_value
    elif item.response_type == "text":
        answer.update(value="无", result=None)
        return answer
    else:
        roll = rng.random()
        rate = 0.07 if site.risk_class in ("A", "B") else 0.04
        failed = roll < (
            rate / 3 if item.default_grade == "major" else rate
        )  # major findings are rarer
        if not failed and item.response_type == "pass_fail_na" and roll > 0.9:
            answer["result"] = "na"
            return answer
        answer["result"] = "fail" if failed else "pass"
    if failed:
        # Without a written finding, submit says what is wrong ("未满足：<prompt>").
        answer["hazard_description"] = FINDINGS.get(item.key, "")
        if item.default_grade == "major" and rng.random() < 0.5:
            answer["hazard_grade"] = "general"  # the inspector judged it less serious on site
        if item.photo_required_on_fail or rng.random() < 0.5:
            data = make_photo(rng, f"{site.name} {item.key} {when:%Y-%m-%d}")
            answer["photo_ids"] = [
                photos.ingest_bytes(session, settings, inspector, data, now=when).id
            ]
    return answer


def _follow_up(
    session, settings, rng, hazard: Hazard, officer: User, created: datetime, now: datetime
) -> None:
    """Plan within days, rectify mostly before the deadline, accept; some rejected, some late."""
    plan_at = created + timedelta(days=rng.uniform(0.3, 3))
    if plan_at >= now:
        return
    days = rng.randint(15, 30) if hazard.grade == "major" else rng.randint(5, 20)
    deadline = local_today(settings.zone, plan_at) + timedelta(days=days)
    extra = (
        {
            "funds": "企业自筹 2 万元",
            "interim_measures": "设置警戒区,专人值守",
            "stop_production": rng.random() < 0.5,
        }
        if hazard.grade == "major"
        else {}
    )
    hazards.set_plan(
        session,
        officer,
        hazard.id,
        responsible_person=rng.choice(PEOPLE),
        measures=rng.choice(MEASURES),
        deadline=deadline,
        rectifier=rng.choice(PEOPLE),
        acceptor=officer.display_name,
        settings=settings,
        now=plan_at,
        **extra,
    )
    late = rng.random() < 0.25
    span = (plan_at.date() + timedelta(days=days) - plan_at.date()).days
    rectify_at = plan_at + timedelta(
        days=rng.uniform(span * 1.1, span * 1.6) if late else rng.uniform(1, span * 0.9)
    )
    rounds = 2 if rng.random() < 0.12 else 1
    for round_ in range(rounds):
        if rectify_at >= now:
            return
        data = make_photo(rng, f"整改后 {rectify_at:%Y-%m-%d}", after=True)
        photo = photos.ingest_bytes(session, settings, officer, data, now=rectify_at)
        hazards.rectify(
            session,
            officer,
            hazard.id,
            note="已按整改措施完成整改",
            photo_ids=[photo.id],
            now=rectify_at,
        )
        review_at = rectify_at + timedelta(days=rng.uniform(0.5, 3))
        if review_at >= now:
            return
        if round_ + 1 < rounds:
            hazards.reject(
                session, officer, hazard.id, reason="整改不彻底,请补充整改照片", now=review_at
            )
            rectify_at = review_at + timedelta(days=rng.uniform(1, 4))
        else:
            hazards.accept(session, officer, hazard.id, settings=settings, now=review_at)
