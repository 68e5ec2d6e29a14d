"""Checklist templates: import from YAML, versions, and reading a version with its items.

A published version is immutable; an inspection refers to the exact version it was filled against.
The import works on plain rows (section, key, prompt...) so that an .xlsx import can share it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import func
from sqlmodel import Session, select

from inspect_app.domain.errors import Invalid, NotFound
from inspect_app.i18n import _
from inspect_app.models import (
    ChecklistTemplate,
    Grade,
    ResponseType,
    TemplateItem,
    TemplateSection,
    TemplateVersion,
    utcnow,
)

ITEM_FIELDS = (
    "key", "prompt_zh", "prompt_en", "guidance", "basis", "response_type", "choices",
    "min_value", "max_value", "unit", "photo_required_on_fail", "required", "default_grade",
)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:64] or "checklist"


def _localised(value: Any) -> tuple[str, str]:
    if isinstance(value, dict):
        return str(value.get("zh") or value.get("en") or ""), str(value.get("en") or "")
    return str(value or ""), ""


def parse_yaml(text: str) -> dict[str, Any]:
    """Turn the YAML checklist format into {key, name_zh, name_en, sections: [...]}, checked."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise Invalid(_("The YAML cannot be read: {why}").format(why=exc)) from exc
    if not isinstance(data, dict) or not isinstance(data.get("sections"), list):
        raise Invalid(_("The checklist needs a name and a list of sections."))
    name_zh, name_en = _localised(data.get("name"))
    sections = []
    for s in data["sections"]:
        title_zh, title_en = _localised(s.get("title"))
        items = []
        for it in s.get("items") or []:
            items.append(
                {
                    "key": str(it.get("key", "")),
                    "prompt_zh": str(it.get("zh", "")),
                    "prompt_en": str(it.get("en", "")),
                    "guidance": str(it.get("guidance", "") or ""),
                    "basis": str(it.get("basis", "") or ""),
                    "response_type": str(it.get("type", "pass_fail")),
                    "choices": it.get("choices"),
                    "min_value": it.get("min"),
                    "max_value": it.get("max"),
                    "unit": str(it.get("unit", "") or ""),
                    "photo_required_on_fail": bool(it.get("photo", False)),
                    "required": not bool(it.get("optional", False)) and it.get("required", True) is not False,
                    "default_grade": str(it.get("grade", "general")),
                }
            )
        sections.append({"key": str(s.get("key", "")), "title_zh": title_zh, "title_en": title_en, "items": items})
    spec = {
        "key": str(data.get("key") or _slug(name_en or name_zh)),
        "name_zh": name_zh,
        "name_en": name_en,
        "note": str(data.get("version_note", "") or ""),
        "sections": sections,
    }
    check_spec(spec)
    return spec


def check_spec(spec: dict[str, Any]) -> None:
    """Every problem of a template spec at once, or nothing."""
    problems: list[str] = []
    if not spec.get("name_zh"):
        problems.append(_("The checklist has no name."))
    if not spec.get("sections"):
        problems.append(_("The checklist has no sections."))
    seen_sections: set[str] = set()
    seen_items: set[str] = set()
    for section in spec.get("sections", []):
        skey = section.get("key", "")
        if not skey or skey in seen_sections:
            problems.append(_("Section key missing or repeated: {key}").format(key=skey))
        seen_sections.add(skey)
        if not section.get("title_zh"):
            problems.append(_("Section {key} has no title.").format(key=skey))
        for item in section.get("items", []):
            key = item.get("key", "")
            where = f"{skey}/{key}"
            if not key or key in seen_items:
                problems.append(_("Item key missing or repeated: {key}").format(key=where))
            seen_items.add(key)
            if not item.get("prompt_zh"):
                problems.append(_("Item {key} has no prompt.").format(key=where))
            if item.get("response_type") not in ResponseType.__members__:
                problems.append(
                    _("Item {key}: unknown type {type}.").format(key=where, type=item.get("response_type"))
                )
            if item.get("default_grade") not in Grade.__members__:
                problems.append(
                    _("Item {key}: unknown grade {grade}.").format(key=where, grade=item.get("default_grade"))
                )
            for bound in ("min_value", "max_value"):
                if item.get(bound) is not None and not isinstance(item[bound], (int, float)):
                    problems.append(_("Item {key}: limits must be numbers.").format(key=where))
            if item.get("response_type") == "choice" and not item.get("choices"):
                problems.append(_("Item {key}: a choice item needs choices.").format(key=where))
    if problems:
        raise Invalid(_("The checklist has problems; nothing was imported."), errors=problems)


