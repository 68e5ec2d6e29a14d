"""The inspector's pages: home, start (pick a site), fill one section at a time, submit, summary,
and the printable record. Every page works as a plain form; htmx saves each answer as it is given.

Form fields of an item are suffixed with its id: result-7, value-7, note-7, grade-7,
description-7 and photo-7 (kept photo ids, checkboxes). Photos go up on their own: by script
through the API, or without script through the item's small multipart form.
"""

from __future__ import annotations

import uuid
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse
from starlette.datastructures import FormData, UploadFile

from inspect_app.deps import CurrentUser, InspectorUser, SessionDep, SettingsDep
from inspect_app.domain import checklists, clock, inspections, photos, plans
from inspect_app.domain.clock import local_today
from inspect_app.domain.errors import DomainError, Invalid, NotFound
from inspect_app.domain.parsing import parse_id, parse_ids
from inspect_app.i18n import _
from inspect_app.models import Answer, InspectionStatus
from inspect_app.web.attention import attention_for
from inspect_app.web.forms import form_dependency
from inspect_app.web.rendering import form_nonce, is_htmx, render, see_other

router = APIRouter(include_in_schema=False)

MAX_FILES = 40


FormDep = form_dependency(MAX_FILES, max_fields=2000)


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except ValueError:
        return None


def _location(form: FormData):
    lat, lon = _float(form.get("lat")), _float(form.get("lon"))
    return (lat, lon) if lat is not None and lon is not None else None


def answer_from_form(form: FormData, item_id: int) -> dict:
    return {
        "item_id": item_id,
        "result": form.get(f"result-{item_id}") or None,
        "value": form.get(f"value-{item_id}"),
        "note": form.get(f"note-{item_id}") or "",
        "hazard_grade": form.get(f"grade-{item_id}") or None,
        "hazard_description": form.get(f"description-{item_id}") or "",
        # The plain form marks its photo list (all unticked = none kept); the phone's outbox sends
        # answers without it and attaches photos on their own, so its answers leave them be.
        "photo_ids": (
            form.getlist(f"photo-{item_id}")
            if f"photos-{item_id}" in form or form.getlist(f"photo-{item_id}")
            else None
        ),
    }


def overlay(v: inspections.InspectionView, posted: list[dict]) -> None:
    """Show what was posted (not stored, because it was refused) in place of the stored answers."""
    by_item = {p["item_id"]: p for p in posted}
    for row in v.rows:
        p = by_item.get(row.item.id)
        if p is not None:
            row.answer = Answer(
                inspection_id=v.inspection.id,
                item_id=row.item.id,
                **{
                    k: p[k]
                    for k in ("result", "value", "note", "hazard_grade", "hazard_description")
                },
            )
            if p["photo_ids"] is not None:
                row.photo_ids = _ids_or_none(p["photo_ids"])


def _ids_or_none(values) -> list[int]:
    """Posted photo ids shown again with a refused answer (the refusal already names a bad one)."""
    try:
        return parse_ids(values, _("Photo"))
    except Invalid:
        return []


def page(
    request: Request,
    v: inspections.InspectionView,
    section: str | None,
    *,
    errors=None,
    problems: bool = False,
    status_code: int = 200,
    page_url: str = "",
):
    current = v.section_of(section)
    keys = [s.section.key for s in v.sections]
    position = keys.index(current.section.key)
    ctx = {
        "v": v,
        "current": current,
        "errors": errors or {},
        "problems": problems,
        "next_key": keys[position + 1] if position + 1 < len(keys) else None,
        "prev_key": keys[position - 1] if position > 0 else None,
        # Section links: the page's own address (a client_uuid page keeps its query).
        "page_url": page_url or f"/inspections/{v.inspection.id}?",
        "ref": v.inspection.client_uuid,
    }
    return render(request, "inspections/show.html", ctx, status_code=status_code)


# --- home and start ------------------------------------------------------------------------


