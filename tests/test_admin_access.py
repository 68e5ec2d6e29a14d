"""Administration is for admins only: every /admin route answers 403 to other roles."""

import pytest
from fastapi.routing import APIRoute

from inspect_app.web.admin import router
from tests.clients import csrf


def admin_routes(_app=None):
    for route in router.routes:
        if isinstance(route, APIRoute):
            for method in route.methods:
                yield method, route.path


def concrete(path: str) -> str:
    return (
        path.replace("{kind}", "items")
        .replace("{version_id}", "1")
        .replace("{", "")
        .replace("}", "")
        .replace("template_id", "1")
        .replace("section_id", "1")
        .replace("item_id", "1")
        .replace("site_id", "1")
        .replace("user_id", "1")
        .replace("object_id", "1")
    )


def test_the_admin_area_has_the_pages_of_the_issue(app):
    paths = {p for _m, p in admin_routes(app)}
    for page in (
        "/admin",
        "/admin/users",
        "/admin/templates",
        "/admin/sites",
        "/admin/districts",
        "/admin/audit",
    ):
        assert page in paths


@pytest.mark.parametrize("role", ["inspector", "officer", "office"])
def test_every_admin_route_refuses_other_roles(app, login_as, role):
    client, _user = login_as(role)
    routes = list(admin_routes(app))
    assert len(routes) > 20
    for method, path in routes:
        r = client.request(method, concrete(path), headers={**csrf(client), "accept": "text/html"})
        assert r.status_code == 403, (method, path, r.status_code)


def test_api_tokens_of_other_roles_are_refused_too(api_as):
    client, _user = api_as("office")
    assert client.get("/admin/users").status_code == 403
    assert client.post("/admin/users", data={"username": "x", "role": "admin"}).status_code == 403


def test_signed_out_visitors_are_sent_to_sign_in(client):
    r = client.get("/admin/sites", headers={"accept": "text/html"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")


def test_every_admin_page_renders_for_an_admin(login_as, region):
    client, _user = login_as("admin")
    tid = region["template_id"]
    for page in (
        "/admin",
        "/admin/users",
        "/admin/templates",
        f"/admin/templates/{tid}",
        "/admin/sites",
        "/admin/sites/new",
        f"/admin/sites/{region['sites'][0].id}",
        "/admin/districts",
        "/admin/audit",
    ):
        r = client.get(page)
        assert r.status_code == 200, (page, r.text[:2000])
        assert 'class="admin-tabs"' in r.text
