"""Checklist templates: import from YAML or Excel, draft versions edited by an admin, publishing,
and reading a version with its items.

A published version is immutable; an inspection refers to the exact version it was filled against.
Editing happens on the template's one draft version, copied from the newest version when started.
Imports (YAML, .xlsx) and exports share one "spec" shape: {key, name_zh, name_en, note, sections}.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import func
from sqlmodel import Session, select

from inspect_app.domain import audit, spreadsheet
from inspect_app.domain.errors import Conflict, Invalid, NotFound
from inspect_app.domain.transactions import user_action
from inspect_app.i18n import _
from inspect_app.models import (
    ChecklistTemplate,
    Grade,
    Inspection,
    ResponseType,
    TemplateItem,
    TemplateSection,
    TemplateVersion,
    utcnow,
)

ITEM_FIELDS = (
    "key",
    "prompt_zh",
    "prompt_en",
    "guidance",
    "basis",
    "response_type",
    "choices",
    "min_value",
    "max_value",
    "unit",
    "photo_required_on_fail",
    "required",
    "default_grade",
)


# Bounds of an import, whatever its format: the columns' sizes, and counts a real checklist
# never reaches (a 370-byte YAML of nested aliases once expanded to a 6.5-million-character item).
MAX_YAML_CHARS = 1_000_000
MAX_SECTIONS = 200
MAX_ITEMS = 2_000
MAX_CHOICES = 100
LENGTHS = {
    "key": 64,
    "name_zh": 200,
    "name_en": 200,
    "note": 500,
    "title_zh": 200,
    "title_en": 200,
    "prompt_zh": 500,
    "prompt_en": 500,
    "guidance": 2000,
    "basis": 500,
    "unit": 20,
    "choice": 200,
}


class _NoAliasLoader(yaml.SafeLoader):
    """safe_load without aliases: a checklist never needs one, and nested aliases expand
    exponentially (the "billion laughs" of YAML)."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark
            raise yaml.composer.ComposerError(
                None, None, "aliases (*name) are not allowed in a checklist", mark
            )
        return super().compose_node(parent, index)


def _mappings(value: Any) -> list[dict[str, Any]]:
    """A list of mappings (sections, items), else Invalid."""
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise Invalid(_("The checklist's sections and items must be lists of entries."))
    return value


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:64] or "checklist"


def _localised(value: Any) -> tuple[str, str]:
    if isinstance(value, dict):
        return str(value.get("zh") or value.get("en") or ""), str(value.get("en") or "")
    return str(value or ""), ""


def parse_yaml(text: str) -> dict[str, Any]:
    """Turn the YAML checklist format into {key, name_zh, name_en, sections: [...]}, checked."""
    if len(text) > MAX_YAML_CHARS:
        raise Invalid(
            _("The YAML is longer than {n} characters; split the checklist.").format(
                n=MAX_YAML_CHARS
            )
        )
    try:
        data = yaml.load(text, Loader=_NoAliasLoader)  # a SafeLoader, without aliases
    except yaml.YAMLError as exc:
        raise Invalid(_("The YAML cannot be read: {why}").format(why=exc)) from exc
    except RecursionError as exc:  # nesting deeper than any checklist
        raise Invalid(_("The YAML is nested too deeply.")) from exc
    if not isinstance(data, dict) or not isinstance(data.get("sections"), list):
        raise Invalid(_("The checklist needs a name and a list of sections."))
    name_zh, name_en = _localised(data.get("name"))
    sections = []
    for s in _mappings(data["sections"]):
        title_zh, title_en = _localised(s.get("title"))
        items = []
        for it in _mappings(s.get("items")):
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
                    "required": not bool(it.get("optional", False))
                    and it.get("required", True) is not False,
                    "default_grade": str(it.get("grade", "general")),
                }
            )
        sections.append(
            {
                "key": str(s.get("key", "")),
                "title_zh": title_zh,
                "title_en": title_en,
                "items": items,
            }
        )
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
    problems += _too_long(spec, "")
    sections = spec.get("sections", [])
    if len(sections) > MAX_SECTIONS or sum(len(s.get("items", [])) for s in sections) > MAX_ITEMS:
        problems.append(
            _("More than {sections} sections or {items} items; split the checklist.").format(
                sections=MAX_SECTIONS, items=MAX_ITEMS
            )
        )
        sections = []
    for section in sections:
        problems += _too_long(section, section.get("key", ""))
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
            problems += _too_long(item, where)
            if not item.get("prompt_zh"):
                problems.append(_("Item {key} has no prompt.").format(key=where))
            if item.get("response_type") not in ResponseType.__members__:
                problems.append(
                    _("Item {key}: unknown type {type}.").format(
                        key=where, type=item.get("response_type")
                    )
                )
            if item.get("default_grade") not in Grade.__members__:
                problems.append(
                    _("Item {key}: unknown grade {grade}.").format(
                        key=where, grade=item.get("default_grade")
                    )
                )
            for bound in ("min_value", "max_value"):
                if item.get(bound) is not None and not isinstance(item[bound], (int, float)):
                    problems.append(_("Item {key}: limits must be numbers.").format(key=where))
            if item.get("response_type") == "choice" and not item.get("choices"):
                problems.append(_("Item {key}: a choice item needs choices.").format(key=where))
            choices = item.get("choices")
            if choices is not None and (
                not isinstance(choices, list)
                or len(choices) > MAX_CHOICES
                or not all(isinstance(c, str) and len(c) <= LENGTHS["choice"] for c in choices)
            ):
                problems.append(
                    _(
                        "Item {key}: choices must be at most {n} texts of at most {chars} characters."
                    ).format(key=where, n=MAX_CHOICES, chars=LENGTHS["choice"])
                )
    if problems:
        raise Invalid(_("The checklist has problems; nothing was imported."), errors=problems)


