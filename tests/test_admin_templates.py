"""Checklist templates in administration: the editor on a draft, publishing, versions kept by
inspections in progress, and the Excel import/export with every refused spreadsheet."""

from __future__ import annotations

import io
import zipfile

import openpyxl
import pytest
from sqlmodel import func, select

from inspect_app import i18n
from inspect_app.domain import checklists, spreadsheet
from inspect_app.domain.errors import Invalid
from inspect_app.models import AuditLog, Inspection, TemplateItem, TemplateVersion
from tests.clients import csrf
from tests.factories import CHECKLIST_HEADER as HEADER
from tests.factories import CHECKLIST_ROW as GOOD_ROW
from tests.factories import checklist_workbook as workbook_bytes

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture
def admin_client(login_as):
    """An admin's browser, in English so that messages can be compared."""
    client, admin = login_as("admin")
    client.cookies.set("lang", "en")
    return client, admin


def versions_count(session) -> int:
    return session.exec(select(func.count()).select_from(TemplateVersion)).one()


def upload(client, data: bytes, filename="checklist.xlsx", **form):
    """As the plain form sends it: the CSRF token is a field before the file."""
    return client.post(
        "/admin/templates/import",
        files={"file": (filename, data, XLSX)},
        data={"csrftoken": csrf(client)["x-csrftoken"], **form},
        headers={"accept": "text/html"},
    )


# --- Excel round trip ----------------------------------------------------------------------------


def test_export_then_import_gives_the_same_template(admin_client, region, session):
    client, _admin = admin_client
    version = region["template_version"]
    original = checklists.version_spec(session, version)
    r = client.get(f"/admin/templates/{region['template_id']}/versions/{version.id}.xlsx")
    assert r.status_code == 200 and r.headers["content-type"] == XLSX
    assert checklists.parse_xlsx(r.content) == original

    # Through the browser: the import becomes a draft, publishing it a new version with the same content.
    r = upload(client, r.content)
    assert r.status_code == 200, r.text[:1500]
    draft = checklists.current_draft(session, region["template_id"])
    assert draft is not None and checklists.version_spec(session, draft) == original
    client.post(f"/admin/templates/{region['template_id']}/publish", headers=csrf(client))
    session.expire_all()
    newest = checklists.latest_published(session, region["template_id"])
    assert newest.version == 2 and checklists.version_spec(session, newest) == original


def test_every_item_field_survives_the_round_trip(session, region):
    rows = [
        GOOD_ROW,
        [
            "fire",
            "消防安全",
            "Fire",
            "F2",
            "压力值",
            "",
            "number",
            0.5,
            4,
            "MPa",
            None,
            "no",
            "general",
            "no",
            "",
            "",
        ],
        [
            "fire",
            "消防安全",
            "Fire",
            "F3",
            "类型",
            "",
            "choice",
            None,
            None,
            None,
            "干粉|二氧化碳|水基",
            "no",
            "general",
            "yes",
            "",
            "",
        ],
        [
            "other",
            "其他",
            "",
            "O1",
            "其他情况",
            "",
            "text",
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
        ],
    ]
    spec = checklists.parse_xlsx(
        workbook_bytes(rows, settings=["extinguishers", "灭火器检查", "Extinguishers"])
    )
    assert spec["key"] == "extinguishers" and [s["key"] for s in spec["sections"]] == [
        "fire",
        "other",
    ]
    f2 = spec["sections"][0]["items"][1]
    assert (f2["min_value"], f2["max_value"], f2["unit"], f2["required"]) == (0.5, 4, "MPa", False)
    assert spec["sections"][0]["items"][2]["choices"] == ["干粉", "二氧化碳", "水基"]
    assert spec["sections"][1]["items"][0]["required"] is True  # empty means yes
    version = checklists.publish_spec(session, spec)
    stored = checklists.version_spec(session, version)
    assert checklists.parse_xlsx(checklists.spec_to_xlsx(stored)) == stored


def test_an_import_without_settings_sheet_takes_the_name_from_the_form(
    admin_client, region, session
):
    client, _admin = admin_client
    r = upload(client, workbook_bytes([GOOD_ROW]), name_zh="新检查表", key="new-list")
    assert r.status_code == 200, r.text[:1500]
    template = next(t for t in checklists.all_templates(session) if t.key == "new-list")
    assert template.name_zh == "新检查表"
    r = upload(client, workbook_bytes([GOOD_ROW]))
    assert r.status_code == 422 and "The checklist has no name." in r.text