def version_spec(session: Session, version: TemplateVersion) -> dict[str, Any]:
    """A version as a spec (the shape parse_yaml returns), for comparison and export."""
    template = session.get(ChecklistTemplate, version.template_id)
    sections = []
    for section in sections_of(session, version.id):
        sections.append(
            {
                "key": section.key,
                "title_zh": section.title_zh,
                "title_en": section.title_en,
                "items": [
                    {f: getattr(item, f) for f in ITEM_FIELDS}
                    for item in items_of(session, version.id, section.id)
                ],
            }
        )
    return {
        "key": template.key,
        "name_zh": template.name_zh,
        "name_en": template.name_en,
        "note": version.note,
        "sections": sections,
    }


def publish_spec(session: Session, spec: dict[str, Any], actor_id: int | None = None) -> TemplateVersion:
    """Store a spec as a new published version, unless it equals the newest one (idempotent)."""
    check_spec(spec)
    template = session.exec(select(ChecklistTemplate).where(ChecklistTemplate.key == spec["key"])).first()
    if template is None:
        template = ChecklistTemplate(key=spec["key"], name_zh=spec["name_zh"], name_en=spec["name_en"])
        session.add(template)
        session.flush()
    else:
        latest = latest_published(session, template.id)
        if latest is not None and _same_content(version_spec(session, latest), spec):
            return latest
        template.name_zh, template.name_en = spec["name_zh"], spec["name_en"]
    number = (
        session.exec(
            select(func.max(TemplateVersion.version)).where(TemplateVersion.template_id == template.id)
        ).one()
        or 0
    ) + 1
    version = TemplateVersion(
        template_id=template.id,
        version=number,
        status="published",
        note=spec.get("note", ""),
        published_at=utcnow(),
        published_by=actor_id,
    )
    session.add(version)
    session.flush()
    _write_content(session, version.id, spec)
    session.commit()
    return version


def _same_content(a: dict[str, Any], b: dict[str, Any]) -> bool:
    strip = lambda s: {k: v for k, v in s.items() if k != "note"}  # noqa: E731
    return strip(a) == strip(b)


def _write_content(session: Session, version_id: int, spec: dict[str, Any]) -> None:
    for s_pos, s in enumerate(spec["sections"]):
        section = TemplateSection(
            version_id=version_id, key=s["key"], position=s_pos, title_zh=s["title_zh"], title_en=s["title_en"]
        )
        session.add(section)
        session.flush()
        for i_pos, it in enumerate(s["items"]):
            session.add(
                TemplateItem(version_id=version_id, section_id=section.id, position=i_pos,
                             **{f: it.get(f) for f in ITEM_FIELDS if it.get(f) is not None})
            )


def import_yaml_file(session: Session, path: Path, actor_id: int | None = None) -> TemplateVersion:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise Invalid(_("Cannot read {path}: {why}").format(path=path, why=exc)) from exc
    return publish_spec(session, parse_yaml(text), actor_id)


def latest_published(session: Session, template_id: int) -> TemplateVersion | None:
    return session.exec(
        select(TemplateVersion)
        .where(TemplateVersion.template_id == template_id, TemplateVersion.status == "published")
        .order_by(TemplateVersion.version.desc())
    ).first()


def published_templates(session: Session) -> list[tuple[ChecklistTemplate, TemplateVersion]]:
    """Active templates with their newest published version: what an inspector can pick."""
    out = []
    for template in session.exec(
        select(ChecklistTemplate).where(ChecklistTemplate.is_active.is_(True)).order_by(ChecklistTemplate.id)
    ).all():
        version = latest_published(session, template.id)
        if version is not None:
            out.append((template, version))
    return out


def get_template(session: Session, template_id: int) -> tuple[ChecklistTemplate, TemplateVersion]:
    template = session.get(ChecklistTemplate, template_id)
    version = latest_published(session, template_id) if template else None
    if template is None or version is None:
        raise NotFound(_("No such checklist."))
    return template, version


def sections_of(session: Session, version_id: int) -> list[TemplateSection]:
    return list(
        session.exec(
            select(TemplateSection).where(TemplateSection.version_id == version_id).order_by(TemplateSection.position)
        ).all()
    )


def items_of(session: Session, version_id: int, section_id: int | None = None) -> list[TemplateItem]:
    query = select(TemplateItem).where(TemplateItem.version_id == version_id)
    if section_id is not None:
        query = query.where(TemplateItem.section_id == section_id)
    return list(session.exec(query.order_by(TemplateItem.position)).all())