def _too_long(entry: dict[str, Any], where: str) -> list[str]:
    """A problem for each text of the entry longer than its column."""
    return [
        _("{where} {field} is longer than {n} characters.")
        .format(where=where, field=field, n=limit)
        .strip()
        for field, limit in LENGTHS.items()
        if isinstance(entry.get(field), str) and len(entry[field]) > limit
    ]


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


def publish_spec(
    session: Session, spec: dict[str, Any], actor_id: int | None = None
) -> TemplateVersion:
    """Store a spec as a new published version, unless it equals the newest one (idempotent)."""
    check_spec(spec)
    template, existed = _template_for(session, spec)
    if existed:
        latest = latest_published(session, template.id)
        if latest is not None and _same_content(version_spec(session, latest), spec):
            return latest
        template.name_zh, template.name_en = spec["name_zh"], spec["name_en"]
    number = (
        session.exec(
            select(func.max(TemplateVersion.version)).where(
                TemplateVersion.template_id == template.id
            )
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
    if actor_id is not None:
        audit.record(
            session,
            actor_id,
            "template.publish",
            "template",
            template.id,
            {"version": number, "source": "import"},
        )
    session.commit()
    return version


def _template_for(session: Session, spec: dict[str, Any]) -> tuple[ChecklistTemplate, bool]:
    """The template with the spec's key, created when new; True when it existed already."""
    template = session.exec(
        select(ChecklistTemplate).where(ChecklistTemplate.key == spec["key"])
    ).first()
    if template is not None:
        return template, True
    template = ChecklistTemplate(key=spec["key"], name_zh=spec["name_zh"], name_en=spec["name_en"])
    session.add(template)
    session.flush()
    return template, False


def _same_content(a: dict[str, Any], b: dict[str, Any]) -> bool:
    strip = lambda s: {k: v for k, v in s.items() if k != "note"}  # noqa: E731
    return strip(a) == strip(b)


def _write_content(session: Session, version_id: int, spec: dict[str, Any]) -> None:
    for s_pos, s in enumerate(spec["sections"]):
        section = TemplateSection(
            version_id=version_id,
            key=s["key"],
            position=s_pos,
            title_zh=s["title_zh"],
            title_en=s["title_en"],
        )
        session.add(section)
        session.flush()
        for i_pos, it in enumerate(s["items"]):
            session.add(
                TemplateItem(
                    version_id=version_id,
                    section_id=section.id,
                    position=i_pos,
                    **{f: it.get(f) for f in ITEM_FIELDS if it.get(f) is not None},
                )
            )


def import_yaml_file(session: Session, path: Path, actor_id: int | None = None) -> TemplateVersion:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise Invalid(_("Cannot read {path}: {why}").format(path=path, why=exc)) from exc
    return publish_spec(session, parse_yaml(text), actor_id)


def import_xlsx_file(session: Session, path: Path, actor_id: int | None = None) -> TemplateVersion:
    """The command line's .xlsx import: published at once, like a YAML import."""
    try:
        with Path(path).open("rb") as fh:
            data = spreadsheet.read_limited(fh)
    except OSError as exc:
        raise Invalid(_("Cannot read {path}: {why}").format(path=path, why=exc)) from exc
    return publish_spec(session, parse_xlsx(data), actor_id)


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
        select(ChecklistTemplate)
        .where(ChecklistTemplate.is_active.is_(True))
        .order_by(ChecklistTemplate.id)
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
            select(TemplateSection)
            .where(TemplateSection.version_id == version_id)
            .order_by(TemplateSection.position)
        ).all()
    )