def test_yaml_import_still_works_in_the_browser(admin_client, region, session):
    client, _admin = admin_client
    text = "name: {zh: 小检查表}\nkey: small\nsections:\n  - key: a\n    title: 甲\n    items:\n      - {key: A1, zh: 第一项}\n"
    r = upload(client, text.encode(), filename="small.yaml")
    assert r.status_code == 200
    assert [t.key for t in checklists.all_templates(session)].count("small") == 1


# --- refused spreadsheets --------------------------------------------------------------------------


def refused(client, session, data: bytes, status: int, *expected: str, filename="checklist.xlsx"):
    before = versions_count(session)
    r = upload(client, data, filename=filename, name_zh="检查表")
    assert r.status_code == status, r.text[:2000]
    for text in expected:
        assert text in r.text, (text, r.text[:3000])
    assert versions_count(session) == before  # nothing imported
    return r


def test_missing_column_is_refused(admin_client, region, session):
    client, _admin = admin_client
    header = [h for h in HEADER if h != "prompt_zh"]
    row = [v for h, v in zip(HEADER, GOOD_ROW) if h != "prompt_zh"]
    refused(
        client,
        session,
        workbook_bytes([row], header=header),
        422,
        "Row 1: missing column(s): prompt_zh.",
    )


def test_every_bad_row_is_reported_at_once_with_its_row_number(admin_client, region, session):
    client, _admin = admin_client
    rows = [
        GOOD_ROW,
        ["fire", "消防安全", "Fire", "F1", "重复", "", "pass_fail"]
        + [None] * 9,  # row 3: duplicate key
        ["fire", "消防安全", "Fire", 42, "数字做键", "", "pass_fail"]
        + [None] * 9,  # row 4: number as text
        ["fire", "消防安全", "Fire", "F4", "类型错", "", "dropdown"]
        + [None] * 9,  # row 5: unknown type
        [
            "fire",
            "消防安全",
            "Fire",
            "F5",
            "等级错",
            "",
            "pass_fail",
            None,
            None,
            None,
            None,
            "maybe",
            "severe",
        ]
        + [None] * 3,  # row 6: photo, grade
        ["fire", "消防安全", "Fire", "F6", "限值", "", "number", "low", 3]
        + [None] * 7,  # row 7: min not a number
        ["fire", "消防安全", "Fire", "F7", "", "", "choice", None, None, None, "唯一"]
        + [None] * 5,  # row 8
    ]
    r = refused(
        client,
        session,
        workbook_bytes(rows),
        422,
        "Row 3: the key F1 is used again (first in row 2).",
        "Row 4: key must be text, not 42.",
        "Row 5: unknown type dropdown",
        "Row 6: photo must be yes or no.",
        "Row 6: unknown grade severe",
        "Row 7: min must be a number.",
        "Row 8: prompt_zh is empty.",
        "Row 8: a choice item needs at least two choices",
    )
    assert "nothing was imported" in r.text


def test_formulas_are_refused(admin_client, region, session):
    client, _admin = admin_client
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "checklist"
    ws.append(HEADER)
    ws.append(GOOD_ROW)
    ws.append(["fire", "消防安全", "", "F2", '=HYPERLINK("http://evil","x")', "", "pass_fail"])
    ws.append(["fire", "消防安全", "", "F3", "限值", "", "number", None, "=1+2"])
    out = io.BytesIO()
    wb.save(out)
    assert ws["E3"].data_type == "f"
    refused(
        client,
        session,
        out.getvalue(),
        422,
        "Row 3: prompt_zh holds a formula",
        "Row 4: max holds a formula",
    )


@pytest.fixture
def english():
    """Domain messages in English, for calls outside a request."""
    token = i18n.current_locale.set("en")
    yield
    i18n.current_locale.reset(token)


