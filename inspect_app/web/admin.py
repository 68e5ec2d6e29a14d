"""Administration pages under /admin (admin only): users, checklist templates, sites, districts,
and the audit log. Forms post and redirect (303); htmx enhances the template editor by swapping
only its #editor block. Problems of a form or an import are shown on the page they came from."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy import func
from sqlmodel import Session, select

from inspect_app.deps import AdminUser, SessionDep
from inspect_app.domain import accounts, audit, checklists, geo, notify, sites, spreadsheet
from inspect_app.domain.errors import DomainError, Invalid, NotFound, TooLarge, UnsupportedMedia
from inspect_app.i18n import _
from inspect_app.models import District, Inspection, Site, TemplateItem, TemplateVersion, User
from inspect_app.schemas import MAX_OFFSET
from inspect_app.security import generate_password
from inspect_app.web.attention import attention_for
from inspect_app.web.downloads import content_disposition
from inspect_app.web.rendering import is_htmx, render

router = APIRouter(prefix="/admin", include_in_schema=False)

PAGE = 50
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MAX_GEOJSON_BYTES = 20 * 1024 * 1024
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET)]


async def form_fields(request: Request) -> dict[str, str]:
    """A form's text fields as a dict (for forms with many fields, checked by the domain)."""
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


FormFields = Annotated[dict[str, str], Depends(form_fields)]


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _districts(session: Session) -> list[District]:
    return list(session.exec(select(District).order_by(District.code)).all())


def _problems(exc: DomainError) -> dict[str, Any]:
    """A domain error as page context: the message, per-field errors, or a list of row problems."""
    errors = exc.errors if isinstance(exc.errors, dict) else {}
    rows = exc.errors if isinstance(exc.errors, list) else []
    return {"error": exc.message, "errors": errors, "problems": rows}