def items_of(
    session: Session, version_id: int, section_id: int | None = None
) -> list[TemplateItem]:
    query = select(TemplateItem).where(TemplateItem.version_id == version_id)
    if section_id is not None:
        query = query.where(TemplateItem.section_id == section_id)
    return list(session.exec(query.order_by(TemplateItem.position)).all())


# Published versions never change, so their sections and items are read once per process (the
# answer save needs them on every request). The key holds the database and the version's
# timestamps: a database that reuses ids (a restore, emptied tables) never gets another's.
_PUBLISHED: dict[tuple, tuple[tuple[TemplateSection, ...], tuple[TemplateItem, ...]]] = {}
_PUBLISHED_MAX = 256


def structure(
    session: Session, version: TemplateVersion
) -> tuple[tuple[TemplateSection, ...], tuple[TemplateItem, ...]]:
    """The sections and items of a version in order (cached once published; read-only)."""
    if version.status != "published":
        return tuple(sections_of(session, version.id)), tuple(items_of(session, version.id))
    key = (str(session.get_bind().url), version.id, version.created_at, version.published_at)
    found = _PUBLISHED.get(key)
    if found is None:
        found = (tuple(sections_of(session, version.id)), tuple(items_of(session, version.id)))
        for obj in (*found[0], *found[1]):
            session.expunge(obj)  # shared between requests: no session may change them
        if len(_PUBLISHED) >= _PUBLISHED_MAX:
            _PUBLISHED.clear()
        _PUBLISHED[key] = found
    return found


# --- versions and the draft an admin edits ---------------------------------------------------


def versions_of(session: Session, template_id: int) -> list[tuple[TemplateVersion, int]]:
    """Every version of a template, newest first, with how many inspections use it."""
    counts = dict(
        session.exec(
            select(Inspection.template_version_id, func.count())
            .join(TemplateVersion, TemplateVersion.id == Inspection.template_version_id)
            .where(TemplateVersion.template_id == template_id)
            .group_by(Inspection.template_version_id)
        ).all()
    )
    versions = session.exec(
        select(TemplateVersion)
        .where(TemplateVersion.template_id == template_id)
        .order_by(TemplateVersion.version.desc())
    ).all()
    return [(v, counts.get(v.id, 0)) for v in versions]


def all_templates(session: Session) -> list[ChecklistTemplate]:
    return list(session.exec(select(ChecklistTemplate).order_by(ChecklistTemplate.id)).all())


def current_draft(session: Session, template_id: int) -> TemplateVersion | None:
    return session.exec(
        select(TemplateVersion).where(
            TemplateVersion.template_id == template_id, TemplateVersion.status == "draft"
        )
    ).first()


def template_by_id(session: Session, template_id: int) -> ChecklistTemplate:
    template = session.get(ChecklistTemplate, template_id)
    if template is None:
        raise NotFound(_("No such checklist."))
    return template


def _next_number(session: Session, template_id: int) -> int:
    top = session.exec(
        select(func.max(TemplateVersion.version)).where(TemplateVersion.template_id == template_id)
    ).one()
    return (top or 0) + 1