def test_a_text_cell_that_looks_like_a_formula_is_refused_too(english):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(HEADER)
    ws.append(GOOD_ROW[:4] + ["=cmd|' /C calc'!A0"] + GOOD_ROW[5:])
    ws["E2"].data_type = "s"
    out = io.BytesIO()
    wb.save(out)
    with pytest.raises(Invalid) as exc:
        checklists.parse_xlsx(out.getvalue(), name_zh="x")
    assert exc.value.errors == ["Row 2: prompt_zh holds a formula; type the value instead."]


def test_a_file_that_is_not_xlsx_is_refused(admin_client, region, session):
    client, _admin = admin_client
    refused(client, session, b"section,key\nfire,F1\n", 415, "not an Excel .xlsx file")
    plain_zip = io.BytesIO()
    with zipfile.ZipFile(plain_zip, "w") as z:
        z.writestr("readme.txt", "hello")
    refused(client, session, plain_zip.getvalue(), 415, "not an Excel .xlsx file")


def test_an_oversized_file_is_refused_while_reading(admin_client, region, session):
    client, _admin = admin_client
    big = b"PK" + b"\0" * spreadsheet.MAX_XLSX_BYTES
    refused(client, session, big, 413, "larger than 5 MB")


def test_a_zip_bomb_is_refused_before_it_is_opened(admin_client, region, session, monkeypatch):
    client, _admin = admin_client
    opened = []
    monkeypatch.setattr(spreadsheet.openpyxl, "load_workbook", lambda *a, **k: opened.append(1))
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("xl/workbook.xml", "<workbook/>")
        z.writestr("xl/worksheets/sheet1.xml", b"\0" * (spreadsheet.MAX_UNCOMPRESSED_BYTES + 1))
    assert len(bomb.getvalue()) < 200_000
    refused(client, session, bomb.getvalue(), 413, "expands to too much data")
    many = io.BytesIO()
    with zipfile.ZipFile(many, "w") as z:
        z.writestr("xl/workbook.xml", "<workbook/>")
        for n in range(spreadsheet.MAX_ZIP_ENTRIES + 1):
            z.writestr(f"xl/x{n}.xml", "")
    refused(client, session, many.getvalue(), 413, "expands to too much data")
    assert opened == []


def test_an_empty_sheet_is_refused(admin_client, region, session):
    client, _admin = admin_client
    refused(client, session, workbook_bytes([], header=[]), 422, "The sheet is empty.")
    refused(client, session, workbook_bytes([]), 422, "The checklist has no sections.")


# --- the editor and versions ---------------------------------------------------------------------


def item_form(**overrides):
    form = {
        "prompt_zh": "安全出口畅通",
        "prompt_en": "Exits clear",
        "response_type": "pass_fail",
        "default_grade": "major",
        "photo_required_on_fail": "1",
        "required": "1",
        "basis": "消防法",
        "guidance": "逐个查看",
        "key": "",
        "min_value": "",
        "max_value": "",
        "unit": "",
        "choices": "",
    }
    form.update(overrides)
    return form


