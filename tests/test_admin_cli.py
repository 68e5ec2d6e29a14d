"""The admin commands of inspect-app: checklists to and from .xlsx, sites from .xlsx."""

from __future__ import annotations

import os

import openpyxl
import pytest

from tests.clients import run_cli as run
from tests.factories import DATA
from tests.factories import sites_sheet as sheet


@pytest.fixture
def env(tmp_path) -> dict[str, str]:
    """The command line on its own database and upload folder, in English."""
    return {
        **os.environ,
        "INSPECT_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
        "INSPECT_UPLOAD_DIR": str(tmp_path / "up"),
        "LANG": "en_US.UTF-8",
    }


def test_template_export_then_import_round_trip(env, tmp_path):
    assert run(env, "template", "import", str(DATA / "routine-checklist.yaml")).returncode == 0
    out = run(env, "template", "export", "1", "-o", str(tmp_path / "c.xlsx"))
    assert out.returncode == 0, out.stderr
    rows = list(openpyxl.load_workbook(tmp_path / "c.xlsx", read_only=True)["checklist"].values)
    assert rows[0][:4] == ("section", "section_zh", "section_en", "key") and len(rows) == 28
    again = run(env, "template", "import", str(tmp_path / "c.xlsx"))
    assert again.returncode == 0 and "version 1" in again.stdout  # the same content: no new version


def test_a_bad_xlsx_lists_every_problem_and_exits_non_zero(env, tmp_path):
    wb = openpyxl.Workbook()
    wb.active.append(["section", "section_zh", "key", "prompt_zh", "type"])
    wb.active.append(["a", "甲", "A1", "", "pass_fail"])
    wb.active.append(["a", "甲", "A1", "x", "bad"])
    wb.save(tmp_path / "bad.xlsx")
    out = run(env, "template", "import", str(tmp_path / "bad.xlsx"))
    assert out.returncode == 2
    assert "Row 2: prompt_zh is empty." in out.stderr and "Row 3: unknown type bad" in out.stderr


def test_sites_import(env, tmp_path):
    assert run(env, "districts", "import", str(DATA / "hengyang_districts.geojson")).returncode == 0
    (tmp_path / "s.xlsx").write_bytes(sheet([["新厂", "", "蒸湘区", "A", 30, 26.8968, 112.5719]]))
    out = run(env, "sites", "import", str(tmp_path / "s.xlsx"))
    assert out.returncode == 0 and "1 added, 0 updated" in out.stdout
    out = run(env, "sites", "import", str(tmp_path / "missing.xlsx"))
    assert out.returncode == 2 and "Cannot read" in out.stderr