def create_template(
    session: Session, actor_id: int, key: str, name_zh: str, name_en: str = ""
) -> ChecklistTemplate:
    """A new template with an empty draft (version 1) to fill in the editor."""
    key, name_zh, name_en = _slug(key or name_en or name_zh), name_zh.strip(), name_en.strip()
    errors = {}
    if not name_zh:
        errors["name_zh"] = _("The checklist has no name.")
    if session.exec(select(ChecklistTemplate).where(ChecklistTemplate.key == key)).first():
        errors["key"] = _("The key {key} is taken.").format(key=key)
    if errors:
        raise Invalid(_("The checklist cannot be created."), errors=errors)
    template = ChecklistTemplate(key=key, name_zh=name_zh[:200], name_en=name_en[:200])
    session.add(template)
    session.flush()
    session.add(TemplateVersion(template_id=template.id, version=1, status="draft"))
    audit.record(
        session, actor_id, "template.create", "template", template.id, {"key": key, "name": name_zh}
    )
    session.commit()
    return template


@user_action
def start_draft(session: Session, actor_id: int, template_id: int) -> TemplateVersion:
    """The template's draft; a new one copied from the newest version when there is none."""
    template_by_id(session, template_id)
    draft = current_draft(session, template_id)
    if draft is not None:
        return draft
    newest = latest_published(session, template_id)
    draft = TemplateVersion(
        template_id=template_id, version=_next_number(session, template_id), status="draft"
    )
    session.add(draft)
    session.flush()
    if newest is not None:
        _write_content(session, draft.id, version_spec(session, newest))
    audit.record(
        session,
        actor_id,
        "template.draft",
        "template",
        template_id,
        {"version": draft.version, "from_version": newest.version if newest else None},
    )
    session.commit()
    return draft


def _clear_content(session: Session, version_id: int) -> None:
    for item in items_of(session, version_id):
        session.delete(item)
    session.flush()
    for section in sections_of(session, version_id):
        session.delete(section)
    session.flush()


@user_action
def discard_draft(session: Session, actor_id: int, template_id: int) -> None:
    draft = _editable(session, template_id)
    _clear_content(session, draft.id)
    session.delete(draft)
    audit.record(
        session, actor_id, "template.discard", "template", template_id, {"version": draft.version}
    )
    session.commit()


@user_action
def publish_draft(session: Session, actor_id: int, template_id: int) -> TemplateVersion:
    """The draft becomes the newest published version, immutable from now on."""
    draft = _editable(session, template_id)
    spec = version_spec(session, draft)
    check_spec(spec)
    empty = [s["title_zh"] for s in spec["sections"] if not s["items"]]
    if empty:
        raise Invalid(
            _("The checklist has problems; nothing was imported."),
            errors=[_("Section {key} has no items.").format(key=t) for t in empty],
        )
    top = _next_number(session, template_id) - 1
    if draft.version < top:  # a version was imported while this draft was open
        draft.version = top + 1
    draft.status, draft.published_at, draft.published_by = "published", utcnow(), actor_id
    session.add(draft)
    audit.record(
        session, actor_id, "template.publish", "template", template_id, {"version": draft.version}
    )
    session.commit()
    return draft


def _editable(session: Session, template_id: int) -> TemplateVersion:
    template_by_id(session, template_id)
    draft = current_draft(session, template_id)
    if draft is None:
        raise Conflict(
            _("There is no draft: start editing first. Published versions never change.")
        )
    return draft


def draft_part(session: Session, template_id: int, model, object_id: int):
    """A section or item of the template's draft; a published version's are a conflict, others unknown."""
    obj = session.get(model, object_id)
    version = session.get(TemplateVersion, obj.version_id) if obj else None
    if version is None or version.template_id != template_id:
        raise NotFound(_("No such checklist item."))
    if version.status != "draft":
        raise Conflict(
            _("There is no draft: start editing first. Published versions never change.")
        )
    return version, obj


def _unique_key(wanted: str, taken: set[str], prefix: str) -> str:
    key = wanted.strip()[:64]
    if key:
        return key
    n = len(taken) + 1
    while f"{prefix}{n}" in taken:
        n += 1
    return f"{prefix}{n}"


