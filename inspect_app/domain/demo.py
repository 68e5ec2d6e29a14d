"""The demo region: a city's districts, sites, people, the routine checklist and about eight
weeks of realistic history. Idempotent: running it again adds nothing that is already there.

Everything is made through the same domain functions the app uses, with past clocks, so the
demo data obeys the same rules as real data.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from pathlib import Path

from shapely.geometry import Point, shape
from sqlmodel import Session, select

from inspect_app.config import Settings
from inspect_app.domain import accounts, checklists, geo
from inspect_app.models import District, Role, Site, User
from inspect_app.security import generate_password, hash_password

DATA = Path(__file__).resolve().parents[1] / "data"
SEED = 20261126

# (name pattern, risk class) — the kinds of places a Chinese city inspects.
SITE_KINDS = [
    ("{p}化工有限公司", "A"),
    ("{p}加油站", "A"),
    ("{p}烟花爆竹批发部", "A"),
    ("{p}液化气站", "A"),
    ("{p}机械制造厂", "B"),
    ("{p}建材市场", "B"),
    ("{p}物流园", "B"),
    ("{p}纺织厂", "B"),
    ("{p}食品加工厂", "B"),
    ("{p}建筑工地", "A"),
    ("{p}大酒店", "C"),
    ("{p}购物广场", "C"),
    ("{p}农贸市场", "C"),
    ("{p}汽修厂", "C"),
    ("{p}KTV", "C"),
    ("{p}中学", "D"),
    ("{p}养老院", "C"),
]
PLACE_WORDS = [
    "湘江",
    "雁城",
    "回雁",
    "船山",
    "石鼓",
    "东洲",
    "来雁",
    "蒸水",
    "华新",
    "衡州",
    "南华",
    "金源",
    "岳屏",
    "酃湖",
    "白沙",
    "东阳",
    "西渡",
    "洪市",
    "樟木",
    "松柏",
    "大浦",
    "泉溪",
]
STREETS = [
    "解放大道",
    "蒸湘北路",
    "船山大道",
    "衡州大道",
    "光辉街",
    "东风南路",
    "先锋路",
    "红湘路",
    "延安路",
    "人民路",
]
CADENCE = {"A": 30, "B": 60, "C": 90, "D": 180}


def load(session: Session, settings: Settings, progress: Callable[[str], None] = print) -> None:
    rng = random.Random(SEED)
    added, updated = geo.import_districts_file(session, DATA / "hengyang_districts.geojson")
    progress(f"[1/5] districts: {added} added, {updated} updated")
    sites = ensure_sites(session, rng)
    progress(f"[2/5] sites: {len(sites)} in the register")
    version = checklists.import_yaml_file(session, DATA / "routine-checklist.yaml")
    progress(f"[3/5] checklist: routine, version {version.version}")
    progress("[4/5] users")
    users = ensure_users(session, progress)
    from inspect_app.domain import demo_history

    inspections, hazards = demo_history.ensure_history(
        session, settings, rng, version, sites, users, progress
    )
    from inspect_app.domain import demo_routine

    demo_routine.ensure_routine(session, settings, rng, version.template_id, sites, users, progress)
    progress(
        f"Demo ready: {len(sites)} sites, {len(users)} users, {inspections} inspections, {hazards} hazards"
        " — run `inspect-app serve` and sign in."
    )


def random_point_in(geometry: dict, rng: random.Random) -> tuple[float, float]:
    """A uniformly random (lat, lon) inside a district polygon, by rejection in its bounds."""
    poly = shape(geometry)
    minx, miny, maxx, maxy = poly.bounds
    # Sites cluster toward the district's centre (towns), so shrink the box around it.
    c = poly.representative_point()
    for _ in range(1000):
        x = c.x + (rng.random() - 0.5) * (maxx - minx) * 0.6
        y = c.y + (rng.random() - 0.5) * (maxy - miny) * 0.6
        if poly.contains(Point(x, y)):
            return round(y, 6), round(x, 6)
    return round(c.y, 6), round(c.x, 6)


def ensure_sites(session: Session, rng: random.Random, per_district: int = 6) -> list[Site]:
    """Six sites per district (at least 60 in a 12-district city), named and placed plausibly."""
    districts = session.exec(select(District).order_by(District.code)).all()
    names = {s.name for s in session.exec(select(Site)).all()}  # unique across the city
    for district in districts:
        existing = session.exec(select(Site).where(Site.district_id == district.id)).all()
        kinds = rng.sample(SITE_KINDS, per_district)
        for i, (pattern, risk) in enumerate(kinds[len(existing) :]):
            prefix = (
                district.name[:2]
                if district.name.endswith(("县", "市"))
                else rng.choice(PLACE_WORDS)
            )
            name = pattern.format(p=prefix if i % 2 == 0 else rng.choice(PLACE_WORDS))
            while name in names:
                name = pattern.format(p=rng.choice(PLACE_WORDS))
            names.add(name)
            lat, lon = random_point_in(district.boundary, rng)
            session.add(
                Site(
                    name=name,
                    address=f"{district.name}{rng.choice(STREETS)}{rng.randint(1, 300)}号",
                    district_id=district.id,
                    risk_class=risk,
                    cadence_days=CADENCE[risk],
                    lat=lat,
                    lon=lon,
                )
            )
    session.commit()
    return list(session.exec(select(Site).order_by(Site.district_id, Site.id)).all())


def ensure_users(session: Session, progress: Callable[[str], None]) -> list[User]:
    """admin, office, and an officer and an inspector for every district.

    Passwords: INSPECT_DEMO_PASSWORD for all, or one generated per run for new users
    (existing users keep theirs unless INSPECT_DEMO_PASSWORD is given).
    """
    fixed = os.environ.get("INSPECT_DEMO_PASSWORD")
    password = fixed or generate_password()
    wanted: list[tuple[str, str, str | None, str]] = [
        ("admin", Role.admin, None, "系统管理员"),
        ("office", Role.office, None, "市安委办"),
    ]
    for n, district in enumerate(
        session.exec(select(District).order_by(District.code)).all(), start=1
    ):
        wanted.append((f"officer{n:02d}", Role.officer, district.name, f"{district.name}监管员"))
        wanted.append(
            (f"inspector{n:02d}", Role.inspector, district.name, f"{district.name}检查员")
        )
    users, created = [], []
    for username, role, district, display in wanted:
        user = session.exec(select(User).where(User.username == username)).first()
        if user is None:
            user = accounts.create_user(
                session, username, password, role, district, display_name=display
            )
            created.append(username)
        elif fixed:
            user.password_hash = hash_password(fixed)
            session.add(user)
            session.commit()
        users.append(user)
    if created or fixed:
        progress(
            f"      {len(created)} added; password of {'all demo users' if fixed else 'the new ones'}: {password}"
        )
        progress(
            f"      sign in as admin, office, officer01..{len(wanted) // 2 - 1:02d} or inspector01.. "
            f"(01 = {wanted[2][2]}, 02 = {wanted[4][2] if len(wanted) > 4 else ''} ...)"
        )
    else:
        progress(
            "      demo users exist; their passwords are unchanged (set INSPECT_DEMO_PASSWORD to reset)"
        )
    return users