def test_build_and_publish_a_template_in_the_editor(admin_client, region, session):
    client, admin = admin_client
    h = csrf(client)
    r = client.post(
        "/admin/templates",
        data={"name_zh": "消防专项检查", "name_en": "Fire check", "key": ""},
        headers=h,
        follow_redirects=False,
    )
    assert r.status_code == 303
    tid = int(r.headers["location"].rsplit("/", 1)[1])
    draft = checklists.current_draft(session, tid)
    assert draft.version == 1
    # An empty draft cannot be published.
    assert (
        client.post(
            f"/admin/templates/{tid}/publish", headers={**h, "accept": "text/html"}
        ).status_code
        == 422
    )
    client.post(
        f"/admin/templates/{tid}/sections",
        data={"title_zh": "疏散", "title_en": "Escape"},
        headers=h,
    )
    client.post(
        f"/admin/templates/{tid}/sections", data={"title_zh": "器材", "key": "gear"}, headers=h
    )
    sections = checklists.sections_of(session, draft.id)
    assert [(s.key, s.title_zh) for s in sections] == [("S1", "疏散"), ("gear", "器材")]
    r = client.post(
        f"/admin/templates/{tid}/sections/{sections[0].id}/items",
        data=item_form(),
        headers=h,
        follow_redirects=False,
    )
    assert r.status_code == 303
    client.post(
        f"/admin/templates/{tid}/sections/{sections[0].id}/items",
        data=item_form(prompt_zh="应急照明", default_grade="general", required=""),
        headers=h,
    )
    client.post(
        f"/admin/templates/{tid}/sections/{sections[1].id}/items",
        data=item_form(
            prompt_zh="灭火器压力",
            response_type="number",
            min_value="0.8",
            max_value="1.2",
            unit="MPa",
            photo_required_on_fail="",
        ),
        headers=h,
    )
    session.expire_all()
    first, second = checklists.items_of(session, draft.id, sections[0].id)
    assert (first.key, first.default_grade, first.photo_required_on_fail, first.required) == (
        "S1-1",
        "major",
        True,
        True,
    )
    assert (second.key, second.required) == ("S1-2", False)
    # Reorder: the second item up, the second section up.
    client.post(f"/admin/templates/{tid}/items/{second.id}/move", data={"step": "-1"}, headers=h)
    client.post(
        f"/admin/templates/{tid}/sections/{sections[1].id}/move", data={"step": "-1"}, headers=h
    )
    session.expire_all()
    assert [i.prompt_zh for i in checklists.items_of(session, draft.id, sections[0].id)] == [
        "应急照明",
        "安全出口畅通",
    ]
    assert [s.key for s in checklists.sections_of(session, draft.id)] == ["gear", "S1"]
    # Edit an item: every field.
    r = client.post(
        f"/admin/templates/{tid}/items/{first.id}",
        data=item_form(
            prompt_zh="出口",
            response_type="choice",
            choices="畅通\n堵塞",
            key="EXIT",
            default_grade="general",
            photo_required_on_fail="",
            guidance="g",
            basis="b",
        ),
        headers=h,
        follow_redirects=False,
    )
    assert r.status_code == 303
    session.expire_all()
    edited = session.get(TemplateItem, first.id)
    assert (
        edited.key,
        edited.response_type,
        edited.choices,
        edited.photo_required_on_fail,
        edited.guidance,
    ) == ("EXIT", "choice", ["畅通", "堵塞"], False, "g")
    page = client.get(f"/admin/templates/{tid}")
    assert "应急照明" in page.text and 'class="phone"' in page.text  # the phone preview
    r = client.post(f"/admin/templates/{tid}/publish", headers=h, follow_redirects=False)
    assert r.status_code == 303
    session.expire_all()
    published = session.get(TemplateVersion, draft.id)
    assert (published.status, published.published_by) == ("published", admin.id)
    assert published.published_at is not None
    api = client.get(f"/api/v1/templates/{tid}").json()
    assert api["version"] == 1 and [s["key"] for s in api["sections"]] == ["gear", "S1"]
    actions = [
        a.action for a in session.exec(select(AuditLog).where(AuditLog.object_id == tid)).all()
    ]
    assert actions[0] == "template.create" and actions[-1] == "template.publish"
    assert {
        "template.section.add",
        "template.item.add",
        "template.item.move",
        "template.item",
    } <= set(actions)


def test_item_form_problems_are_shown_by_field(admin_client, region, session):
    client, _admin = admin_client
    tid = region["template_id"]
    client.post(f"/admin/templates/{tid}/draft", headers=csrf(client))
    draft = checklists.current_draft(session, tid)
    section = checklists.sections_of(session, draft.id)[0]
    before = len(checklists.items_of(session, draft.id))
    r = client.post(
        f"/admin/templates/{tid}/sections/{section.id}/items",
        data=item_form(prompt_zh="", response_type="number", min_value="5", max_value="x"),
        headers={**csrf(client), "accept": "text/html"},
    )
    assert r.status_code == 422
    assert "A prompt in Chinese is required." in r.text and "A number, or nothing." in r.text
    r = client.post(
        f"/admin/templates/{tid}/sections/{section.id}/items",
        data=item_form(key="R2"),
        headers={**csrf(client), "accept": "text/html"},
    )
    assert r.status_code == 422 and "Item key missing or repeated: R2" in r.text
    assert len(checklists.items_of(session, draft.id)) == before