@user_action
def save_section(
    session: Session,
    actor_id: int,
    template_id: int,
    section_id: int | None,
    *,
    key: str,
    title_zh: str,
    title_en: str = "",
) -> TemplateSection:
    """Add a section to the draft (section_id None) or change one; an empty key is generated."""
    if section_id is None:
        draft, section = _editable(session, template_id), None
    else:
        draft, section = draft_part(session, template_id, TemplateSection, section_id)
    others = {
        s.key for s in sections_of(session, draft.id) if section is None or s.id != section.id
    }
    key = _unique_key(key, others, "S")
    errors = {}
    if key in others:
        errors["key"] = _("Section key missing or repeated: {key}").format(key=key)
    if not title_zh.strip():
        errors["title_zh"] = _("Section {key} has no title.").format(key=key)
    if errors:
        raise Invalid(_("The section cannot be saved."), errors=errors)
    if section is None:
        section = TemplateSection(version_id=draft.id, key=key, position=len(others), title_zh="")
    section.key, section.title_zh, section.title_en = (
        key,
        title_zh.strip()[:200],
        title_en.strip()[:200],
    )
    session.add(section)
    session.flush()
    audit.record(
        session,
        actor_id,
        "template.section" if section_id else "template.section.add",
        "template",
        template_id,
        {"version": draft.version, "section": key},
    )
    session.commit()
    return section


def item_fields_from_form(form: dict[str, Any]) -> dict[str, Any]:
    """The item fields of an editor form (strings, checkboxes present or not), checked.

    Errors name the field, so the form can show each next to its input.
    """
    errors: dict[str, str] = {}
    fields: dict[str, Any] = {
        "key": str(form.get("key") or "").strip()[:64],
        "prompt_zh": str(form.get("prompt_zh") or "").strip(),
        "prompt_en": str(form.get("prompt_en") or "").strip(),
        "guidance": str(form.get("guidance") or "").strip(),
        "basis": str(form.get("basis") or "").strip(),
        "response_type": str(form.get("response_type") or "pass_fail"),
        "unit": str(form.get("unit") or "").strip(),
        "photo_required_on_fail": bool(form.get("photo_required_on_fail")),
        "required": bool(form.get("required")),
        "default_grade": str(form.get("default_grade") or "general"),
    }
    for name, limit in (
        ("prompt_zh", 500),
        ("prompt_en", 500),
        ("guidance", 2000),
        ("basis", 500),
        ("unit", 20),
    ):
        if len(fields[name]) > limit:
            errors[name] = _("At most {n} characters.").format(n=limit)
    if not fields["prompt_zh"]:
        errors["prompt_zh"] = _("A prompt in Chinese is required.")
    if fields["response_type"] not in ResponseType.__members__:
        errors["response_type"] = _("Unknown response type.")
    if fields["default_grade"] not in Grade.__members__:
        errors["default_grade"] = _("Unknown grade.")
    for name in ("min_value", "max_value"):
        raw = str(form.get(name) or "").strip()
        try:
            fields[name] = float(raw) if raw else None
        except ValueError:
            fields[name] = None
            errors[name] = _("A number, or nothing.")
    if (
        fields["min_value"] is not None
        and fields["max_value"] is not None
        and fields["min_value"] > fields["max_value"]
    ):
        errors["max_value"] = _("The maximum is below the minimum.")
    choices = [c.strip() for c in re.split(r"[\n|]", str(form.get("choices") or "")) if c.strip()]
    fields["choices"] = choices or None
    if fields["response_type"] == "choice" and len(choices) < 2:
        errors["choices"] = _("A choice item needs at least two choices, one per line.")
    if errors:
        raise Invalid(_("The item cannot be saved."), errors=errors)
    return fields


@user_action
def save_item(
    session: Session,
    actor_id: int,
    template_id: int,
    item_id: int | None,
    fields: dict[str, Any],
    section_id: int | None = None,
) -> TemplateItem:
    """Add an item to a draft section (item_id None) or change one (fields from item_fields_from_form)."""
    if item_id is None:
        draft, section = draft_part(session, template_id, TemplateSection, section_id or 0)
        item = None
    else:
        draft, item = draft_part(session, template_id, TemplateItem, item_id)
        section = session.get(TemplateSection, item.section_id)
    others = {i.key for i in items_of(session, draft.id) if item is None or i.id != item.id}
    key = _unique_key(fields["key"], others, f"{section.key}-")
    if key in others:
        raise Invalid(
            _("The item cannot be saved."),
            errors={"key": _("Item key missing or repeated: {key}").format(key=key)},
        )
    if item is None:
        item = TemplateItem(
            version_id=draft.id,
            section_id=section.id,
            key=key,
            prompt_zh="",
            response_type="",
            position=len(items_of(session, draft.id, section.id)),
        )
    for name, value in {**fields, "key": key}.items():
        setattr(item, name, value)
    session.add(item)
    session.flush()
    audit.record(
        session,
        actor_id,
        "template.item" if item_id else "template.item.add",
        "template",
        template_id,
        {"version": draft.version, "item": key},
    )
    session.commit()
    return item


