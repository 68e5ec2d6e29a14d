"""The authorisation matrix: every route of the app (read from its route list) called as every
principal, checked against the policy declared below. A route without a policy fails, so a new
route cannot be forgotten; a policy for a route that no longer exists fails too.

Principals (tests/reliability.PRINCIPALS): anonymous; "inspector" owns the world's photo,
inspection, draft and hazard (all in 蒸湘区); "inspector_other" is another inspector of the same
district; "officer" is the officer of 蒸湘区, "officer_other" of 珠晖区; "office"; "admin".

Refused means 401, 403, 404 or a redirect to /login; anything else below 500 means the request
got past authorisation (a 409 or 422 there is the route judging the input, not the caller).
Every call uses the principal's bearer token: the contract says every route accepts one.
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import pytest
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from sqlmodel import select

from inspect_app.models import Hazard, RectificationPlan
from tests.factories import PASSWORD, PRINCIPALS, build_world, complete_answers, jpeg_bytes

IGNORED_PREFIXES = ("/static", "/docs", "/openapi.json", "/redoc")

EVERYONE = frozenset(PRINCIPALS)
SIGNED_IN = EVERYONE - {"anonymous"}
INSPECTORS = frozenset(
    {"inspector", "inspector_other", "admin"}
)  # the inspector role gate (admin passes)
OWNER = frozenset({"inspector"})
OWNER_ADMIN = OWNER | {"admin"}
DISTRICT = frozenset(
    {"officer", "office", "admin"}
)  # the object's district and the city-wide roles
OFFICERS = frozenset({"officer", "officer_other", "office", "admin"})  # any officer, office, admin
CITY = frozenset({"office", "admin"})
ADMIN = frozenset({"admin"})

# route -> the principals that get past authorisation.
POLICY: dict[str, frozenset[str]] = {
    # public
    "GET /healthz": EVERYONE,
    "GET /favicon.ico": EVERYONE,
    "POST /api/v1/auth/token": EVERYONE,
    "DELETE /api/v1/auth/token": SIGNED_IN,  # revokes the bearer token presented
    "GET /login": EVERYONE,
    "POST /login": EVERYONE,
    "POST /logout": EVERYONE,
    "GET /lang/{code}": EVERYONE,
    "GET /": SIGNED_IN,  # sends each role to its home; anonymous to /login
    # catalogue: every signed-in user
    "GET /api/v1/districts": SIGNED_IN,
    "GET /api/v1/sites": SIGNED_IN,
    "GET /api/v1/templates": SIGNED_IN,
    "GET /api/v1/templates/{template_id}": SIGNED_IN,
    # photos: anyone signed in uploads; a photo is seen by its uploader, the district of its
    # inspection/hazard and the city-wide roles
    "POST /api/v1/photos": SIGNED_IN,
    "GET /photos/{photo_id}": OWNER | DISTRICT,
    "GET /photos/{photo_id}/thumb": OWNER | DISTRICT,
    # inspections: inspectors submit; an inspection is seen by its inspector, the officer of
    # its district and the city-wide roles once submitted; a draft only by its inspector
    "POST /api/v1/inspections": INSPECTORS,
    "GET /api/v1/inspections": SIGNED_IN,  # the caller's own list
    "GET /api/v1/inspections/{inspection_id}": OWNER | DISTRICT,
    "GET /inspections": INSPECTORS,
    "GET /inspections/new": INSPECTORS,
    "POST /inspections/new": INSPECTORS,
    "GET /inspections/{inspection_id}": OWNER | DISTRICT,
    "POST /inspections/{inspection_id}/answers/{item_id}": OWNER,
    "POST /inspections/{inspection_id}/sections/{key}": OWNER,
    "POST /inspections/{inspection_id}/submit": OWNER,
    "POST /inspections/{inspection_id}/answers/{item_id}/photos": OWNER,
    "POST /inspections/{inspection_id}/signature": OWNER,
    "GET /inspections/{inspection_id}/done": OWNER | DISTRICT,
    "GET /inspections/{inspection_id}/record": OWNER | DISTRICT,
    # working offline: the service worker and its offline page are public; the phone's outbox
    # asks who is signed in and for the CSRF token; a draft by the phone's client_uuid is its
    # inspector's only; the empty checklist of a version is any inspector's
    "GET /sw.js": EVERYONE,
    "GET /offline": EVERYONE,
    "GET /sync/csrf": EVERYONE,
    "GET /sync/pages": SIGNED_IN,
    "GET /inspections/c/{client_uuid}": OWNER,
    "GET /inspections/form/{version_id}": INSPECTORS,
    # hazards: seen by the district's officer, the city-wide roles and their reporter; acted on
    # by the district's officer and the city-wide roles
    "GET /api/v1/hazards": SIGNED_IN,  # filtered to what the caller may see
    "GET /api/v1/hazards/{hazard_id}": OWNER | DISTRICT,
    # a hazard reported on its own: any role that works with the site (its district, or city-wide)
    "POST /api/v1/hazards": OWNER | {"inspector_other"} | DISTRICT,
    "GET /hazards/new": SIGNED_IN,
    "POST /hazards/new": OWNER | {"inspector_other"} | DISTRICT,
    "POST /api/v1/hazards/{hazard_id}/plan": DISTRICT,
    "POST /api/v1/hazards/{hazard_id}/rectify": DISTRICT,
    "POST /api/v1/hazards/{hazard_id}/accept": DISTRICT,
    "POST /api/v1/hazards/{hazard_id}/reject": DISTRICT,
    "GET /hazards": SIGNED_IN,
    "GET /hazards/{hazard_id}": OWNER | DISTRICT,
    "POST /hazards/{hazard_id}/plan": DISTRICT,
    "POST /hazards/{hazard_id}/rectify": DISTRICT,
    "POST /hazards/{hazard_id}/accept": DISTRICT,
    "POST /hazards/{hazard_id}/reject": DISTRICT,
    "GET /hazards/{hazard_id}/notice.pdf": OWNER | DISTRICT,
    # dashboard, map, statistics, exports, reports
    "GET /api/v1/stats/districts": OFFICERS,
    "GET /api/v1/map/districts.geojson": OFFICERS,
    "GET /api/v1/map/hazards.geojson": OFFICERS,
    "GET /dashboard": OFFICERS,
    "GET /map": OFFICERS,
    "GET /coverage": OFFICERS,
    "GET /sites": OFFICERS,  # the due list, filtered to what the caller may see
    # inspection plans: office any district, officer their own; seen by those they concern
    "POST /api/v1/plans": DISTRICT,  # a plan of 蒸湘区's sites
    "GET /api/v1/plans": SIGNED_IN,  # filtered to what the caller may see
    "GET /api/v1/plans/{plan_id}": OWNER | {"inspector_other"} | DISTRICT,
    "GET /plans": SIGNED_IN,
    "GET /plans/new": OFFICERS,
    "POST /plans/new": DISTRICT,
    "GET /plans/{plan_id}": OWNER | {"inspector_other"} | DISTRICT,
    "GET /exports/hazards.csv": SIGNED_IN,  # filtered to what the caller may see
    "GET /exports/hazards.xlsx": SIGNED_IN,
    "GET /reports": OFFICERS,
    "GET /reports/weekly": DISTRICT,  # asked for 蒸湘区's report
    "GET /reports/weekly/{week}.pdf": DISTRICT,
    "GET /reports/archive/{report_id}.pdf": DISTRICT,  # a stored 蒸湘区 report
    # administration: admin only
    **{
        route: ADMIN
        for route in (
            "GET /admin",
            "GET /admin/users",
            "POST /admin/users",
            "GET /admin/users/{user_id}",
            "POST /admin/users/{user_id}",
            "POST /admin/users/{user_id}/password",
            "POST /admin/users/{user_id}/active",
            "GET /admin/templates",
            "POST /admin/templates",
            "POST /admin/templates/import",
            "GET /admin/templates/{template_id}",
            "POST /admin/templates/{template_id}/draft",
            "POST /admin/templates/{template_id}/discard",
            "POST /admin/templates/{template_id}/publish",
            "POST /admin/templates/{template_id}/sections",
            "POST /admin/templates/{template_id}/sections/{section_id}",
            "POST /admin/templates/{template_id}/{kind}/{object_id}/move",
            "POST /admin/templates/{template_id}/{kind}/{object_id}/delete",
            "GET /admin/templates/{template_id}/sections/{section_id}/items/new",
            "GET /admin/templates/{template_id}/items/{item_id}",
            "POST /admin/templates/{template_id}/items/{item_id}",
            "POST /admin/templates/{template_id}/sections/{section_id}/items",
            "GET /admin/templates/{template_id}/versions/{version_id}.xlsx",
            "GET /admin/sites",
            "POST /admin/sites/import",
            "GET /admin/sites/new",
            "GET /admin/sites/{site_id}",
            "POST /admin/sites/{site_id}",
            "POST /admin/sites",
            "POST /admin/sites/{site_id}/active",
            "GET /admin/districts",
            "GET /admin/districts.geojson",
            "POST /admin/districts/import",
            "GET /admin/audit",
        )
    },
}

# Routes that act on the owner's draft rather than the submitted inspection.
DRAFT_ROUTES = {
    "POST /inspections/{inspection_id}/answers/{item_id}",
    "POST /inspections/{inspection_id}/sections/{key}",
    "POST /inspections/{inspection_id}/submit",
}


def _plan(w) -> dict:
    return {
        "responsible_person": "张三",
        "measures": "清理通道",
        "rectifier": "李四",
        "acceptor": "王五",
        "deadline": (date.today() + timedelta(days=10)).isoformat(),
        "funds": "1000 元",
        "interim_measures": "设置警示",
        "stop_production": False,
    }


def _hazard_report(w, form: bool = False) -> dict:
    body = {
        "client_uuid": str(uuid.uuid4()),
        "site_id": w["site"].id,
        "grade": "general",
        "description": "通道堵塞",
    }
    return body if form else {**body, "location": None, "photo_ids": []}


def _inspection_plan(w, form: bool = False) -> dict:
    today = date.today()
    body = {
        "name": "消防专项检查",
        "template_id": w["version"].template_id,
        "site_ids": [w["site"].id],
        "starts": today.isoformat(),
        "ends": (today + timedelta(days=14)).isoformat(),
    }
    return body if not form else {**body, "site_ids": str(w["site"].id)}


def _inspection(w) -> dict:
    return {
        "client_uuid": str(uuid.uuid4()),
        "template_id": w["version"].template_id,
        "site_id": w["site"].id,
        "location": None,
        "answers": complete_answers(w["session"], w["version"].id),
    }


# route -> request arguments made from the world (valid input, so that refusals come from authorisation).
REQUESTS = {
    "POST /api/v1/auth/token": lambda w: {"data": {"username": "w_admin", "password": PASSWORD}},
    "POST /login": lambda w: {
        "data": {
            "username": "w_admin",
            "password": PASSWORD,
            "next": "/",
            "csrftoken": w["csrftoken"],
        },
        "cookies": {"csrftoken": w["csrftoken"]},
    },
    "POST /api/v1/photos": lambda w: {"files": {"file": ("p.jpg", jpeg_bytes(5), "image/jpeg")}},
    "POST /api/v1/inspections": lambda w: {"json": _inspection(w)},
    "POST /inspections/new": lambda w: {
        "data": {
            "site_id": w["site"].id,
            "template_id": w["version"].template_id,
            "client_uuid": str(uuid.uuid4()),
            "lat": "",
            "lon": "",
        }
    },
    "POST /inspections/{inspection_id}/answers/{item_id}": lambda w: {
        "data": {f"result-{w['item'].id}": "pass"}
    },
    "POST /inspections/{inspection_id}/sections/{key}": lambda w: {
        "data": {"items": str(w["item"].id), f"result-{w['item'].id}": "pass"}
    },
    "POST /api/v1/hazards": lambda w: {"json": _hazard_report(w)},
    "POST /api/v1/plans": lambda w: {"json": _inspection_plan(w)},
    "POST /plans/new": lambda w: {"data": _inspection_plan(w, form=True)},
    "POST /hazards/new": lambda w: {"data": _hazard_report(w, form=True)},
    "POST /api/v1/hazards/{hazard_id}/plan": lambda w: {"json": _plan(w)},
    "POST /api/v1/hazards/{hazard_id}/rectify": lambda w: {
        "json": {"note": "已清理", "photo_ids": []}
    },
    "POST /api/v1/hazards/{hazard_id}/accept": lambda w: {"json": {}},
    "POST /api/v1/hazards/{hazard_id}/reject": lambda w: {"json": {"reason": "仍有堆放"}},
    "POST /hazards/{hazard_id}/plan": lambda w: {"data": {**_plan(w), "stop_production": "no"}},
    "POST /hazards/{hazard_id}/rectify": lambda w: {"data": {"note": "已清理"}},
    "POST /hazards/{hazard_id}/accept": lambda w: {"data": {}},
    "POST /hazards/{hazard_id}/reject": lambda w: {"data": {"reason": "仍有堆放"}},
    "GET /reports/weekly": lambda w: {"params": {"week": "2026-W47", "district": "蒸湘区"}},
    "GET /reports/weekly/{week}.pdf": lambda w: {"params": {"district": "蒸湘区"}},
}

# The status a hazard action needs, restored before every principal's call (the previous
# principal may have moved the hazard on).
HAZARD_PRECONDITION = {
    "plan": "reported",
    "rectify": "rectifying",
    "accept": "rectified",
    "reject": "rectified",
}


def _prepare_hazard(session, w, status: str) -> None:
    hazard = session.get(Hazard, w["hazard"].id)
    session.refresh(hazard)
    if (
        status != "reported"
        and session.exec(
            select(RectificationPlan).where(RectificationPlan.hazard_id == hazard.id)
        ).first()
        is None
    ):
        plan = {k: v for k, v in _plan(w).items()}
        plan["deadline"] = date.fromisoformat(plan["deadline"])
        session.add(RectificationPlan(hazard_id=hazard.id, set_by=w["users"]["officer"].id, **plan))
    hazard.status = status
    hazard.deadline = date.today() + timedelta(days=10)
    session.add(hazard)
    session.commit()


def app_routes(app) -> set[str]:
    """ "METHOD /path" for every route of the app (HEAD is GET's twin), bar the ignored prefixes."""
    routes = set()
    for route in iter_route_contexts(app.routes):
        if not route.methods or route.path.startswith(IGNORED_PREFIXES):
            continue
        routes.update(f"{method} {route.path}" for method in route.methods if method != "HEAD")
    return routes


# Where a redirect to /login is the route's success, not a refusal.
LOGIN_IS_SUCCESS = {"POST /logout"}


def is_refused(route: str, response) -> bool:
    if response.status_code in (401, 403, 404):
        return True
    to_login = response.is_redirect and response.headers.get("location", "").startswith("/login")
    return to_login and route not in LOGIN_IS_SUCCESS


def test_every_route_has_a_declared_policy(app):
    routes = app_routes(app)
    missing = sorted(routes - POLICY.keys())
    stale = sorted(POLICY.keys() - routes)
    assert not missing, "declare who may call these routes in POLICY:\n" + "\n".join(missing)
    assert not stale, "these routes are gone; remove them from POLICY:\n" + "\n".join(stale)


# Strangers first: an allowed call may change the object (a submitted draft, a moved hazard).
ORDER = ("anonymous", "inspector_other", "officer_other", "inspector", "officer", "office", "admin")


@pytest.mark.parametrize("route", sorted(POLICY))
def test_route_answers_each_principal_as_declared(route, app, session, settings, region):
    method, path = route.split(" ", 1)
    world = build_world(session, settings, region)
    world["session"] = session
    ids = dict(world["ids"])
    if route in DRAFT_ROUTES:
        ids["inspection_id"] = world["draft"].id
    url = path.format(**ids)
    action = (
        path.rsplit("/", 1)[-1]
        if path.startswith(("/api/v1/hazards/{hazard_id}/", "/hazards/{hazard_id}/"))
        else None
    )
    allowed, problems = set(), []
    with TestClient(app) as client:
        for principal in ORDER:
            if action in HAZARD_PRECONDITION:
                _prepare_hazard(session, world, HAZARD_PRECONDITION[action])
            client.cookies.clear()
            headers = (
                {}
                if principal == "anonymous"
                else {"Authorization": f"Bearer {world['tokens'][principal]}"}
            )
            kwargs = REQUESTS.get(route, lambda w: {})(world)
            response = client.request(
                method, url, headers=headers, follow_redirects=False, **kwargs
            )
            if response.status_code >= 500:
                problems.append(f"{principal}: {response.status_code} {response.text[:200]}")
            elif not is_refused(route, response):
                allowed.add(principal)
    assert not problems, f"{route} failed:\n" + "\n".join(problems)
    assert allowed == POLICY[route], (
        f"{route}: allowed {sorted(allowed)}, policy {sorted(POLICY[route])}; "
        f"unexpectedly allowed {sorted(allowed - POLICY[route])}, unexpectedly refused {sorted(POLICY[route] - allowed)}"
    )