@router.get("/inspections")
def home(request: Request, session: SessionDep, user: InspectorUser):
    drafts, _ = inspections.list_inspections(session, user, status=InspectionStatus.draft, limit=50)
    recent, total = inspections.list_inspections(
        session, user, status=InspectionStatus.submitted, limit=20
    )
    return render(
        request,
        "inspections/home.html",
        {
            "drafts": inspections.summaries(session, drafts),
            "recent": inspections.summaries(session, recent),
            "submitted_total": total,
            "attention": attention_for(request, session, user),
            "address": inspections.page_address,
        },
    )


@router.get("/inspections/new")
def new(
    request: Request,
    session: SessionDep,
    user: InspectorUser,
    settings: SettingsDep,
    q: Annotated[str, Query(max_length=100)] = "",
    lat: str | None = None,
    lon: str | None = None,
    site_id: int | None = None,
):
    lat_f, lon_f = _float(lat), _float(lon)
    near = lat_f is not None and lon_f is not None
    templates = checklists.published_templates(session)
    return render(
        request,
        "inspections/new.html",
        {
            "q": q,
            "lat": lat_f if near else None,
            "lon": lon_f if near else None,
            "site_id": site_id,
            # Without a search: every site of the district (the page is kept for offline use).
            "sites": inspections.pick_sites(
                session,
                user,
                now=clock.now(),
                soon_days=settings.due_soon_days,
                zone=settings.zone,
                q=q,
                lat=lat_f,
                lon=lon_f,
                limit=20 if q else 60,
                planned=plans.pending_site_ids(session, user, local_today(settings.zone)),
            ),
            "templates": templates,
            "client_uuid": form_nonce(request),
        },
        block="sites",
    )


@router.post("/inspections/new")
def start(
    request: Request,
    session: SessionDep,
    user: InspectorUser,
    site_id: Annotated[int, Form()],
    template_id: Annotated[int, Form()],
    client_uuid: Annotated[str, Form(max_length=64)] = "",
    lat: Annotated[str, Form()] = "",
    lon: Annotated[str, Form()] = "",
    version_id: Annotated[int | None, Form()] = None,
    queued: Annotated[str, Form()] = "",
):
    point = (_float(lat), _float(lon))
    inspection = inspections.start_draft(
        session,
        user,
        site_id,
        template_id,
        client_uuid or str(uuid.uuid4()),
        location=point if None not in point else None,
        version_id=version_id,
        queued=queued == "1",
    )
    return see_other(request, f"/inspections/{inspection.id}", id=inspection.id)


# --- filling -----------------------------------------------------------------------------------


@router.get("/inspections/{inspection_id}")
def show(
    request: Request,
    inspection_id: str,
    session: SessionDep,
    user: CurrentUser,
    section: Annotated[str | None, Query(max_length=64)] = None,
    problems: bool = False,
):
    inspection_id = inspections.resolve(session, user, inspection_id)
    inspection = inspections.get_inspection(session, user, inspection_id)
    if inspection.status != InspectionStatus.draft or inspection.inspector_id != user.id:
        return RedirectResponse(f"/inspections/{inspection_id}/record", status_code=303)
    return _draft_page(request, session, inspection, section, problems)


def _draft_page(request, session, inspection, section, problems: bool, page_url: str = ""):
    """A draft's page; with problems, what still blocks submitting it (the phone's outbox was
    refused a submit and sends the inspector here)."""
    v = inspections.view(session, inspection)
    errors = inspections.check_complete(session, inspection) if problems else None
    if errors:
        section = section or next(
            (s.section.key for s in v.sections for r in s.rows if r.item.id in errors), None
        )
    return page(request, v, section, errors=errors, problems=bool(errors), page_url=page_url)


@router.get("/inspections/c/{client_uuid}")
def by_client_uuid(
    request: Request,
    client_uuid: str,
    session: SessionDep,
    user: InspectorUser,
    v: int = 0,
    site: int = 0,
    section: Annotated[str | None, Query(max_length=64)] = None,
    problems: bool = False,
):
    """A draft by the id the phone gave it. Until the phone's outbox has sent its start, the
    server does not know it yet: then the empty checklist of version v, which the page's script
    fills from the phone's storage (the service worker serves /inspections/form/v offline)."""
    page_url = f"/inspections/c/{quote(client_uuid, safe='')}?v={v}&site={site}&"
    try:
        inspection = inspections.get_inspection(
            session, user, inspections.resolve(session, user, client_uuid)
        )
    except NotFound:
        view = inspections.blank_view(session, user, v, site or None)
        return page(request, view, section, page_url=page_url)
    if inspection.status != InspectionStatus.draft:
        return RedirectResponse(f"/inspections/{inspection.id}/record", status_code=303)
    return _draft_page(request, session, inspection, section, problems, page_url)