def test_htmx_gets_only_the_editor_back(admin_client, region):
    client, _admin = admin_client
    tid = region["template_id"]
    r = client.post(f"/admin/templates/{tid}/draft", headers={**csrf(client), "HX-Request": "true"})
    assert r.status_code == 200
    assert r.text.lstrip().startswith('<div id="editor"') and "<html" not in r.text
    # A refused action still swaps (200) and shows the problem.
    r = client.post(
        f"/admin/templates/{tid}/sections",
        data={"title_zh": ""},
        headers={**csrf(client), "HX-Request": "true"},
    )
    assert r.status_code == 200 and "Section S8 has no title." in r.text


def test_an_inspection_in_progress_keeps_its_version(admin_client, region, session, make_user):
    client, _admin = admin_client
    tid, old = region["template_id"], region["template_version"]
    inspector = make_user("inspector")
    inspection = Inspection(
        client_uuid="in-progress-1",
        template_version_id=old.id,
        site_id=region["sites"][0].id,
        inspector_id=inspector.id,
    )
    session.add(inspection)
    session.commit()
    old_spec = checklists.version_spec(session, old)

    h = csrf(client)
    client.post(f"/admin/templates/{tid}/draft", headers=h)
    draft = checklists.current_draft(session, tid)
    assert draft.id != old.id and draft.version == 2
    item = checklists.items_of(session, draft.id)[0]
    client.post(
        f"/admin/templates/{tid}/items/{item.id}",
        data=item_form(prompt_zh="新的说法", key=item.key),
        headers=h,
    )
    client.post(f"/admin/templates/{tid}/publish", headers=h)

    session.expire_all()
    assert session.get(Inspection, inspection.id).template_version_id == old.id
    assert checklists.version_spec(session, session.get(TemplateVersion, old.id)) == old_spec
    assert checklists.latest_published(session, tid).id == draft.id
    counts = {v.version: n for v, n in checklists.versions_of(session, tid)}
    assert counts == {2: 0, 1: 1}
    assert "1 inspections" in client.get(f"/admin/templates/{tid}?version={old.id}").text


def test_a_published_version_is_never_edited(admin_client, region, session):
    client, _admin = admin_client
    tid, old = region["template_id"], region["template_version"]
    item = checklists.items_of(session, old.id)[0]
    section = checklists.sections_of(session, old.id)[0]
    h = {**csrf(client), "accept": "text/html"}
    assert (
        client.post(
            f"/admin/templates/{tid}/items/{item.id}", data=item_form(), headers=h
        ).status_code
        == 409
    )
    assert (
        client.post(f"/admin/templates/{tid}/items/{item.id}/delete", headers=h).status_code == 409
    )
    assert (
        client.post(
            f"/admin/templates/{tid}/sections/{section.id}/move", data={"step": 1}, headers=h
        ).status_code
        == 409
    )
    assert client.post(f"/admin/templates/{tid}/publish", headers=h).status_code == 409
    assert client.get(f"/admin/templates/{tid}/items/{item.id}", headers=h).status_code == 409
    session.expire_all()
    assert session.get(TemplateItem, item.id).prompt_zh == item.prompt_zh


def test_items_of_another_template_are_not_found(admin_client, region, session):
    client, _admin = admin_client
    other = checklists.create_template(session, None, "", "另一个")
    item = checklists.items_of(session, region["template_version"].id)[0]
    r = client.post(
        f"/admin/templates/{other.id}/items/{item.id}/delete",
        headers={**csrf(client), "accept": "text/html"},
    )
    assert r.status_code == 404


def test_discarding_a_draft_leaves_the_published_version(admin_client, region, session):
    client, _admin = admin_client
    tid = region["template_id"]
    h = csrf(client)
    client.post(f"/admin/templates/{tid}/draft", headers=h)
    client.post(f"/admin/templates/{tid}/discard", headers=h)
    assert checklists.current_draft(session, tid) is None
    assert [v.version for v, _n in checklists.versions_of(session, tid)] == [1]


def test_a_yaml_import_while_a_draft_is_open_keeps_version_numbers_increasing(region, session):
    tid = region["template_id"]
    draft = checklists.start_draft(session, None, tid)
    spec = checklists.version_spec(session, region["template_version"])
    spec["sections"][0]["items"][0]["prompt_zh"] = "由 YAML 导入"
    imported = checklists.publish_spec(session, spec)
    assert imported.version == 3  # above the draft's 2
    published = checklists.publish_draft(session, None, tid)
    assert published.id == draft.id and published.version == 4