@user_action
def delete_part(
    session: Session, actor_id: int, template_id: int, kind: str, object_id: int
) -> None:
    """Remove an item, or a section with its items, from the draft."""
    model = TemplateSection if kind == "section" else TemplateItem
    draft, obj = draft_part(session, template_id, model, object_id)
    if kind == "section":
        for item in items_of(session, draft.id, obj.id):
            session.delete(item)
        session.flush()
        siblings = [s for s in sections_of(session, draft.id) if s.id != obj.id]
    else:
        siblings = [i for i in items_of(session, draft.id, obj.section_id) if i.id != obj.id]
    session.delete(obj)
    for position, sibling in enumerate(siblings):
        sibling.position = position
        session.add(sibling)
    audit.record(
        session,
        actor_id,
        f"template.{kind}.delete",
        "template",
        template_id,
        {"version": draft.version, kind: obj.key},
    )
    session.commit()


@user_action
def move_part(
    session: Session, actor_id: int, template_id: int, kind: str, object_id: int, step: int
) -> None:
    """Move an item within its section, or a section, one place up (step -1) or down (+1)."""
    model = TemplateSection if kind == "section" else TemplateItem
    draft, obj = draft_part(session, template_id, model, object_id)
    siblings = (
        sections_of(session, draft.id)
        if kind == "section"
        else items_of(session, draft.id, obj.section_id)
    )
    index = next(n for n, s in enumerate(siblings) if s.id == obj.id)
    target = index + (1 if step > 0 else -1)
    if not 0 <= target < len(siblings):
        return
    siblings[index], siblings[target] = siblings[target], siblings[index]
    for position, sibling in enumerate(siblings):
        sibling.position = position
        session.add(sibling)
    audit.record(
        session,
        actor_id,
        f"template.{kind}.move",
        "template",
        template_id,
        {"version": draft.version, kind: obj.key, "to": target + 1},
    )
    session.commit()


# --- Excel import and export -------------------------------------------------------------------
# One sheet "checklist", one row per item (the XLSForm idea: a row per question); the section's
# key and titles repeat on each of its rows. An optional sheet "settings" holds the template's
# key and names, so that an exported file imports back to the same template.

XLSX_COLUMNS = (
    "section",
    "section_zh",
    "section_en",
    "key",
    "prompt_zh",
    "prompt_en",
    "type",
    "min",
    "max",
    "unit",
    "choices",
    "photo",
    "grade",
    "required",
    "basis",
    "guidance",
)
XLSX_REQUIRED = ("section", "section_zh", "key", "prompt_zh", "type")
SETTINGS_COLUMNS = ("key", "name_zh", "name_en", "note")


def spec_to_xlsx(spec: dict[str, Any]) -> bytes:
    rows = [
        [
            s["key"],
            s["title_zh"],
            s["title_en"],
            it["key"],
            it["prompt_zh"],
            it["prompt_en"],
            it["response_type"],
            it["min_value"],
            it["max_value"],
            it["unit"],
            "|".join(it["choices"] or []),
            "yes" if it["photo_required_on_fail"] else "no",
            it["default_grade"],
            "yes" if it["required"] else "no",
            it["basis"],
            it["guidance"],
        ]
        for s in spec["sections"]
        for it in s["items"]
    ]
    settings = [[spec["key"], spec["name_zh"], spec["name_en"], spec.get("note", "")]]
    return spreadsheet.write_workbook(
        [("checklist", XLSX_COLUMNS, rows), ("settings", SETTINGS_COLUMNS, settings)]
    )