@router.get("/inspections/form/{version_id}")
def blank_form(
    request: Request,
    version_id: int,
    session: SessionDep,
    user: InspectorUser,
    section: Annotated[str | None, Query(max_length=64)] = None,
):
    """The empty checklist of one published version: what the service worker keeps to show an
    inspection started offline (its script fills in what the phone stored)."""
    return page(request, inspections.blank_view(session, user, version_id), section, page_url="?")


@router.post("/inspections/{inspection_id}/answers/{item_id}")
def save_one(
    request: Request,
    inspection_id: str,
    item_id: int,
    form: FormDep,
    session: SessionDep,
    user: CurrentUser,
):
    """One answer as it is given (htmx): returns the item's status and the section progress."""
    posted = answer_from_form(form, item_id)
    v, errors = inspections.answer_with_progress(session, user, inspection_id, posted)
    status_code = 422 if errors else 200
    if errors:
        overlay(v, [posted])
    inspection_id = v.inspection.id
    row = next((r for r in v.rows if r.item.id == item_id), None)
    current = next(s for s in v.sections if row in s.rows)
    if not is_htmx(request):
        if errors:
            v = inspections.view(session, v.inspection)
            overlay(v, [posted])
            return page(request, v, current.section.key, errors=errors, status_code=status_code)
        return RedirectResponse(
            f"/inspections/{inspection_id}?section={current.section.key}#item-{item_id}",
            status_code=303,
        )
    return render(
        request,
        "inspections/show.html",
        {
            "v": v,
            "current": current,
            "row": row,
            "errors": errors,
            "oob": True,
            "saved": not errors,
            "page_url": f"/inspections/{inspection_id}?",
        },
        block="item_status",
        status_code=status_code,
    )


def _save_section(session, user, inspection_id: int, form: FormData) -> tuple[list[dict], dict]:
    """Save every item the plain form carries; (what was posted, problems per item id)."""
    posted = [answer_from_form(form, i) for i in parse_ids(form.getlist("items"), _("Item"))]
    if posted:
        try:
            inspections.save_answers(session, user, inspection_id, posted)
        except Invalid as exc:
            if not isinstance(exc.errors, dict):
                raise
            return posted, exc.errors
    return posted, {}


@router.post("/inspections/{inspection_id}/answers/{item_id}/photos")
def add_photos(
    request: Request,
    inspection_id: str,
    item_id: int,
    form: FormDep,
    session: SessionDep,
    settings: SettingsDep,
    user: CurrentUser,
):
    """Photos sent by the plain form (without JavaScript), added to the item's answer; the
    phone's outbox attaches photos it uploaded (photo_id) and removes them (remove) here too.
    Both are idempotent: a replayed attach or remove changes nothing more."""
    inspection_id = inspections.resolve(session, user, inspection_id)
    v = inspections.view(session, inspections.get_draft(session, user, inspection_id))
    row = next((r for r in v.rows if r.item.id == item_id), None)
    if row is None:
        raise Invalid(_("Item {item} is not in this checklist.").format(item=item_id))
    errors = []
    new_ids = []
    for upload in form.getlist("file"):
        if isinstance(upload, UploadFile) and upload.filename:
            try:
                new_ids.append(
                    photos.ingest(
                        session, settings, user, upload.file, upload.filename, upload.content_type
                    ).id
                )
            except DomainError as exc:
                errors.append(str(exc.message))
    new_ids += parse_ids(form.getlist("photo_id"), _("Photo"))
    removed = set(parse_ids(form.getlist("remove"), _("Photo")))
    if new_ids or removed & set(row.photo_ids):
        a = row.answer
        inspections.save_answer(
            session,
            user,
            inspection_id,
            item_id,
            result=a.result if a else None,
            value=a.value if a else None,
            note=a.note if a else "",
            hazard_grade=a.hazard_grade if a else None,
            hazard_description=a.hazard_description if a else "",
            photo_ids=[p for p in [*row.photo_ids, *new_ids] if p not in removed],
        )
    section = next(s.section.key for s in v.sections if row in s.rows)
    if errors:
        v = inspections.view(session, v.inspection)
        return page(request, v, section, errors={item_id: errors}, status_code=422)
    return see_other(request, f"/inspections/{inspection_id}?section={section}#item-{item_id}")


