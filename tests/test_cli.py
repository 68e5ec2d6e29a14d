"""The inspect-app command line, run as a user would (a subprocess with its own database)."""

import json
import os

import pytest

from tests.clients import run_cli as run
from tests.factories import DATA


@pytest.fixture
def cli_env(tmp_path):
    env = dict(os.environ)
    env.update(
        INSPECT_DATABASE_URL=f"sqlite:///{tmp_path / 'cli.db'}",
        INSPECT_UPLOAD_DIR=str(tmp_path / "up"),
    )
    return env


def test_messages_follow_lang(cli_env):
    out = run(
        {**cli_env, "LANG": "en_US.UTF-8"},
        "user",
        "add",
        "x",
        "--role",
        "officer",
        "--password-stdin",
        stdin="long-enough-pw\n",
    )
    assert "needs a district" in out.stderr


def test_help_lists_the_commands(cli_env):
    out = run(cli_env, "--help")
    assert out.returncode == 0
    for command in ("serve", "demo", "user", "template", "districts", "db"):
        assert command in out.stdout


def test_user_add_reads_the_password_from_stdin(cli_env):
    assert (
        run(cli_env, "districts", "import", str(DATA / "hengyang_districts.geojson")).returncode
        == 0
    )
    out = run(
        cli_env,
        "user",
        "add",
        "li",
        "--role",
        "officer",
        "--district",
        "蒸湘区",
        "--password-stdin",
        stdin="a-long-password\n",
    )
    assert out.returncode == 0, out.stderr
    assert "officer li" in out.stdout
    # The password works for the API.
    from fastapi.testclient import TestClient

    from inspect_app.config import Settings
    from inspect_app.main import create_app

    app = create_app(
        Settings(
            database_url=cli_env["INSPECT_DATABASE_URL"],
            upload_dir=cli_env["INSPECT_UPLOAD_DIR"],
            secret_key="x" * 32,
        )
    )
    with TestClient(app) as c:
        r = c.post("/api/v1/auth/token", data={"username": "li", "password": "a-long-password"})
        assert r.status_code == 200


@pytest.mark.parametrize(
    "args,stdin,message",
    [
        (["user", "add", "x", "--role", "officer", "--password-stdin"], "long-enough-pw\n", "区县"),
        (["user", "add", "x", "--role", "office", "--password-stdin"], "short\n", "8"),
        (
            ["user", "add", "x", "--role", "inspector", "--district", "火星区", "--password-stdin"],
            "long-enough-pw\n",
            "火星区",
        ),
        (["user", "add", "x", "--role", "office"], "", "--password-stdin"),
    ],
)
def test_user_add_errors_say_what_to_do(cli_env, args, stdin, message):
    out = run(cli_env, *args, stdin=stdin)
    assert out.returncode != 0
    assert message in out.stderr


def test_user_add_unknown_role_is_refused(cli_env):
    out = run(
        cli_env, "user", "add", "x", "--role", "mayor", "--password-stdin", stdin="long-enough-pw\n"
    )
    assert out.returncode != 0 and "invalid choice" in out.stderr


def test_template_import_is_idempotent_and_versions_changes(cli_env, tmp_path):
    first = run(cli_env, "template", "import", str(DATA / "routine-checklist.yaml"))
    assert first.returncode == 0 and "version 1" in first.stdout
    again = run(cli_env, "template", "import", str(DATA / "routine-checklist.yaml"))
    assert "version 1" in again.stdout  # same content: no new version
    changed = tmp_path / "changed.yaml"
    changed.write_text(
        (DATA / "routine-checklist.yaml")
        .read_text(encoding="utf-8")
        .replace("灭火器配置数量足够", "灭火器数量足够"),
        encoding="utf-8",
    )
    third = run(cli_env, "template", "import", str(changed))
    assert "version 2" in third.stdout


def test_template_import_reports_every_problem(cli_env, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "name: {zh: 坏表}\nsections:\n  - key: a\n    title: {zh: 甲}\n    items:\n"
        "      - {key: A1, zh: 一, type: dance}\n      - {key: A1, zh: 二, grade: huge}\n",
        encoding="utf-8",
    )
    out = run(cli_env, "template", "import", str(bad))
    assert out.returncode == 2
    assert "dance" in out.stderr and "A1" in out.stderr and "huge" in out.stderr
    assert run(cli_env, "template", "import", str(tmp_path / "missing.yaml")).returncode == 2


def test_districts_import_validates(cli_env, tmp_path):
    data = json.loads((DATA / "hengyang_districts.geojson").read_text(encoding="utf-8"))
    data["features"][1]["geometry"] = data["features"][0]["geometry"]  # two districts on one spot
    bad = tmp_path / "overlap.geojson"
    bad.write_text(json.dumps(data), encoding="utf-8")
    out = run(cli_env, "districts", "import", str(bad))
    assert out.returncode == 2 and "重叠" in out.stderr
    ok = run(cli_env, "districts", "import", str(DATA / "hengyang_districts.geojson"))
    assert ok.returncode == 0 and "12 added" in ok.stdout