def parse_xlsx(data: bytes, key: str = "", name_zh: str = "", name_en: str = "") -> dict[str, Any]:
    """An .xlsx checklist as a spec. Every problem of every row is reported at once, with row numbers.

    key and names come from the "settings" sheet, else from the arguments (the upload form).
    """
    workbook = spreadsheet.open_workbook(data)
    problems: list[str] = []
    note = ""
    try:
        if "settings" in workbook.sheetnames:
            for row in spreadsheet.read_table(
                workbook, SETTINGS_COLUMNS, ("key",), problems, sheet="settings"
            )[:1]:
                key = row.text("key", max_length=64) or key
                name_zh = row.text("name_zh", max_length=200) or name_zh
                name_en = row.text("name_en", max_length=200) or name_en
                note = row.text("note")
        rows = spreadsheet.read_table(
            workbook, XLSX_COLUMNS, XLSX_REQUIRED, problems, sheet="checklist"
        )
    finally:
        workbook.close()
    sections: dict[str, dict[str, Any]] = {}
    first_row: dict[str, int] = {}
    for row in rows:
        skey = row.text("section", required=True, max_length=64)
        section = sections.setdefault(
            skey, {"key": skey, "title_zh": "", "title_en": "", "items": []}
        )
        for field, column in (("title_zh", "section_zh"), ("title_en", "section_en")):
            title = row.text(column, max_length=200)
            if title and section[field] and title != section[field]:
                row.problem(
                    _("section {key} has another title above ({title}).").format(
                        key=skey, title=section[field]
                    )
                )
            section[field] = section[field] or title
        key_ = row.text("key", required=True, max_length=64)
        if key_ in first_row:
            row.problem(
                _("the key {key} is used again (first in row {row}).").format(
                    key=key_, row=first_row[key_]
                )
            )
        first_row.setdefault(key_, row.number)
        response_type = row.text("type", required=True, max_length=16)
        if response_type and response_type not in ResponseType.__members__:
            row.problem(
                _("unknown type {type}; use one of {types}.").format(
                    type=response_type, types=", ".join(ResponseType.__members__)
                )
            )
        grade = row.text("grade", max_length=10) or "general"
        if grade not in Grade.__members__:
            row.problem(_("unknown grade {grade}; use general or major.").format(grade=grade))
        low, high = row.numeric("min"), row.numeric("max")
        if low is not None and high is not None and low > high:
            row.problem(_("min is above max."))
        choices = [c.strip() for c in row.text("choices", max_length=2000).split("|") if c.strip()]
        if response_type == "choice" and len(choices) < 2:
            row.problem(_("a choice item needs at least two choices, separated by |."))
        section["items"].append(
            {
                "key": key_,
                "prompt_zh": row.text("prompt_zh", required=True),
                "prompt_en": row.text("prompt_en"),
                "guidance": row.text("guidance", max_length=2000),
                "basis": row.text("basis"),
                "response_type": response_type,
                "choices": choices or None,
                "min_value": low,
                "max_value": high,
                "unit": row.text("unit", max_length=20),
                "photo_required_on_fail": row.flag("photo", False),
                "required": row.flag("required", True),
                "default_grade": grade,
            }
        )
    for section in sections.values():
        if section["key"] and not section["title_zh"]:
            problems.append(_("Section {key} has no title.").format(key=section["key"]))
    if not name_zh:
        problems.append(_("The checklist has no name."))
    if not rows and not problems:
        problems.append(_("The checklist has no sections."))
    if problems:
        raise Invalid(_("The spreadsheet has problems; nothing was imported."), errors=problems)
    spec = {
        "key": _slug(key or name_en or name_zh),
        "name_zh": name_zh,
        "name_en": name_en,
        "note": note,
        "sections": list(sections.values()),
    }
    check_spec(spec)
    return spec


@user_action
def save_spec_as_draft(session: Session, spec: dict[str, Any], actor_id: int) -> TemplateVersion:
    """An imported spec becomes the template's draft (replacing an open one), to preview and publish."""
    check_spec(spec)
    template, _existed = _template_for(session, spec)
    template.name_zh, template.name_en = spec["name_zh"], spec["name_en"]
    draft = current_draft(session, template.id)
    if draft is None:
        draft = TemplateVersion(
            template_id=template.id, version=_next_number(session, template.id), status="draft"
        )
        session.add(draft)
        session.flush()
    else:
        _clear_content(session, draft.id)
    draft.note = spec.get("note", "")[:500]
    _write_content(session, draft.id, spec)
    audit.record(
        session,
        actor_id,
        "template.import",
        "template",
        template.id,
        {"version": draft.version, "items": sum(len(s["items"]) for s in spec["sections"])},
    )
    session.commit()
    return draft