@router.post("/inspections/{inspection_id}/sections/{key}")
def save_section(
    request: Request,
    inspection_id: str,
    key: str,
    form: FormDep,
    session: SessionDep,
    user: CurrentUser,
):
    """The plain form's save: stores the section, then goes to the section asked for."""
    inspection_id = inspections.resolve(session, user, inspection_id)
    posted, errors = _save_section(session, user, inspection_id, form)
    v = inspections.view(session, inspections.get_draft(session, user, inspection_id))
    if errors:
        overlay(v, posted)
        return page(request, v, key, errors=errors, status_code=422)
    target = form.get("go") or key
    return see_other(request, f"/inspections/{inspection_id}?section={target}")


@router.post("/inspections/{inspection_id}/submit")
def submit(
    request: Request, inspection_id: str, form: FormDep, session: SessionDep, user: CurrentUser
):
    """Save what the form carries, then submit; what is missing is shown in place (422)."""
    inspection_id = inspections.resolve(session, user, inspection_id)
    inspection = inspections.get_inspection(session, user, inspection_id)
    if inspection.status == InspectionStatus.submitted:  # a double tap: show the first result
        return see_other(request, f"/inspections/{inspection_id}/done")
    posted, errors = _save_section(session, user, inspection_id, form)
    if not errors:
        try:
            inspections.submit(session, user, inspection_id, location=_location(form))
            return see_other(request, f"/inspections/{inspection_id}/done")
        except Invalid as exc:
            if not isinstance(exc.errors, dict):
                raise
            errors = exc.errors
    v = inspections.view(session, inspections.get_draft(session, user, inspection_id))
    overlay(v, posted)
    first = next((s.section.key for s in v.sections for r in s.rows if r.item.id in errors), None)
    return page(request, v, first, errors=errors, problems=True, status_code=422)


@router.post("/inspections/{inspection_id}/signature")
def signature(
    request: Request,
    inspection_id: str,
    session: SessionDep,
    user: CurrentUser,
    photo_id: Annotated[str, Form()] = "",
):
    """Keep (or with no photo_id, remove) the site representative's drawn signature."""
    inspection_id = inspections.resolve(session, user, inspection_id)
    inspection = inspections.set_signature(
        session, user, inspection_id, parse_id(photo_id, _("Signature"))
    )
    if not is_htmx(request):
        return see_other(request, f"/inspections/{inspection_id}")
    return render(
        request,
        "inspections/show.html",
        {"v": inspections.view(session, inspection)},
        block="signature",
    )


# --- after submitting ----------------------------------------------------------------------


@router.get("/inspections/{inspection_id}/done")
def done(request: Request, inspection_id: str, session: SessionDep, user: CurrentUser):
    inspection_id = inspections.resolve(session, user, inspection_id)
    inspection = inspections.get_inspection(session, user, inspection_id)
    if inspection.status != InspectionStatus.submitted:
        return RedirectResponse(f"/inspections/{inspection_id}", status_code=303)
    return render(request, "inspections/done.html", {"v": inspections.view(session, inspection)})


@router.get("/inspections/{inspection_id}/record")
def record(request: Request, inspection_id: str, session: SessionDep, user: CurrentUser):
    """现场检查记录: the printable record of one inspection."""
    inspection_id = inspections.resolve(session, user, inspection_id)
    v = inspections.view(session, inspections.get_inspection(session, user, inspection_id))
    return render(request, "inspections/record.html", {"v": v})