def _upload(request: Request, file: UploadFile, limit: int = spreadsheet.MAX_XLSX_BYTES) -> bytes:
    """The uploaded bytes, refused early by the declared length, then by counting while reading."""
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > limit + 64 * 1024:
        raise TooLarge(_("The file is larger than {mb} MB.").format(mb=limit // (1024 * 1024)))
    return spreadsheet.read_limited(file.file, limit)


# --- users ------------------------------------------------------------------------------------


def _users_page(
    request: Request,
    session: Session,
    user: User,
    q: str,
    offset: int,
    status_code: int = 200,
    **extra: Any,
):
    users, total = accounts.list_users(session, q=q, limit=PAGE, offset=offset)
    districts = _districts(session)
    ctx = {
        "user": user,
        "users": users,
        "total": total,
        "q": q,
        "offset": offset,
        "limit": PAGE,
        "district_names": {d.id: d.name for d in districts},
        "districts": districts,
        "form": {},
        "errors": {},
        "error": None,
        "problems": [],
        "attention": attention_for(request, session, user),
        "failed_notices": notify.failed_notices(session),
        **extra,
    }
    return render(request, "admin/users.html", ctx, status_code=status_code)


@router.get("")
@router.get("/users")
def users_page(
    request: Request, session: SessionDep, user: AdminUser, q: str = "", offset: Offset = 0
):
    return _users_page(request, session, user, q.strip()[:64], offset)


@router.post("/users")
def add_user(request: Request, session: SessionDep, user: AdminUser, fields: FormFields):
    password = generate_password()
    try:
        added = accounts.create_user(
            session,
            fields.get("username", ""),
            password,
            fields.get("role", ""),
            fields.get("district") or None,
            fields.get("display_name", ""),
            actor_id=user.id,
            email=fields.get("email") or None,
        )
    except Invalid as exc:
        return _users_page(
            request, session, user, "", 0, status_code=422, form=fields, **_problems(exc)
        )
    return _users_page(
        request, session, user, "", 0, status_code=201, new_password=password, password_for=added
    )


def _user_page(
    request: Request, session: Session, user: User, target: User, status_code: int = 200, **extra
):
    ctx = {
        "user": user,
        "target": target,
        "districts": _districts(session),
        "errors": {},
        "error": None,
        "new_password": None,
        **extra,
    }
    return render(request, "admin/user.html", ctx, status_code=status_code)


def _target(session: Session, user_id: int) -> User:
    target = session.get(User, user_id)
    if target is None:
        raise NotFound(_("No such user."))
    return target


@router.get("/users/{user_id}")
def user_page(user_id: int, request: Request, session: SessionDep, user: AdminUser):
    return _user_page(request, session, user, _target(session, user_id))


@router.post("/users/{user_id}")
def edit_user(
    user_id: int, request: Request, session: SessionDep, user: AdminUser, fields: FormFields
):
    target = _target(session, user_id)
    try:
        accounts.update_user(
            session,
            user.id,
            user_id,
            role=fields.get("role", ""),
            district_name=fields.get("district") or None,
            display_name=fields.get("display_name", ""),
            email=fields.get("email") or None,
        )
    except DomainError as exc:
        return _user_page(
            request, session, user, target, status_code=exc.status_code, **_problems(exc)
        )
    return _see_other(f"/admin/users/{user_id}")


@router.post("/users/{user_id}/password")
def reset_password(user_id: int, request: Request, session: SessionDep, user: AdminUser):
    password = accounts.reset_password(session, user.id, user_id)
    return _user_page(request, session, user, _target(session, user_id), new_password=password)


@router.post("/users/{user_id}/active")
def set_user_active(
    user_id: int,
    request: Request,
    session: SessionDep,
    user: AdminUser,
    active: Annotated[bool, Form()],
):
    target = _target(session, user_id)
    try:
        accounts.set_active(session, user.id, user_id, active)
    except DomainError as exc:
        return _user_page(
            request, session, user, target, status_code=exc.status_code, **_problems(exc)
        )
    return _see_other(f"/admin/users/{user_id}")


# --- checklist templates ------------------------------------------------------------------------


def _templates_page(
    request: Request, session: Session, user: User, status_code: int = 200, **extra: Any
):
    rows = [(t, checklists.versions_of(session, t.id)) for t in checklists.all_templates(session)]
    ctx = {
        "user": user,
        "rows": rows,
        "form": {},
        "errors": {},
        "error": None,
        "problems": [],
        **extra,
    }
    return render(request, "admin/templates.html", ctx, status_code=status_code)


@router.get("/templates")
def templates_page(request: Request, session: SessionDep, user: AdminUser):
    return _templates_page(request, session, user)


@router.post("/templates")
def create_template(request: Request, session: SessionDep, user: AdminUser, fields: FormFields):
    try:
        template = checklists.create_template(
            session,
            user.id,
            fields.get("key", ""),
            fields.get("name_zh", ""),
            fields.get("name_en", ""),
        )
    except Invalid as exc:
        return _templates_page(
            request, session, user, status_code=422, form=fields, **_problems(exc)
        )
    return _see_other(f"/admin/templates/{template.id}")


@router.post("/templates/import")
def import_template(
    request: Request,
    session: SessionDep,
    user: AdminUser,
    file: Annotated[UploadFile, File()],
    key: Annotated[str, Form(max_length=64)] = "",
    name_zh: Annotated[str, Form(max_length=200)] = "",
    name_en: Annotated[str, Form(max_length=200)] = "",
):
    """An .xlsx (or the YAML format) becomes the template's draft, to preview and publish."""
    try:
        data = _upload(request, file)
        if (file.filename or "").lower().endswith((".yaml", ".yml")):
            try:
                spec = checklists.parse_yaml(data.decode("utf-8"))
            except UnicodeDecodeError as exc:
                raise UnsupportedMedia(_("The YAML file is not UTF-8 text.")) from exc
        else:
            spec = checklists.parse_xlsx(data, key, name_zh, name_en)
        draft = checklists.save_spec_as_draft(session, spec, user.id)
    except DomainError as exc:
        form = {"key": key, "name_zh": name_zh, "name_en": name_en}
        return _templates_page(
            request, session, user, status_code=exc.status_code, import_form=form, **_problems(exc)
        )
    return _see_other(f"/admin/templates/{draft.template_id}")


def _editor_context(
    session: Session, template_id: int, version_id: int | None = None
) -> dict[str, Any]:
    """The template, its versions, and the version shown: the draft, else the chosen or newest one."""
    template = checklists.template_by_id(session, template_id)
    versions = checklists.versions_of(session, template_id)
    shown = None
    if version_id is not None:
        shown = next((v for v, _n in versions if v.id == version_id), None)
        if shown is None:
            raise NotFound(_("No such checklist."))
    shown = (
        shown
        or checklists.current_draft(session, template_id)
        or (versions[0][0] if versions else None)
    )
    sections = []
    if shown is not None:
        sections = [
            (s, checklists.items_of(session, shown.id, s.id))
            for s in checklists.sections_of(session, shown.id)
        ]
    return {
        "template": template,
        "versions": versions,
        "shown": shown,
        "sections": sections,
        "editing": shown is not None and shown.status == "draft",
        "draft": checklists.current_draft(session, template_id),
    }


def _editor(
    request: Request,
    session: Session,
    user: User,
    template_id: int,
    *,
    status_code: int = 200,
    version_id: int | None = None,
    **extra: Any,
):
    ctx = {
        "user": user,
        "errors": {},
        "error": None,
        "problems": [],
        "form": {},
        **_editor_context(session, template_id, version_id),
        **extra,
    }
    return render(request, "admin/template.html", ctx, block="editor", status_code=status_code)


def _after_edit(
    request: Request, session: Session, user: User, template_id: int, action, *, anchor: str = ""
):
    """Run one editor action; htmx gets the editor block back, a plain form a redirect.

    A refused action shows the editor with the problem (htmx swaps only 2xx answers, so 200 there).
    """
    try:
        action()
    except DomainError as exc:
        problems = _problems(exc)
        problems["problems"] = problems["problems"] or list(
            problems["errors"].values()
        )  # no inputs to sit beside
        return _editor(
            request,
            session,
            user,
            template_id,
            status_code=200 if is_htmx(request) else exc.status_code,
            **problems,
        )
    if is_htmx(request):
        return _editor(request, session, user, template_id)
    return _see_other(f"/admin/templates/{template_id}{anchor}")


@router.get("/templates/{template_id}")
def template_page(
    template_id: int,
    request: Request,
    session: SessionDep,
    user: AdminUser,
    version: int | None = None,
):
    return _editor(request, session, user, template_id, version_id=version)


@router.post("/templates/{template_id}/draft")
def start_draft(template_id: int, request: Request, session: SessionDep, user: AdminUser):
    return _after_edit(
        request,
        session,
        user,
        template_id,
        lambda: checklists.start_draft(session, user.id, template_id),
    )


@router.post("/templates/{template_id}/discard")
def discard_draft(template_id: int, request: Request, session: SessionDep, user: AdminUser):
    return _after_edit(
        request,
        session,
        user,
        template_id,
        lambda: checklists.discard_draft(session, user.id, template_id),
    )


@router.post("/templates/{template_id}/publish")
def publish(template_id: int, request: Request, session: SessionDep, user: AdminUser):
    return _after_edit(
        request,
        session,
        user,
        template_id,
        lambda: checklists.publish_draft(session, user.id, template_id),
    )


@router.post("/templates/{template_id}/sections")
def add_section(
    template_id: int, request: Request, session: SessionDep, user: AdminUser, fields: FormFields
):
    return _after_edit(
        request,
        session,
        user,
        template_id,
        lambda: checklists.save_section(
            session,
            user.id,
            template_id,
            None,
            key=fields.get("key", ""),
            title_zh=fields.get("title_zh", ""),
            title_en=fields.get("title_en", ""),
        ),
    )


@router.post("/templates/{template_id}/sections/{section_id}")
def edit_section(
    template_id: int,
    section_id: int,
    request: Request,
    session: SessionDep,
    user: AdminUser,
    fields: FormFields,
):
    return _after_edit(
        request,
        session,
        user,
        template_id,
        lambda: checklists.save_section(
            session,
            user.id,
            template_id,
            section_id,
            key=fields.get("key", ""),
            title_zh=fields.get("title_zh", ""),
            title_en=fields.get("title_en", ""),
        ),
        anchor=f"#section-{section_id}",
    )


@router.post("/templates/{template_id}/{kind}/{object_id}/move")
def move(
    template_id: int,
    kind: str,
    object_id: int,
    request: Request,
    session: SessionDep,
    user: AdminUser,
    step: Annotated[int, Form()],
):
    if kind not in ("sections", "items"):
        raise NotFound(_("No such checklist item."))
    return _after_edit(
        request,
        session,
        user,
        template_id,
        lambda: checklists.move_part(session, user.id, template_id, kind[:-1], object_id, step),
    )


@router.post("/templates/{template_id}/{kind}/{object_id}/delete")
def delete(
    template_id: int,
    kind: str,
    object_id: int,
    request: Request,
    session: SessionDep,
    user: AdminUser,
):
    if kind not in ("sections", "items"):
        raise NotFound(_("No such checklist item."))
    return _after_edit(
        request,
        session,
        user,
        template_id,
        lambda: checklists.delete_part(session, user.id, template_id, kind[:-1], object_id),
    )


def _item_page(
    request: Request,
    session: Session,
    user: User,
    template_id: int,
    item,
    section_id: int,
    status_code: int = 200,
    **extra: Any,
):
    ctx = {
        "user": user,
        "template": checklists.template_by_id(session, template_id),
        "item": item,
        "section_id": section_id,
        "form": {},
        "errors": {},
        "error": None,
        **extra,
    }
    return render(request, "admin/item.html", ctx, status_code=status_code)


@router.get("/templates/{template_id}/sections/{section_id}/items/new")
def new_item_page(
    template_id: int, section_id: int, request: Request, session: SessionDep, user: AdminUser
):
    return _item_page(request, session, user, template_id, None, section_id)


@router.get("/templates/{template_id}/items/{item_id}")
def item_page(
    template_id: int, item_id: int, request: Request, session: SessionDep, user: AdminUser
):
    _version, item = checklists.draft_part(session, template_id, TemplateItem, item_id)
    return _item_page(request, session, user, template_id, item, item.section_id)


@router.post("/templates/{template_id}/sections/{section_id}/items")
@router.post("/templates/{template_id}/items/{item_id}")
def save_item(
    template_id: int,
    request: Request,
    session: SessionDep,
    user: AdminUser,
    fields: FormFields,
    section_id: int | None = None,
    item_id: int | None = None,
):
    try:
        item = checklists.save_item(
            session,
            user.id,
            template_id,
            item_id,
            checklists.item_fields_from_form(fields),
            section_id,
        )
    except Invalid as exc:
        current = session.get(TemplateItem, item_id) if item_id else None
        return _item_page(
            request,
            session,
            user,
            template_id,
            current,
            section_id or current.section_id,
            status_code=422,
            form=fields,
            **_problems(exc),
        )
    return _see_other(f"/admin/templates/{template_id}#item-{item.id}")


@router.get("/templates/{template_id}/versions/{version_id}.xlsx")
def export_version(template_id: int, version_id: int, session: SessionDep, user: AdminUser):
    version = session.get(TemplateVersion, version_id)
    if version is None or version.template_id != template_id:
        raise NotFound(_("No such checklist."))
    spec = checklists.version_spec(session, version)
    return Response(
        checklists.spec_to_xlsx(spec),
        media_type=XLSX_TYPE,
        headers=content_disposition(f"{spec['key']}-v{version.version}.xlsx"),
    )


# --- sites ----------------------------------------------------------------------------------------


def _sites_page(
    request: Request,
    session: Session,
    user: User,
    *,
    q: str = "",
    district: str = "",
    inactive: bool = False,
    offset: int = 0,
    status_code: int = 200,
    **extra: Any,
):
    district_row = sites.resolve_district(session, district) if district else None
    rows, total = sites.list_sites(
        session,
        user,
        district_id=district_row.id if district_row else None,
        q=q,
        limit=PAGE,
        offset=offset,
        include_inactive=inactive,
    )
    districts = _districts(session)
    ctx = {
        "user": user,
        "sites": rows,
        "total": total,
        "q": q,
        "district": district,
        "inactive": inactive,
        "offset": offset,
        "limit": PAGE,
        "districts": districts,
        "district_names": {d.id: d.name for d in districts},
        "report": None,
        "error": None,
        "problems": [],
        **extra,
    }
    return render(request, "admin/sites.html", ctx, block="results", status_code=status_code)


@router.get("/sites")
def sites_page(
    request: Request,
    session: SessionDep,
    user: AdminUser,
    q: Annotated[str, Query(max_length=100)] = "",
    district: str = "",
    inactive: bool = False,
    offset: Offset = 0,
):
    return _sites_page(
        request, session, user, q=q.strip(), district=district, inactive=inactive, offset=offset
    )


@router.post("/sites/import")
def import_sites(
    request: Request, session: SessionDep, user: AdminUser, file: Annotated[UploadFile, File()]
):
    try:
        report = sites.import_sites_xlsx(session, user.id, _upload(request, file))
    except DomainError as exc:
        return _sites_page(request, session, user, status_code=exc.status_code, **_problems(exc))
    return _sites_page(request, session, user, report=report)


def _site_page(
    request: Request,
    session: Session,
    user: User,
    site: Site | None,
    status_code: int = 200,
    **extra: Any,
):
    form = extra.pop("form", None) or (
        {
            "name": site.name,
            "address": site.address,
            "district": str(site.district_id),
            "risk_class": site.risk_class,
            "cadence_days": site.cadence_days,
            "lat": site.lat,
            "lon": site.lon,
        }
        if site
        else {"cadence_days": 30}
    )
    inspections = 0
    if site is not None:
        inspections = session.exec(
            select(func.count()).select_from(Inspection).where(Inspection.site_id == site.id)
        ).one()
    ctx = {
        "user": user,
        "site": site,
        "form": form,
        "districts": _districts(session),
        "risk_classes": sites.RISK_CLASSES,
        "warning": sites.location_warning(session, site) if site else None,
        "inspections": inspections,
        "errors": {},
        "error": None,
        **extra,
    }
    return render(request, "admin/site.html", ctx, status_code=status_code)


@router.get("/sites/new")
def new_site_page(request: Request, session: SessionDep, user: AdminUser):
    return _site_page(request, session, user, None)


@router.get("/sites/{site_id}")
def site_page(site_id: int, request: Request, session: SessionDep, user: AdminUser):
    return _site_page(request, session, user, sites.get_site(session, user, site_id))


@router.post("/sites")
@router.post("/sites/{site_id}")
def save_site(
    request: Request,
    session: SessionDep,
    user: AdminUser,
    fields: FormFields,
    site_id: int | None = None,
):
    site = sites.get_site(session, user, site_id) if site_id else None
    try:
        saved = sites.save_site(session, user.id, site_id, sites.check_site(session, fields))
    except Invalid as exc:
        return _site_page(
            request, session, user, site, status_code=422, form=fields, **_problems(exc)
        )
    return _see_other(f"/admin/sites/{saved.id}")


@router.post("/sites/{site_id}/active")
def set_site_active(
    site_id: int, session: SessionDep, user: AdminUser, active: Annotated[bool, Form()]
):
    sites.set_site_active(session, user.id, site_id, active)
    return _see_other(f"/admin/sites/{site_id}")


# --- districts ------------------------------------------------------------------------------------


def _districts_page(
    request: Request, session: Session, user: User, status_code: int = 200, **extra: Any
):
    counts = dict(
        session.exec(select(Site.district_id, func.count()).group_by(Site.district_id)).all()
    )
    ctx = {
        "user": user,
        "districts": _districts(session),
        "site_counts": counts,
        "result": None,
        "error": None,
        "problems": [],
        **extra,
    }
    return render(request, "admin/districts.html", ctx, status_code=status_code)


@router.get("/districts")
def districts_page(request: Request, session: SessionDep, user: AdminUser):
    return _districts_page(request, session, user)


@router.get("/districts.geojson")
def districts_geojson(session: SessionDep, user: AdminUser):
    return JSONResponse(geo.districts_geojson(session), media_type="application/geo+json")


@router.post("/districts/import")
def import_districts(
    request: Request, session: SessionDep, user: AdminUser, file: Annotated[UploadFile, File()]
):
    try:
        parsed = geo.read_geojson(_upload(request, file, MAX_GEOJSON_BYTES))
        added, updated = geo.import_districts(session, parsed, actor_id=user.id)
    except DomainError as exc:
        return _districts_page(
            request, session, user, status_code=exc.status_code, **_problems(exc)
        )
    return _districts_page(request, session, user, result={"added": added, "updated": updated})


# --- audit log ------------------------------------------------------------------------------------


@router.get("/audit")
def audit_page(request: Request, session: SessionDep, user: AdminUser, offset: Offset = 0):
    entries, total = audit.list_entries(session, limit=PAGE, offset=offset)
    return render(
        request,
        "admin/audit.html",
        {"user": user, "entries": entries, "total": total, "offset": offset, "limit": PAGE},
    )
